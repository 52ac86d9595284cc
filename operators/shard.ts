import type { MonoTypeOperatorFunction } from 'rxjs';
import { checkPlacementOptions, resolvePlacement, type Placement } from '../src/distributed.js';
import { disposeItem } from '../src/dispose.js';
import { InvalidArgumentError, TooFewShardsError } from '../src/errors.js';
import { infoOf, streamInfoOf, type DatasetInfo, type SplitInfo, type StreamInfo } from '../src/info.js';
import { operate } from '../src/operate.js';
import { LoaderStateError } from '../src/loaderState.js';
import { peekSeq } from '../src/origins.js';
import { describe } from '../src/excerpt.js';

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
 * import { fromItems, shard } from 'rxfeed';
 * declare const samples: { image: Float32Array; label: number }[];
 * // rank and world size from torchrun's environment; this process's loader uses 2 workers:
 * const part = fromItems(samples).pipe(shard({ workerIndex: 1, numWorkers: 2 }));
 * ```
 *
 * @param options - See {@link ShardOptions}.
 * @returns An operator keeping this rank x worker's share; sized when the input is.
 * @public
 */
export function shard<T>(options: ShardOptions = {}): MonoTypeOperatorFunction<T> {
  checkPlacementOptions(options, 'shard');
  const mode = options.mode ?? 'element';
  if (mode !== 'element' && mode !== 'file') {
    throw new InvalidArgumentError('shard.mode', `must be 'element' or 'file', got '${String(mode)}'`);
  }
  return (source) => {
    const recorded = infoOf(source);
    if (mode === 'file') checkFileMode(recorded, options);
    // What the output records at pipe time: computed with the environment's placement, when it is
    // valid; the subscription resolves the placement again, once, from its context.
    let piped: Placement | undefined;
    try {
      piped = resolvePlacement(options, 'shard');
    } catch {
      piped = undefined;
    }
    const pipedInfo =
      piped === undefined
        ? {}
        : mode === 'file'
          ? { size: infoOf(recorded.selectFiles!(filesOf(recorded, piped))).size }
          : describeShare(streamInfoOf(recorded), piped);
    return operate<T, T>(
      source,
      (op) => {
        const placement = op.context.splitPlacement(options, 'shard');
        if (mode === 'file') {
          const part = recorded.selectFiles!(filesOf(recorded, placement));
          op.delegate(part, { describe: () => streamInfoOf(infoOf(part)) });
          return;
        }
        if (recorded.size !== undefined && recorded.selectRange !== undefined) {
          // The source can read a range without the rest: re-open it over this share.
          const [start, end] = shareRange(recorded.size, placement);
          op.delegate(recorded.selectRange(start, end), {
            describe: () => describeShare({ size: recorded.size }, placement),
          });
          return;
        }
        // Otherwise read the input and keep this share, contiguous when the input announced its
        // size before its first item (it may cross plain operators to get here), else strided.
        let keep: ReturnType<typeof keeperOf> | undefined;
        let position = 0;
        // Loader state: a resumed source skips what was received, the other ranks' items included,
        // so a resumed shard counts positions by the source's own item numbers, `seq - offset`, the
        // offset fixed by the first item. A filter or a concatenation between them changes the
        // offset: that split cannot be resumed, and the state says so.
        const { tracker } = op.context;
        const key = tracker.keyFor('shard', op.context.epoch);
        const [saved] = tracker.restored(key);
        let offset = restoredOffset(saved, key);
        const resumed = offset !== undefined;
        tracker.register(key, { save: () => ({ kind: 'shard', offset: offset ?? null }) });
        op.subscribe(
          source,
          {
            next: (value) => {
              if (keep === undefined) checkNotSplit(op.input);
              keep ??= keeperOf(op.input.size, placement);
              const seq = peekSeq();
              if (seq !== undefined) {
                offset ??= seq - position;
                if (resumed) position = seq - offset;
                else if (seq - offset !== position) {
                  tracker.untracked(
                    'shard',
                    "in element mode after a filter or a concatenation, its split cannot be resumed: shard right after the source, or use mode 'file' or fromRandomAccess",
                  );
                }
              } else if (resumed) {
                throw new LoaderStateError(
                  'RXFEED_ERR_STATE_MISMATCH',
                  `${key}: a resumed shard received an item without a source number`,
                  key,
                );
              }
              const verdict = keep(position++);
              if (verdict === 'keep' || verdict === 'last') op.next(value);
              else disposeItem(value);
              if (verdict === 'last' || verdict === 'end') op.complete();
            },
          },
          { describe: (input) => describeShare(input, placement) },
        );
      },
      () => pipedInfo,
    );
  };
}

/**
 * An input already split by rank (a `shard` upstream, `fromRandomAccess`'s global plan) is one
 * rank's share: splitting it again would leave each rank a part of its own share, and samples
 * read by no rank.
 */
function checkNotSplit(input: StreamInfo): void {
  const split = input.split;
  if (split !== undefined && split.worldSize > 1) {
    throw new InvalidArgumentError(
      'shard',
      `the input is already rank ${split.rank}'s share of ${split.worldSize} (split upstream by shard or fromRandomAccess); ` +
        'shard it once',
    );
  }
}

