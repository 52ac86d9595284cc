import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { lastValueFrom, toArray } from 'rxjs';
import { InvalidArgumentError } from '../../src/errors.js';
import { IndexPermutation } from '../../src/indexPermutation.js';
import { shuffleQuality } from '../../src/testing/shuffleQuality.js';
import { fromItems } from '../../sources/core/fromItems.js';
import { shuffleBuffer } from '../../operators/shuffleBuffer.js';

function orderOf(permutation: IndexPermutation): number[] {
  return Array.from({ length: permutation.size }, (_, position) => permutation.at(position));
}

function isPermutation(order: readonly number[]): boolean {
  const sorted = [...order].sort((a, b) => a - b);
  return sorted.every((index, position) => index === position);
}

describe('IndexPermutation (issue 11: the global shuffle)', () => {
  it('issue 11: is a permutation of [0, N) for many (N, seed, epoch), including N around powers of two', () => {
    const sizes = [0, 1, 2, 3, 4, 5, 7, 8, 9, 15, 16, 17, 31, 33, 100, 127, 128, 129, 1000, 1023, 1024, 1025, 4097, 65_537];
    for (const size of sizes) {
      for (const seed of [0, 1, -7, 2 ** 40 + 3]) {
        for (const epoch of [0, 1, 5]) {
          const order = orderOf(new IndexPermutation(size, seed, epoch));
          assert.equal(order.length, size);
          assert.ok(isPermutation(order), `N=${size} seed=${seed} epoch=${epoch}`);
        }
      }
    }
  });

  it('issue 11: the same (seed, epoch) gives the same order; another epoch or seed another one', () => {
    const a = orderOf(new IndexPermutation(1000, 42, 3));
    assert.deepEqual(orderOf(new IndexPermutation(1000, 42, 3)), a);
    assert.notDeepEqual(orderOf(new IndexPermutation(1000, 42, 4)), a);
    assert.notDeepEqual(orderOf(new IndexPermutation(1000, 43, 3)), a);
    // Every epoch of 20 differs from every other (no two epochs share an order).
    const epochs = Array.from({ length: 20 }, (_, epoch) => orderOf(new IndexPermutation(200, 9, epoch)).join(','));
    assert.equal(new Set(epochs).size, 20);
  });

  it('issue 11: maps positions of a 2^53-element domain without materialising it, distinct and in range', () => {
    const size = 2 ** 53;
    const permutation = new IndexPermutation(size, 5, 0);
    const seen = new Set<number>();
    for (const position of [0, 1, 2, 3, size - 1, size - 2, 2 ** 52, 123_456_789_012]) {
      const index = permutation.at(position);
      assert.ok(Number.isSafeInteger(index) && index >= 0 && index < size, `at(${position}) = ${index}`);
      seen.add(index);
    }
    for (let position = 1000; position < 11_000; position++) seen.add(permutation.at(position));
    assert.equal(seen.size, 8 + 10_000);
    const billion = new IndexPermutation(1e9, 5, 0);
    const indices = new Set(Array.from({ length: 10_000 }, (_, p) => billion.at(p * 99_991)));
    assert.equal(indices.size, 10_000);
    assert.ok([...indices].every((index) => index < 1e9));
  });

  it('issue 11: rejects sizes, seeds and epochs out of range', () => {
    assert.throws(() => new IndexPermutation(-1, 0), InvalidArgumentError);
    assert.throws(() => new IndexPermutation(2 ** 53 + 2, 0), InvalidArgumentError);
    assert.throws(() => new IndexPermutation(1.5, 0), InvalidArgumentError);
    assert.throws(() => new IndexPermutation(10, 0.5), InvalidArgumentError);
    assert.throws(() => new IndexPermutation(10, 0, -1), InvalidArgumentError);
    // A position outside the domain could walk forever: it is refused.
    for (const position of [-1, 10, 11, 1.5, Number.NaN, 2 ** 40])
      assert.throws(() => new IndexPermutation(10, 0).at(position), InvalidArgumentError);
    assert.throws(() => new IndexPermutation(2 ** 40, 0).at(2 ** 40), InvalidArgumentError);
  });

  it('issue 11: matches a uniform shuffle (KS on displacements at alpha 0.001, |correlation| < 4/sqrt(N)) where shuffleBuffer does not', async () => {
    const size = 10_000;
    for (let seed = 0; seed < 10; seed++) {
      const quality = shuffleQuality(orderOf(new IndexPermutation(size, seed, seed % 3)));
      assert.ok(quality.displacementKs < quality.ksCritical, `seed ${seed}: KS ${quality.displacementKs} >= ${quality.ksCritical}`);
      assert.ok(Math.abs(quality.correlation) < 4 / Math.sqrt(size), `seed ${seed}: correlation ${quality.correlation}`);
    }
    // The reservoir shuffle with a 1,000-item buffer moves an item at most about that far back.
    const buffered = await lastValueFrom(
      fromItems(Array.from({ length: size }, (_, i) => i)).pipe(shuffleBuffer(1000, { seed: 1 }), toArray()),
    );
    const quality = shuffleQuality(buffered);
    assert.ok(quality.displacementKs > 10 * quality.ksCritical, `shuffleBuffer KS ${quality.displacementKs}`);
    assert.ok(quality.correlation > 0.9, `shuffleBuffer correlation ${quality.correlation}`);
  });
});
