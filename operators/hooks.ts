import type { MonoTypeOperatorFunction, OperatorFunction } from 'rxjs';
import { disposeAll, disposeItem } from '../src/dispose.js';
import { InvalidArgumentError, RxfeedError } from '../src/errors.js';
import { operate } from '../src/operate.js';
import { batch, batchedInfo } from './batch.js';

/**
 * Thrown from `afterItem` (or `beforeBatch` callbacks inspecting items) to drop the current item,
 * as fastai's `SkipItemException`. Any other error ends the pipeline. Code `RXFEED_ERR_SKIP_ITEM`.
 * @public
 */
export class SkipItem extends RxfeedError {
  constructor(reason = 'item skipped') {
    super('RXFEED_ERR_SKIP_ITEM', reason);
  }
}

/**
 * The fastai `DataLoader` callbacks, in the order they run.
 * @public
 */
export interface DataLoaderHooks<T, B> {
  /** Once per subscription (epoch), before the first item. */
  readonly beforeIter?: () => void;
  /** Each item, before batching; return the (possibly new) item, or throw {@link SkipItem}. */
  readonly afterItem?: (item: T) => T;
  /** Each full list of items, before collation. */
  readonly beforeBatch?: (items: T[]) => T[];
  /** Each collated batch. */
  readonly afterBatch?: (batch: B) => B;
  /** Once, after the last batch of a subscription that completed (not after an early stop). */
  readonly afterIter?: () => void;
}

/** Options of {@link hooks}. */
export interface HooksOptions<T, B> extends DataLoaderHooks<T, B> {
  /** Turns a list of items into a batch; default: the list itself. Pass `collateBatch` for tensors. */
  readonly collate?: (items: T[]) => B;
  /** Drop a last batch smaller than `batchSize` (default false). */
  readonly dropRemainder?: boolean;
}

/**
 * Batch items with fastai-style callbacks around each step: `beforeIter`, `afterItem` (with
 * skip-item semantics), `beforeBatch`, collation, `afterBatch`, `afterIter`.
 *
 * Holds at most `batchSize - 1` items between batches (disposed on teardown). Skipped items are
 * dropped, so a batch is always `batchSize` items but for the last, and the size of the output is
 * unknown whenever `afterItem` is given.
 *
 * @example
 * ```ts
 * import { collateBatch, hooks, SkipItem } from 'rxfeed';
 * import type { Observable } from 'rxjs';
 * declare const samples: Observable<{ image: Float32Array; label: number }>;
 * declare function normalise<B>(batch: B): B;
 * const batches = samples.pipe(
 *   hooks(32, {
 *     afterItem: (s) => { if (s.label < 0) throw new SkipItem('unlabelled'); return s; },
 *     collate: (items) => collateBatch(items),
 *     afterBatch: (b) => normalise(b),
 *   }),
 * );
 * ```
 *
 * @param batchSize - Items per batch.
 * @param options - The callbacks and collation; see {@link HooksOptions}.
 * @returns An operator from items to batches.
 * @public
 */
export function hooks<T, B = T[]>(batchSize: number, options: HooksOptions<T, B> = {}): OperatorFunction<T, B> {
  if (!Number.isSafeInteger(batchSize) || batchSize < 1) {
    throw new InvalidArgumentError('hooks.batchSize', `must be a positive integer, got ${batchSize}`);
  }
  const collate = options.collate ?? ((items: T[]) => items as unknown as B);
  const { beforeIter, afterItem, beforeBatch, afterBatch, afterIter } = options;
  const batchItems = batch<T>(batchSize, { dropRemainder: options.dropRemainder });
  return (source) => {
    const items = afterItem === undefined ? source : source.pipe(mapItems(afterItem));
    return operate<T, B>(
      source,
      (op) => {
        beforeIter?.();
        op.subscribe(items.pipe(batchItems), {
          next: (list) => {
            let out: B;
            try {
              const batched = collate(beforeBatch ? beforeBatch(list) : list);
              out = afterBatch ? afterBatch(batched) : batched;
            } catch (error) {
              disposeAll(list);
              throw error;
            }
            op.next(out);
          },
          complete: () => {
            afterIter?.();
            op.complete();
          },
        });
      },
      // Skipped items make the count unknown.
      (input) => (afterItem === undefined ? batchedInfo(input, batchSize, options.dropRemainder ?? false) : {}),
    );
  };
}

/** `afterItem` applied to each item; a {@link SkipItem} drops (and disposes) the item. */
function mapItems<T>(afterItem: (item: T) => T): MonoTypeOperatorFunction<T> {
  return (source) =>
    operate<T, T>(
      source,
      (op) => {
        op.subscribe(source, {
          next: (value) => {
            let item: T;
            try {
              item = afterItem(value);
            } catch (error) {
              if (!(error instanceof SkipItem)) throw error;
              disposeItem(value);
              return;
            }
            op.next(item);
          },
        });
      },
      () => ({}),
    );
}
