/**
 * The RandomAccess port: a dataset addressable by index, beside the `Puller` port.
 *
 * A stream read front to back cannot be shuffled globally, sampled, or resumed without replay.
 * Every source kind that can find its i-th element without reading the ones before it (a record
 * index over TFRecord files, a sample index over tar shards, a MongoDB view's `_id` list, a key
 * list over an object store, an array) implements this port, and `fromRandomAccess` reads one in
 * the order a sampler gives.
 *
 * Lifetime: a dataset is a long-lived object, like PyTorch's map-style `Dataset` or Grain's data
 * source. Its index is built once; the handles and connections its reads need are opened lazily
 * and kept (bounded) between reads, so many loaders (training, evaluation, `oneBatch`) can read it
 * at once. `close()` releases them all; a read after it fails with {@link DatasetClosedError}.
 *
 * @module
 */
import { setMaxListeners } from 'node:events';
import { disposeAll } from '../../src/dispose.js';
import { InvalidArgumentError, RxfeedError } from '../../src/errors.js';
import { describe } from '../../src/excerpt.js';

/**
 * A dataset of exactly `size` elements, read by index.
 *
 * @example
 * ```ts
 * import { type RandomAccess } from 'rxfeed';
 * const letters: RandomAccess<string> = {
 *   size: 3,
 *   read: (indices) => indices.map((i) => 'abc'[i]!),
 *   close: () => {},
 * };
 * ```
 * @public
 */
export interface RandomAccess<T> {
  /** The exact number of elements; indices run from 0 to `size - 1`. */
  readonly size: number;
  /**
   * Where the elements live, when they come in shards (files, tar shards, objects): lets a
   * locality-aware sampler (`blockShuffle`) keep reads inside a few shards at a time.
   */
  readonly layout?: RandomAccessLayout;
  /**
   * The elements at `indices`, answered in the order asked (an index asked twice is answered
   * twice, with the same element). Implementations sort the indices and coalesce neighbours into
   * one range read. An index that is not an integer in `[0, size)` fails with an
   * {@link InvalidArgumentError} before anything is read.
   *
   * @param indices - Which elements, in the order wanted.
   * @param signal - Aborting it stops the reads in flight; the answer then rejects.
   */
  read(indices: readonly number[], signal?: AbortSignal): readonly T[] | PromiseLike<readonly T[]>;
  /**
   * Release every handle, connection and cache the dataset holds. Idempotent. A read after it
   * fails with {@link DatasetClosedError}.
   */
  close(): void | PromiseLike<void>;
}

/**
 * How a dataset's elements fall into shards: shard `j` holds the indices
 * `[shardEnds[j - 1] ?? 0, shardEnds[j])`.
 * @public
 */
export interface RandomAccessLayout {
  /** Cumulative element counts, one per shard, ascending; the last equals the dataset's `size`. */
  readonly shardEnds: readonly number[];
  /** Each shard's name (file path, URL, object key), for errors and progress. */
  readonly shardNames?: readonly string[];
}

/**
 * A dataset was read after its `close()`.
 * @public
 */
export class DatasetClosedError extends RxfeedError {
  constructor(where: string) {
    super('RXFEED_ERR_DATASET_CLOSED', `${where}: the dataset was closed; open it again to read it`);
  }
}

/**
 * Check that every index is an integer in `[0, size)`.
 *
 * @throws {@link InvalidArgumentError} naming the first bad index and its position.
 * @internal
 */
export function checkIndices(indices: readonly number[], size: number, where: string): void {
  if (!Array.isArray(indices))
    throw new InvalidArgumentError(`${where}(indices)`, `expected an array of indices, got ${describe(indices)}`);
  for (let position = 0; position < indices.length; position++) {
    const index = indices[position];
    if (!Number.isSafeInteger(index) || index! < 0 || index! >= size) {
      throw new InvalidArgumentError(`${where}(indices)`, `indices[${position}] is ${describe(index)}, not an index of [0, ${size})`);
    }
  }
}

/**
 * Check a layout against the dataset's size.
 *
 * @throws {@link InvalidArgumentError} when `shardEnds` is not ascending integers ending at `size`.
 * @internal
 */
export function checkLayout(layout: RandomAccessLayout, size: number, where: string): void {
  const { shardEnds } = layout;
  let previous = 0;
  for (const end of shardEnds) {
    if (!Number.isSafeInteger(end) || end < previous) {
      throw new InvalidArgumentError(`${where}.layout`, `shardEnds must be ascending integers, got ${describe(end)} after ${previous}`);
    }
    previous = end;
  }
  if (previous !== size) throw new InvalidArgumentError(`${where}.layout`, `shardEnds ends at ${previous}, not at the size ${size}`);
}

