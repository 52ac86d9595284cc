import { filter, skip, take, type MonoTypeOperatorFunction, type Observable } from 'rxjs';
import { resolvePlacement, type Placement } from '../src/distributed.js';
import { InvalidArgumentError, TooFewShardsError } from '../src/errors.js';
import { infoOf, withInfo, type SplitInfo } from '../src/info.js';

/** Options of {@link shard}. Rank and world size default to torchrun's `RANK` and `WORLD_SIZE`. */
export interface ShardOptions extends Partial<Placement> {
  /**
   * - `'element'` (default): split elements. When the size is known, each rank x worker gets one
   *   contiguous range and ranges differ by at most one element (read by seeking when the source
   *   can, see `DatasetInfo.selectRange`); when it is not, each takes every k-th element.
   * - `'file'`: give each rank x worker whole files of a file-backed source. Faster (no element is
   *   read twice), but ranks can differ by a file's length: use it for training, not for exact
   *   evaluation.
   */
  readonly mode?: 'element' | 'file';
}

/**
 * Split a dataset across ranks and loading workers: every element goes to exactly one
 * rank x worker.
 *
 * The split is nested: first by rank, then each rank's share by worker, so a rank's total is the
 * same however many workers it uses, and `padToBatch` can compute how many batches every rank owes.
 * Contiguous element ranges follow `[floor(r * N / W), floor((r + 1) * N / W))`: the most uneven
 * ranks differ by one element. Strided splits (size unknown) give rank `r` the elements `i` with
 * `i % W === r`.
 *
 * `padToBatch` pads a rank's whole stream: with several workers, merge their parts first (e.g.
 * `concatSources` or `interleave`) and give `padToBatch` the global `size`.
 *
 * File mode fails at once, when the operator is applied, if there are fewer files than
 * rank x worker slots, rather than leaving some slots with nothing to read.
 *
 * @example
 * ```ts
 * // rank and world size from torchrun's environment; this process's loader uses 2 workers:
 * const part = fromItems(samples).pipe(shard({ workerIndex: 1, numWorkers: 2 }));
 * ```
 *
 * @param options - See {@link ShardOptions}.
 * @returns An operator keeping this rank x worker's share; sized when the input is.
 * @public
 */
export function shard<T>(options: ShardOptions = {}): MonoTypeOperatorFunction<T> {
  const placement = resolvePlacement(options, 'shard');
  const mode = options.mode ?? 'element';
  if (mode !== 'element' && mode !== 'file') {
    throw new InvalidArgumentError('shard.mode', `must be 'element' or 'file', got '${String(mode)}'`);
  }
  return (source) => {
    if (mode === 'file') return shardFiles(source, placement);
    const size = infoOf(source).size;
    return size === undefined ? shardStrided(source, placement) : shardContiguous(source, size, placement);
  };
}

/** The range `[start, end)` of `count` items that part `index` of `parts` gets. */
function evenRange(count: number, index: number, parts: number): [number, number] {
  return [Math.floor((index * count) / parts), Math.floor(((index + 1) * count) / parts)];
}

function shardContiguous<T>(source: Observable<T>, size: number, placement: Placement): Observable<T> {
  const { rank, worldSize, workerIndex, numWorkers } = placement;
  const [rankStart, rankEnd] = evenRange(size, rank, worldSize);
  const [from, to] = evenRange(rankEnd - rankStart, workerIndex, numWorkers);
  const start = rankStart + from;
  const end = rankStart + to;
  // The split describes a whole rank's stream, which padToBatch pads: a worker's part is not one,
  // so it is recorded only when this output is the rank's whole share.
  const split: SplitInfo | undefined =
    numWorkers === 1 ? { globalSize: size, worldSize, rank, maxRankSize: Math.ceil(size / worldSize) } : undefined;
  const { selectRange } = infoOf(source);
  if (selectRange !== undefined) {
    const part = selectRange(start, end);
    return withInfo(part, { ...infoOf(part), size: end - start, split });
  }
  // take() stops reading at `end`, also for a synchronous source.
  return withInfo(source.pipe(take(end), skip(start)), { size: end - start, split });
}

function shardStrided<T>(source: Observable<T>, placement: Placement): Observable<T> {
  const { rank, worldSize, workerIndex, numWorkers } = placement;
  // Element i goes to rank i % W; within the rank's subsequence, its j-th element to worker j % K.
  return source.pipe(
    filter((_, i) => i % worldSize === rank && Math.floor(i / worldSize) % numWorkers === workerIndex),
  );
}

function shardFiles<T>(source: Observable<T>, placement: Placement): Observable<T> {
  const { rank, worldSize, workerIndex, numWorkers } = placement;
  const { files, selectFiles } = infoOf(source);
  if (files === undefined || selectFiles === undefined) {
    throw new InvalidArgumentError(
      'shard.mode',
      "'file' needs a file-backed source (one that lists its files, such as fromTFRecord or fromWebDataset); " +
        "use mode 'element' for this one",
    );
  }
  const slots = worldSize * numWorkers;
  if (files.length < slots) throw new TooFewShardsError(files.length, slots);
  // As WebDataset's split_by_node then split_by_worker: files[rank::W], then [worker::K] of those.
  const mine: number[] = [];
  for (let i = rank, j = 0; i < files.length; i += worldSize, j++) {
    if (j % numWorkers === workerIndex) mine.push(i);
  }
  return selectFiles(mine);
}
