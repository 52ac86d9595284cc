import type { Observable } from 'rxjs';
import { produce } from '../../src/operate.js';

/**
 * A source over a resource opened for each subscription: a dataset whose builder is asynchronous
 * (`tfrecordDataset`, `webDatasetIndexed`, `mongoDataset`), a client, a connection. RxJS's `using`
 * for resources that take a promise to open and to close.
 *
 * `read` is subscribed under the context of the subscription that asked (its Flow, epoch and
 * placement), even though it starts later, from the promise's callback: so a `shard()` or
 * `fromRandomAccess` inside it still splits by the placement, which is what a worker pipeline's
 * part needs. `close` runs however the subscription ends (completion, error, unsubscribe, or an
 * unsubscribe while still opening); completion and a loop's `break` both wait for it, so a loop
 * that has returned has released what was opened.
 *
 * @example
 * ```ts
 * import { batch, fromRandomAccess, fromResource, globalShuffle } from 'rxfeed';
 * import { tfrecordDataset } from 'rxfeed/tfrecord';
 * import { type WorkerPart } from 'rxfeed/workers';
 * // a worker pipeline's part: the dataset is made in the thread that reads it
 * export function train(part: WorkerPart<{ files: string[] }>) {
 *   return fromResource(
 *     () => tfrecordDataset(part.options.files),
 *     (dataset) => fromRandomAccess(dataset, { sampler: globalShuffle({ seed: part.seed }), batchSize: 64 }).pipe(batch(64)),
 *     (dataset) => dataset.close(),
 *   );
 * }
 * ```
 *
 * @param open - Opens the resource; called once per subscription.
 * @param read - The items, given the resource.
 * @param close - Releases the resource; default nothing.
 * @returns A cold Observable: each subscription opens, reads and closes its own resource.
 * @public
 */
export function fromResource<R, T>(
  open: () => R | PromiseLike<R>,
  read: (resource: R) => Observable<T>,
  close?: (resource: R) => unknown,
): Observable<T> {
  return produce<T>((op) => {
    let closing: Promise<unknown> | undefined;
    const opening = Promise.resolve().then(open);
    const release = (): Promise<unknown> =>
      (closing ??= opening.then(
        (resource) => close?.(resource),
        () => undefined, // nothing was opened
      ));
    opening.then(
      op.guard((resource: R) => {
        if (op.closed) return;
        op.subscribe(read(resource), {
          next: (item) => op.next(item),
          complete: () =>
            void release().then(
              op.guard(() => op.complete()),
              (error: unknown) => op.fail(error),
            ),
        });
      }),
      (error: unknown) => op.fail(error),
    );
    op.finalize(() => op.context.flow.trackRelease(release()));
  });
}
