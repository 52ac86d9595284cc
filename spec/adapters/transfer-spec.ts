import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MessageChannel } from 'node:worker_threads';
import { prepareTransfer } from '../../src/adapters/transfer.js';

/** Post through a real MessageChannel with the prepared transfer list, and receive. */
async function roundTrip<T>(value: T): Promise<{ sent: T; received: T }> {
  const { value: sent, transferList } = prepareTransfer(value);
  const { port1, port2 } = new MessageChannel();
  try {
    const received = new Promise<T>((resolve) => port2.once('message', resolve));
    port1.postMessage(sent, transferList);
    return { sent, received: await received };
  } finally {
    port1.close();
    port2.close();
  }
}

describe('prepareTransfer', () => {
  it('moves buffers that views own, in nested plain objects and arrays, leaving them detached', async () => {
    const image = Float32Array.of(1.5, 2.5);
    const raw = new ArrayBuffer(3);
    const value = { image, nested: [{ raw }], label: 3, name: 'x' };
    const { sent, received } = await roundTrip(value);
    assert.equal(sent, value, 'nothing needed a copy: the same object is posted');
    assert.deepEqual([...received.image], [1.5, 2.5]);
    assert.equal(received.nested[0]!.raw.byteLength, 3);
    assert.equal(image.byteLength, 0);
    assert.equal(raw.byteLength, 0);
  });

  it('copies pooled Buffers and slices into arrays of their own, keeping the element type', async () => {
    const pooled = Buffer.from('hello');
    const backing = new Int16Array([1, 2, 3, 4]);
    const slice = backing.subarray(1, 3);
    const value = { pooled, slice };
    const { sent, received } = await roundTrip(value);
    assert.notEqual(sent, value, 'the container is copied, not mutated');
    assert.equal(value.pooled, pooled);
    assert.equal(new TextDecoder().decode(received.pooled), 'hello');
    assert.ok(received.slice instanceof Int16Array);
    assert.deepEqual([...received.slice], [2, 3]);
    assert.deepEqual([...backing], [1, 2, 3, 4], 'the sender keeps its arrays');
    assert.equal(pooled.toString(), 'hello');
  });

  it('lists a buffer shared by two views once, and leaves class instances and SharedArrayBuffers alone', () => {
    const buffer = new ArrayBuffer(8);
    const shared = new Uint8Array(new SharedArrayBuffer(4));
    const date = new Date(0);
    const { transferList } = prepareTransfer([buffer, buffer, shared, date]);
    assert.deepEqual(transferList, [buffer]);
  });
});
