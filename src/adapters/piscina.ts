/**
 * Worker threads for `parallelMap`: an `Executor` over a piscina pool (`rxfeed/workers`).
 *
 * Closures cannot cross threads, so a task is named by its module URL and export
 * ({@link workerFn}); the worker imports the module once and calls the export with the item and a
 * {@link WorkerTaskContext} (`index`, `epoch`, `seed`, `options`). Item payloads are moved, not
 * cloned: every `ArrayBuffer` an item owns is transferred (and detached in the sender), and the
 * result's buffers are moved back the same way.
 *
 * Cancelling never kills a thread: queued tasks are dropped, running ones finish and their
 * results are discarded. A task that kills its thread is blamed by item ({@link WorkerExitError});
 * the pool starts a new thread and the executor goes on.
 *
 * The pieces: naming tasks (./workerFn.ts), the executor (./workerExecutor.ts), its errors
 * (./workerErrors.ts), and the module each thread loads (./workerEntry.ts).
 *
 * @example
 * ```ts
 * import { parallelMap, toLoader } from 'rxfeed';
 * import { decodeImageTask, workerExecutor } from 'rxfeed/workers';
 * import type { Observable } from 'rxjs';
 * declare const jpegBytes: Observable<Uint8Array>;
 *
 * await using executor = workerExecutor();          // availableParallelism() - 1 threads
 * const images = jpegBytes.pipe(
 *   parallelMap(decodeImageTask({ resize: [112, 112] }, { seed: 7 }), { executor }),
 * );
 * for await (const image of toLoader(images)) console.log(image.shape);
 * ```
 *
 * @module rxfeed/workers
 */
export * from './workerFn.js';
export * from './workerErrors.js';
export * from './workerExecutor.js';
export * from './workerPipeline.js';
export { decodeBatch, type DecodeBatchOptions, type DecodedBatch } from './decodeBatch.js';

export { DecodeError, DEFAULT_MAX_PIXELS, decodeImage, decodeImageFields } from './decodeImage.js';
export type {
  DecodeImageOptions,
  DecodeImageFieldsOptions,
  DecodedImageFields,
  DecodedImage,
  DecodeErrorOptions,
  ImageCrop,
  DecodeContext,
} from './decodeImage.js';
