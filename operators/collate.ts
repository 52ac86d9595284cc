import type { OperatorFunction } from 'rxjs';
import { collateWith, type CollateResult } from '../src/collate.js';
import { resolveCollateOptions, type CollateOptions } from '../src/collateOptions.js';
import { plannedCollator } from '../src/collatePlan.js';
import { disposeItem } from '../src/dispose.js';
import { operate } from '../src/operate.js';
import type { PaddedBatch } from '../src/tensor.js';

/**
 * Turn each batch (an array of samples from `batch`, or a `PaddedBatch` from `padToBatch`) into one
 * structure of contiguous typed arrays with shapes and dtypes.
 *
 * The rules (numbers, bigints, booleans, strings, typed arrays, bytes, nested arrays, shaped
 * leaves, objects and tuples), the ragged and missing-field policies and the result type are those
 * of {@link collateBatch}. Under `missing: 'skip'` a batch can come out with fewer rows than went
 * in. A batch that cannot be collated ends the stream with a `CollateError` naming the field path
 * and the samples at fault.
 *
 * Each subscription reads the samples' layout (fields, kinds of leaves, typed array types and
 * lengths) from its first batch, and checks each later batch against it rather than inferring every
 * field again: a batch that differs anywhere is collated by the full rules from there down, so
 * the result, or the `CollateError`, is always what {@link collateBatch} gives that batch alone.
 *
 * Options are checked once, when `collate(options)` is called. Nothing is buffered here: each batch
 * is collated inside the call that delivered it. The number of batches (the dataset size) passes
 * through unchanged. The collated output does not reference the input batch's arrays, except
 * `'bytes'` lists (which keep the samples' own `Uint8Array`s) and a `PaddedBatch`'s `mask` and
 * `index`; when collation fails the input batch is disposed (see `disposeItem`), as it is dropped.
 *
 * @example
 * ```ts
 * import { batch, collate, fromItems } from 'rxfeed';
 * declare const samples: { image: Float32Array; label: number }[];
 * const batches = fromItems(samples).pipe(
 *   batch(32),
 *   collate({ ragged: 'pad', missing: 'mask', numberDtype: 'float32' }),
 * );
 * ```
 *
 * @param options - See {@link CollateOptions}.
 * @returns An operator emitting one collated structure per batch.
 * @throws {@link InvalidArgumentError} when an option is out of range.
 * @public
 */
export function collate<B extends readonly unknown[] | PaddedBatch<unknown>>(
  options: CollateOptions = {},
): OperatorFunction<B, CollateResult<B>> {
  const settings = resolveCollateOptions(options);
  return (source) =>
    operate<B, CollateResult<B>>(source, (op) => {
      // The samples' layout is read from the first batch and checked, not inferred, in the others.
      const samples = plannedCollator();
      const { flow } = op.context;
      const timer = op.timer('collate');
      op.subscribe(source, {
        next: (batch) => {
          let out: CollateResult<B>;
          try {
            const started = flow.mark();
            out = collateWith(batch, settings, samples) as CollateResult<B>;
            timer.workedSince(started);
          } catch (error) {
            // The batch is this operator's to release: nothing downstream will see it.
            if (Array.isArray(batch)) for (const sample of batch as readonly unknown[]) disposeItem(sample);
            else for (const row of (batch as PaddedBatch<unknown>).rows) disposeItem(row);
            throw error;
          }
          op.next(out);
        },
      });
    });
}
