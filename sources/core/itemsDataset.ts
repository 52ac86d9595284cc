import { InvalidArgumentError } from '../../src/errors.js';
import { describe } from '../../src/excerpt.js';
import { checkIndices, DatasetClosedError, type RandomAccess } from './randomAccess.js';

/**
 * An array as a {@link RandomAccess} dataset: the random-access twin of `fromItems(array)`.
 *
 * The array is not copied: later changes to it show (its length must not change). Reads answer
 * synchronously; `close()` only marks the dataset closed.
 *
 * @example
 * ```ts
 * import { fromRandomAccess, globalShuffle, itemsDataset } from 'rxfeed';
 * declare const samples: { image: Float32Array; label: number }[];
 * const dataset = itemsDataset(samples);
 * const shuffled = fromRandomAccess(dataset, { sampler: globalShuffle({ seed: 3 }) });
 * ```
 *
 * @param items - The elements, in index order.
 * @returns A dataset of `items.length` elements.
 * @throws {@link InvalidArgumentError} when `items` is not an array.
 * @public
 */
export function itemsDataset<T>(items: readonly T[]): RandomAccess<T> {
  if (!Array.isArray(items)) throw new InvalidArgumentError('itemsDataset.items', `expected an array, got ${describe(items)}`);
  const size = items.length;
  let closed = false;
  return {
    size,
    read: (indices) => {
      if (closed) throw new DatasetClosedError('itemsDataset.read');
      checkIndices(indices, size, 'itemsDataset.read');
      return indices.map((index) => items[index]!);
    },
    close: () => {
      closed = true;
    },
  };
}
