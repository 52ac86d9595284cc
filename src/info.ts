/**
 * What a dataset knows about itself: its size, and for file-backed sources how to re-open a part.
 *
 * It travels two ways:
 * - at pipe time, beside the Observable: {@link withInfo} records it in a WeakMap (rather than a
 *   subclass, so any Observable can carry it and `pipe` keeps its ordinary types), and rxfeed's
 *   operators derive their own output's info from their input's, as tfjs-data's `Dataset.size`
 *   does. {@link sizeOf} reads it before anything is subscribed. A plain RxJS operator returns a
 *   new Observable the WeakMap knows nothing of.
 * - at subscribe time, through the subscription context: each rxfeed source and operator
 *   announces its {@link StreamInfo} to the nearest rxfeed operator downstream before its first
 *   item (see `PipelineContext.announce`). That crosses plain RxJS operators, so
 *   `shard()`, `map(...)`, `padToBatch(64)` works. A plain operator is taken to keep one output
 *   per input (`map`, `tap`); one that drops or adds items (`filter`, `take`, `mergeMap`) makes the
 *   announced size an upper bound, or wrong: give such a pipeline's size explicitly where it
 *   matters (`padToBatch`'s `size`).
 *
 * @module
 */
import type { Observable } from 'rxjs';
import { InvalidArgumentError } from './errors.js';

/**
 * Metadata a dataset Observable may carry.
 * @public
 */
export interface DatasetInfo<T> {
  /** Exact number of elements one subscription emits, when known. */
  readonly size?: number;
  /**
   * Names of the files (shards) behind a file-backed source, in reading order. With
   * {@link DatasetInfo.selectFiles}, `shard({ mode: 'file' })` gives each rank x worker whole files.
   */
  readonly files?: readonly string[];
  /** Re-open the source over the files at these positions of `files` only. */
  readonly selectFiles?: (indices: readonly number[]) => Observable<T>;
  /**
   * Re-open the source reading only elements `[start, end)` of its order, without reading the
   * others (e.g. by seeking with a record index). Used by contiguous element sharding.
   */
  readonly selectRange?: (start: number, end: number) => Observable<T>;
  /**
   * Set by `shard` (and announced by `fromRandomAccess`): how the dataset was split, so `padToBatch` can compute how many batches every
   * rank must emit.
   */
  readonly split?: SplitInfo;
}

/**
 * How `shard` or the global plan of `fromRandomAccess` split a dataset by rank: which global indices this rank's elements have, and how
 * many any rank receives.
 * @public
 */
export interface SplitInfo {
  /** Size of the dataset before the split; unknown for a strided split of an unsized dataset. */
  readonly globalSize?: number;
  readonly worldSize: number;
  readonly rank: number;
  /** The most elements any rank receives, when the global size is known. */
  readonly maxRankSize?: number;
  /** Global index of this rank's first element. */
  readonly firstIndex: number;
  /**
   * Step between the global indices of consecutive elements of this rank: 1 for a contiguous
   * range, `worldSize` for a strided split. Element `k` of the rank has global index
   * `firstIndex + k * stride`.
   */
  readonly stride: number;
  /**
   * The global index of this rank's element `k`, when the split is not a stride pattern (a
   * shuffled global plan, `fromRandomAccess`); it then takes precedence over `firstIndex` and
   * `stride`.
   */
  readonly indexAt?: (k: number) => number;
  /**
   * The split describes what is left of the rank's share in a resumed subscription (see
   * `Loader.state`): element `k` is the `k`-th not yet received, and the sizes count only those.
   * A resumed `fromRandomAccess` announces such a split; without it, `padToBatch` continues from
   * its own saved count of rows received.
   */
  readonly remainder?: boolean;
}

/**
 * What a subscription announces to the operators downstream of it; see
 * `PipelineContext.announce`.
 * @public
 */
export interface StreamInfo {
  /** Exact number of elements this subscription emits, when known. */
  readonly size?: number;
  /** How the dataset was split by rank (`shard`, `fromRandomAccess`), when this is one rank's whole share. */
  readonly split?: SplitInfo;
}

const infos = new WeakMap<Observable<unknown>, DatasetInfo<unknown>>();

/**
 * Attach `info` to `observable` and return it.
 * @public
 */
export function withInfo<T, O extends Observable<T>>(observable: O, info: DatasetInfo<T>): O {
  if (info.size !== undefined && !(Number.isSafeInteger(info.size) && info.size >= 0)) {
    throw new InvalidArgumentError('withInfo.size', `must be a non-negative safe integer, got ${String(info.size)}`);
  }
  infos.set(observable, info as DatasetInfo<unknown>);
  return observable;
}

/**
 * The metadata attached to `observable`, or an empty record.
 * @public
 */
export function infoOf<T>(observable: Observable<T>): DatasetInfo<T> {
  return (infos.get(observable) ?? {}) as DatasetInfo<T>;
}

/**
 * The exact number of elements `observable` emits, when an rxfeed source or operator recorded it.
 * @public
 */
export function sizeOf(observable: Observable<unknown>): number | undefined {
  return infos.get(observable)?.size;
}

/**
 * The part of a dataset's info that a subscription announces.
 * @internal
 */
export function streamInfoOf(info: DatasetInfo<unknown>): StreamInfo {
  return { size: info.size, split: info.split };
}
