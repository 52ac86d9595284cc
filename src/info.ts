/**
 * What a dataset knows about itself: its size, and for file-backed sources how to re-open a part.
 *
 * Like tfjs-data's `Dataset.size`, the size travels with the Observable through rxfeed's own
 * operators (a plain RxJS `map` cannot carry it, so pass `size` explicitly after one). It lives in
 * a WeakMap beside the Observable rather than in a subclass, so any Observable can carry it and
 * `pipe` keeps its ordinary types.
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
   * Set by `shard`: how the dataset was split, so `padToBatch` can compute how many batches every
   * rank must emit.
   */
  readonly split?: SplitInfo;
}

/**
 * How `shard` split a dataset.
 * @public
 */
export interface SplitInfo {
  /** Size of the dataset before the split. */
  readonly globalSize: number;
  readonly worldSize: number;
  readonly rank: number;
  /** The most elements any rank receives. */
  readonly maxRankSize: number;
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