/** Options of {@link readCoalesced}. */
export interface CoalesceOptions {
  /** The dataset's size, for the bounds check. */
  readonly size: number;
  /** Who reads, for errors: `tfrecordDataset.read`. */
  readonly where: string;
  /** Cumulative shard ends: a run never crosses one (it would span two files). */
  readonly shardEnds?: readonly number[];
  /** Most elements one range read covers (default 256): bounds what one read holds. */
  readonly maxRun?: number;
  /** Range reads in flight at once (default 8). */
  readonly concurrency?: number;
  /**
   * `true` (default): a run is consecutive indices, one range read. `false`: a run is any
   * `maxRun` distinct indices in ascending order, for stores where one request costs the same
   * for neighbours or not (a database's `$in`).
   */
  readonly contiguous?: boolean;
  /** Aborts every range read in flight. */
  readonly signal?: AbortSignal;
}

/**
 * Indices read at once: consecutive ones `[first, end)` inside one shard, or with
 * `contiguous: false` any distinct ones in ascending order, from `first` to `end - 1`.
 * @internal
 */
export interface IndexRun {
  readonly first: number;
  readonly end: number;
  /** The shard holding the run (0 without a layout). */
  readonly shard: number;
  /** The run's indices, ascending: `first, first + 1, ... end - 1` for a contiguous run. */
  readonly indices: Float64Array;
}

/**
 * Read `indices` as few range reads: the distinct indices, sorted, are cut into runs of
 * consecutive indices that stay inside one shard and hold at most `maxRun` elements; `readRun`
 * reads each (at most `concurrency` at once), and the answer is put back in the order asked.
 *
 * If a run fails, the others are aborted, the elements already read are disposed, and the
 * returned promise rejects with that run's error.
 *
 * @param indices - The elements wanted, in order; checked against `size` first.
 * @param readRun - Reads the elements of `run.indices`, in that order, exactly one per index.
 * @param options - See {@link CoalesceOptions}.
 * @returns The elements at `indices`, in that order.
 * @internal
 */
export async function readCoalesced<T>(
  indices: readonly number[],
  readRun: (run: IndexRun, signal: AbortSignal) => Promise<readonly T[]>,
  options: CoalesceOptions,
): Promise<T[]> {
  const { size, where, shardEnds, maxRun = 256, concurrency = 8, contiguous = true } = options;
  checkIndices(indices, size, where);
  const runs = runsOf(indices, shardEnds, maxRun, contiguous);
  const abort = new AbortController();
  // Every run in flight listens to this signal (and a run waiting on a shard being fetched, too):
  // as many listeners as runs, each removed when its run settles, so Node's leak warning at 10
  // would only be noise.
  setMaxListeners(0, abort.signal);
  const onAbort = (): void => abort.abort(options.signal?.reason);
  options.signal?.addEventListener('abort', onAbort, { once: true });
  if (options.signal?.aborted === true) onAbort();

  const read = new Map<number, T>();
  let failure: { error: unknown } | undefined;
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < runs.length && failure === undefined) {
      const run = runs[next++]!;
      try {
        const elements = await readRun(run, abort.signal);
        if (elements.length !== run.indices.length) {
          throw new RxfeedError(
            'RXFEED_ERR_RANDOM_ACCESS',
            `${where}: a read of ${run.indices.length} indices from ${run.first} to ${run.end - 1} answered ${elements.length} elements`,
          );
        }
        if (failure !== undefined) {
          disposeAll(elements);
          return;
        }
        elements.forEach((element, offset) => read.set(run.indices[offset]!, element));
      } catch (error) {
        failure ??= { error };
        abort.abort(error);
      }
    }
  };
  try {
    await Promise.all(Array.from({ length: Math.min(concurrency, runs.length) }, worker));
  } finally {
    options.signal?.removeEventListener('abort', onAbort);
  }
  if (failure !== undefined) {
    disposeAll(read.values());
    throw failure.error;
  }
  return indices.map((index) => read.get(index)!);
}

/**
 * The distinct indices, sorted, cut into runs of at most `maxRun` inside one shard: of neighbours
 * only when `contiguous`.
 */
function runsOf(indices: readonly number[], shardEnds: readonly number[] | undefined, maxRun: number, contiguous: boolean): IndexRun[] {
  const sorted = Float64Array.from(indices).sort();
  let distinct = 0;
  for (let at = 0; at < sorted.length; at++) if (at === 0 || sorted[at] !== sorted[at - 1]) sorted[distinct++] = sorted[at]!;
  const runs: IndexRun[] = [];
  let shard = 0;
  let start = 0; // where the open run starts in `sorted`
  const close = (at: number): void => {
    if (at > start) runs.push({ first: sorted[start]!, end: sorted[at - 1]! + 1, shard, indices: sorted.subarray(start, at) });
    start = at;
  };
  for (let at = 0; at < distinct; at++) {
    const index = sorted[at]!;
    let inShard = shard;
    if (shardEnds !== undefined) while (index >= shardEnds[inShard]!) inShard++;
    const joins = at > start && inShard === shard && at - start < maxRun && (!contiguous || index === sorted[at - 1]! + 1);
    if (!joins) {
      close(at);
      shard = inShard;
    }
  }
  close(distinct);
  return runs;
}
