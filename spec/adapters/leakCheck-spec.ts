import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { leakCheck } from '../../src/testing/leakCheck.js';

describe('leakCheck', () => {
  it('returns what the function returned when every tensor was disposed', async () => {
    await tf.setBackend('cpu');
    const sum = await leakCheck(tf, () => tf.tidy(() => tf.sum(tf.tensor([1, 2, 3])).arraySync()));
    assert.equal(sum, 6);
  });

  it('fails naming how many tensors leaked', async () => {
    let leaked: tf.Tensor | undefined;
    await assert.rejects(
      leakCheck(tf, async () => {
        leaked = tf.tensor([1]);
      }),
      (error: unknown) => {
        assert.ok(error instanceof assert.AssertionError);
        assert.match(error.message, /^leakCheck: 1 tensor\(s\) leaked \(numTensors \d+ before, \d+ after\)/);
        return true;
      },
    );
    leaked!.dispose();
  });

  it("lets the function's own error through unchanged", async () => {
    await assert.rejects(
      leakCheck(tf, () => Promise.reject(new Error('boom'))),
      /^Error: boom$/,
    );
  });
});