/** The range `[start, end)` of `count` items that part `index` of `parts` gets. */
function evenRange(count: number, index: number, parts: number): [number, number] {
  return [Math.floor((index * count) / parts), Math.floor(((index + 1) * count) / parts)];
}

/** The global range `[start, end)` of this rank x worker, nested: by rank, then by worker. */
function shareRange(size: number, placement: Placement): [number, number] {
  const { rank, worldSize, workerIndex, numWorkers } = placement;
  const [rankStart, rankEnd] = evenRange(size, rank, worldSize);
  const [from, to] = evenRange(rankEnd - rankStart, workerIndex, numWorkers);
  return [rankStart + from, rankStart + to];
}

/**
 * Decides, by position in the input, which items are this share's: `last` keeps the item and
 * stops reading (also a synchronous source); `end` drops it and stops (an empty share).
 */
function keeperOf(size: number | undefined, placement: Placement): (position: number) => 'skip' | 'keep' | 'last' | 'end' {
  const { rank, worldSize, workerIndex, numWorkers } = placement;
  if (size !== undefined) {
    const [start, end] = shareRange(size, placement);
    return (position) => (position >= end ? 'end' : position === end - 1 ? 'last' : position >= start ? 'keep' : 'skip');
  }
  // Element i goes to rank i % W; within the rank's subsequence, its j-th element to worker j % K.
  return (position) => (position % worldSize === rank && Math.floor(position / worldSize) % numWorkers === workerIndex ? 'keep' : 'skip');
}

/** What this share is: its size, and the split when it is the rank's whole share (one worker). */
function describeShare(input: StreamInfo, placement: Placement): StreamInfo {
  const { rank, worldSize, numWorkers } = placement;
  // The split describes a whole rank's stream, which padToBatch pads: a worker's part is not one.
  const whole = numWorkers === 1;
  if (input.size === undefined) {
    return { split: whole ? { worldSize, rank, firstIndex: rank, stride: worldSize } : undefined };
  }
  const [start, end] = shareRange(input.size, placement);
  const split: SplitInfo | undefined = whole
    ? { globalSize: input.size, worldSize, rank, maxRankSize: Math.ceil(input.size / worldSize), firstIndex: start, stride: 1 }
    : undefined;
  return { size: end - start, split };
}

function checkFileMode<T>(recorded: DatasetInfo<T>, options: ShardOptions): void {
  if (recorded.files === undefined || recorded.selectFiles === undefined) {
    throw new InvalidArgumentError(
      'shard.mode',
      "'file' needs a file-backed source (one that lists its files, such as fromTFRecord or fromWebDataset); " +
        "use mode 'element' for this one",
    );
  }
  // Known at pipe time only when the world size is given; else checked when subscribed.
  if (options.worldSize !== undefined) {
    const slots = options.worldSize * (options.numWorkers ?? 1);
    if (recorded.files.length < slots) throw new TooFewShardsError(recorded.files.length, slots);
  }
}

/** This rank x worker's files, as WebDataset's split_by_node then split_by_worker. */
function filesOf<T>(recorded: DatasetInfo<T>, placement: Placement): number[] {
  const { rank, worldSize, workerIndex, numWorkers } = placement;
  const files = recorded.files!;
  const slots = worldSize * numWorkers;
  if (files.length < slots) throw new TooFewShardsError(files.length, slots);
  // files[rank::W], then [worker::K] of those.
  const mine: number[] = [];
  for (let i = rank, j = 0; i < files.length; i += worldSize, j++) {
    if (j % numWorkers === workerIndex) mine.push(i);
  }
  return mine;
}

/** The offset a saved `shard` part holds (`null`: it had seen no item), checked. */
function restoredOffset(saved: unknown, key: string): number | undefined {
  if (saved === undefined) return undefined;
  const part = saved as { kind?: unknown; offset?: unknown } | null;
  if (typeof part !== 'object' || part === null || part.kind !== 'shard' || !(part.offset === null || Number.isSafeInteger(part.offset))) {
    throw new LoaderStateError('RXFEED_ERR_STATE_INVALID', `${key}: expected a shard's part, got ${describe(saved)}`, key);
  }
  return part.offset === null ? undefined : (part.offset as number);
}
