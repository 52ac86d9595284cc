import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { InvalidArgumentError } from '../../src/errors.js';
import { permutation } from '../../src/random.js';
import { shuffleQuality } from '../../src/testing/shuffleQuality.js';

describe('shuffleQuality (issue 11)', () => {
  it('issue 11: gives correlation 1 and the largest KS distance to the identity, -1 to the reversal', () => {
    const identity = shuffleQuality(Array.from({ length: 1000 }, (_, i) => i));
    assert.ok(Math.abs(identity.correlation - 1) < 1e-12);
    // All displacements are 0, where a uniform shuffle puts 1/N of them: the CDFs differ by 1 - 1/N.
    assert.ok(Math.abs(identity.displacementKs - (1 - 1 / 1000)) < 1e-12);
    const reversed = shuffleQuality(Array.from({ length: 1000 }, (_, i) => 999 - i));
    assert.ok(Math.abs(reversed.correlation + 1) < 1e-12);
  });

  it('issue 11: a Fisher-Yates shuffle passes its own thresholds', () => {
    for (let seed = 0; seed < 5; seed++) {
      const quality = shuffleQuality(permutation(20_000, seed));
      assert.ok(quality.displacementKs < quality.ksCritical, `KS ${quality.displacementKs}`);
      assert.ok(Math.abs(quality.meanDisplacement - (20_000 ** 2 - 1) / (3 * 20_000)) < 200);
    }
  });

  it('issue 11: rejects what is not a permutation', () => {
    assert.throws(() => shuffleQuality([0, 0, 1]), InvalidArgumentError);
    assert.throws(() => shuffleQuality([0]), InvalidArgumentError);
  });
});
