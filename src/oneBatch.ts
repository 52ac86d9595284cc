/**
 * A quick look at one batch of a pipeline, as fastai's `one_batch`.
 *
 * @module
 */
import type { Observable } from 'rxjs';
import { EmptyPipelineError } from './errors.js';
import { Loader, toLoader } from './loader.js';

/**
 * The first item (a batch, usually) of a pipeline or a loader, then every source released: to look
 * at a batch's fields, shapes and dtypes, or to build a model's input layer from them.
 *
 * A pipeline is read as one loader iteration that keeps a single item ready, so only what the
 * first item needs is read; the promise settles once every source has closed its files, sockets
 * and cursors. A {@link Loader} is looked at with {@link Loader.oneBatch}: its epoch does not
 * advance, and its next `for await` begins with this same item.
 *
 * @example
 * ```ts
 * import { batch, collate, oneBatch } from 'rxfeed';
 * import { fromWebDataset } from 'rxfeed/webdataset';
 * const first = await oneBatch(fromWebDataset('shards/train-000000.tar').pipe(batch(8), collate()));
 * console.log(Object.keys(first));
 * ```
 *
 * @param pipeline - An Observable pipeline, or a loader made by `toLoader`.
 * @returns The first item.
 * @throws {@link EmptyPipelineError} `RXFEED_ERR_EMPTY_LOADER` when the pipeline completes without
 *   an item; any error the pipeline fails with, as it is (typed by its source or operator).
 * @public
 */
export async function oneBatch<T>(pipeline: Observable<T> | Loader<T>): Promise<T> {
  if (pipeline instanceof Loader) return pipeline.oneBatch();
  // Leaving the loop (return) ends the iteration and waits for every source's release.
  for await (const item of toLoader(pipeline, { prefetch: 1 })) return item;
  throw new EmptyPipelineError('oneBatch', 0);
}
