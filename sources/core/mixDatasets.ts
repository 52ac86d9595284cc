import { disposeAll } from '../../src/dispose.js';
import { InvalidArgumentError } from '../../src/errors.js';
import { describe } from '../../src/excerpt.js';
import { IndexPermutation } from '../../src/indexPermutation.js';
import { isPromiseLike } from '../../src/isPromiseLike.js';
import { checkIndices, DatasetClosedError, type RandomAccess } from './randomAccess.js';

/** Options of {@link mixDatasets}. */
export interface MixDatasetsOptions {
  /** Relative weights, one per dataset, positive (they need not sum to 1). */
  readonly weights: readonly number[];
  /**
   * Elements of the mix. Default: the largest size at which no dataset repeats an element, the
   * smallest `dataset.size / share` over the datasets (Grain's mix stops at the first exhausted).
   * A larger size makes the datasets whose share exceeds their size repeat elements (oversampling).
   */
  readonly size?: number;
  /** Chooses which elements stand for a dataset whose share is smaller than it (default 0). */
  readonly seed?: number;
}

/**
 * A weighted, deterministic mix of datasets by index, as one dataset.
 *
 * Dataset `j` gets a share `n_j` of the mix's `size` elements in proportion to its weight
 * (largest remainders, so the shares sum to `size` exactly). Its `t`-th element of the mix is its
 * element `p_j(t mod size_j)`, where `p_j` is a seeded permutation of its indices: with
 * `n_j <= size_j` that is a sample of `n_j` distinct elements; beyond, every element appears
 * `floor(n_j / size_j)` or one more times. The mix lays the shares out one after the other (its
 * layout has one shard per dataset), so read it with `globalShuffle` to interleave them at
 * random, or with `blockShuffle` over the datasets' shares.
 *
 * The chosen sample of a dataset is fixed by `seed`, the same in every epoch: for a new sample
 * per epoch, build the mix with a seed derived from the epoch. The mix does not own the
 * datasets: its `close()` closes only the mix.
 *
 * @example
 * ```ts
 * import { fromRandomAccess, globalShuffle, mixDatasets } from 'rxfeed';
 * import { itemsDataset } from 'rxfeed';
 * const web = itemsDataset(['a web page', 'another']);
 * const books = itemsDataset(['a book']);
 * const mixed = mixDatasets([web, books], { weights: [0.7, 0.3] });
 * fromRandomAccess(mixed, { sampler: globalShuffle({ seed: 1 }) });
 * ```
 *
 * @param datasets - The datasets, at least one, none empty.
 * @param options - See {@link MixDatasetsOptions}.
 * @throws {@link InvalidArgumentError} for a malformed weight or size.
 * @public
 */
export function mixDatasets<T>(datasets: readonly RandomAccess<T>[], options: MixDatasetsOptions): RandomAccess<T> {
  if (!Array.isArray(datasets) || datasets.length === 0) {
    throw new InvalidArgumentError('mixDatasets.datasets', `expected a non-empty array of datasets, got ${describe(datasets)}`);
  }
  const { weights, seed = 0 } = options ?? ({} as MixDatasetsOptions);
  if (!Array.isArray(weights) || weights.length !== datasets.length) {
    throw new InvalidArgumentError('mixDatasets.weights', `expected ${datasets.length} weights, got ${describe(weights)}`);
  }
  weights.forEach((weight, j) => {
    if (typeof weight !== 'number' || !Number.isFinite(weight) || weight <= 0) {
      throw new InvalidArgumentError('mixDatasets.weights', `weights[${j}] is ${describe(weight)}, not a positive number`);
    }
    if (!(datasets[j]!.size > 0)) throw new InvalidArgumentError('mixDatasets.datasets', `datasets[${j}] is empty`);
  });
  const total = weights.reduce((sum, weight) => sum + weight, 0);
  const shares = weights.map((weight) => weight / total);
  const size = options.size ?? Math.min(...datasets.map((dataset, j) => Math.floor(dataset.size / shares[j]!)));
  if (!Number.isSafeInteger(size) || size < 0)
    throw new InvalidArgumentError('mixDatasets.size', `must be a non-negative integer, got ${describe(size)}`);

  const counts = largestRemainders(shares, size);
  const shardEnds: number[] = [];
  counts.reduce((end, count) => {
    shardEnds.push(end + count);
    return end + count;
  }, 0);
  const permutations = datasets.map((dataset, j) => new IndexPermutation(dataset.size, seed, j));
  let closed = false;

  return {
    size,
    layout: { shardEnds },
    read: (indices, signal) => {
      if (closed) throw new DatasetClosedError('mixDatasets.read');
      checkIndices(indices, size, 'mixDatasets.read');
      // One read per dataset, of the indices that fall in its share, then put back in order.
      const asked = datasets.map(() => [] as number[]);
      const slots = datasets.map(() => [] as number[]);
      indices.forEach((index, position) => {
        let j = 0;
        while (index >= shardEnds[j]!) j++;
        const t = index - (j === 0 ? 0 : shardEnds[j - 1]!);
        asked[j]!.push(permutations[j]!.at(t % datasets[j]!.size));
        slots[j]!.push(position);
      });
      const answers = datasets.map((dataset, j) => (asked[j]!.length === 0 ? [] : dataset.read(asked[j]!, signal)));
      const assemble = (elements: readonly (readonly T[])[]): T[] => {
        const out = new Array<T>(indices.length);
        elements.forEach((answer, j) => answer.forEach((element, k) => (out[slots[j]![k]!] = element)));
        return out;
      };
      if (answers.some(isPromiseLike)) {
        // Settle every read before answering, so the elements of the reads that succeeded are
        // disposed when another fails.
        return Promise.allSettled(answers).then((settled) => {
          const failed = settled.find((outcome) => outcome.status === 'rejected');
          if (failed === undefined) return assemble(settled.map((outcome) => (outcome as PromiseFulfilledResult<readonly T[]>).value));
          for (const outcome of settled) if (outcome.status === 'fulfilled') disposeAll(outcome.value);
          throw failed.reason;
        });
      }
      return assemble(answers as readonly (readonly T[])[]);
    },
    close: () => {
      closed = true;
    },
  };
}

/** Integer shares of `total` in proportion to `shares` (summing to 1), summing to `total` exactly. */
function largestRemainders(shares: readonly number[], total: number): number[] {
  const exact = shares.map((share) => share * total);
  const counts = exact.map(Math.floor);
  let left = total - counts.reduce((sum, count) => sum + count, 0);
  const byRemainder = exact
    .map((value, j) => ({ j, remainder: value - counts[j]! }))
    .sort((a, b) => b.remainder - a.remainder || a.j - b.j);
  for (const { j } of byRemainder) {
    if (left <= 0) break;
    counts[j]!++;
    left--;
  }
  return counts;
}
