import { InvalidArgumentError } from '../../src/errors.js';
import { describe } from '../../src/excerpt.js';
import { checkIndices, DatasetClosedError, type RandomAccess } from './randomAccess.js';

/**
 * Some elements of a dataset as a dataset of their own (PyTorch's `Subset`): element `i` of the
 * subset is element `indices[i]` (or `start + i` for a range) of `dataset`.
 *
 * Samplers then work on the subset: `globalShuffle` over a subset shuffles only its elements.
 * The index list is copied (8 bytes per element); a range holds nothing. The subset has no
 * layout, except a range, which keeps the shards it overlaps. The subset does not own `dataset`
 * (a training and a validation subset share one): its `close()` closes only the subset.
 *
 * @example
 * ```ts
 * import { subsetDataset, type RandomAccess } from 'rxfeed';
 * declare const dataset: RandomAccess<Uint8Array>;
 * const validation = subsetDataset(dataset, { start: 0, end: 10_000 });
 * const picked = subsetDataset(dataset, [5, 17, 23]);
 * ```
 *
 * @param dataset - The whole dataset.
 * @param selection - Dataset indices (repeats allowed), or a range `[start, end)`.
 * @throws {@link InvalidArgumentError} when an index or the range is outside `[0, dataset.size)`.
 * @public
 */
export function subsetDataset<T>(
  dataset: RandomAccess<T>,
  selection: readonly number[] | { readonly start: number; readonly end: number },
): RandomAccess<T> {
  let closed = false;
  const close = (): void => {
    closed = true;
  };
  const check = (asked: readonly number[], size: number): void => {
    if (closed) throw new DatasetClosedError('subsetDataset.read');
    checkIndices(asked, size, 'subsetDataset.read');
  };
  if (Array.isArray(selection)) {
    checkIndices(selection, dataset.size, 'subsetDataset.selection');
    const indices = Float64Array.from(selection);
    return {
      size: indices.length,
      read: (asked, signal) => {
        check(asked, indices.length);
        return dataset.read(
          asked.map((index) => indices[index]!),
          signal,
        );
      },
      close,
    };
  }
  const { start, end } = (selection ?? {}) as { start?: unknown; end?: unknown };
  if (
    !Number.isSafeInteger(start) ||
    !Number.isSafeInteger(end) ||
    (start as number) < 0 ||
    (start as number) > (end as number) ||
    (end as number) > dataset.size
  ) {
    throw new InvalidArgumentError(
      'subsetDataset.selection',
      `[${describe(start)}, ${describe(end)}) is not a range of [0, ${dataset.size})`,
    );
  }
  const from = start as number;
  const size = (end as number) - from;
  const shardEnds = dataset.layout?.shardEnds.map((shardEnd) => Math.min(Math.max(shardEnd - from, 0), size));
  // Shards left with no element of the range are dropped (a layout's shards are not empty by need,
  // but a block shuffle over empty shards would only waste blocks).
  const kept = shardEnds
    ?.map((shardEnd, shard) => ({ shardEnd, name: dataset.layout?.shardNames?.[shard], before: shard === 0 ? 0 : shardEnds[shard - 1]! }))
    .filter((entry) => entry.shardEnd > entry.before);
  return {
    size,
    layout:
      kept === undefined
        ? undefined
        : {
            shardEnds: kept.map((entry) => entry.shardEnd),
            shardNames: dataset.layout?.shardNames === undefined ? undefined : kept.map((entry) => entry.name!),
          },
    read: (asked, signal) => {
      check(asked, size);
      return dataset.read(
        asked.map((index) => from + index),
        signal,
      );
    },
    close,
  };
}
