/**
 * The headline check of every random-access dataset (issue 11): read every index in a seeded
 * random order, `batch` indices per read, and put the answers back in index order, to compare
 * with what the sequential source emits.
 */
import assert from 'node:assert/strict';
import { permutation } from '../../src/random.js';
import type { RandomAccess } from '../../sources/core/randomAccess.js';

/** Every element of `dataset`, read in the order of `permutation(size, seed)`, put back in index order. */
export async function readShuffled<T>(
  dataset: Pick<RandomAccess<T>, 'size' | 'read'>,
  seed: number,
  batch: number = dataset.size,
): Promise<T[]> {
  const order = permutation(dataset.size, seed);
  const byIndex = new Array<T>(dataset.size);
  for (let start = 0; start < order.length; start += batch) {
    const indices = Array.from(order.subarray(start, start + batch));
    const items = await dataset.read(indices);
    assert.equal(items.length, indices.length);
    indices.forEach((index, k) => (byIndex[index] = items[k]!));
  }
  return byIndex;
}
