import type { Observable, Subscription } from 'rxjs';
import { sizeOf } from '../src/info.js';
import { produce } from '../src/operate.js';

/**
 * Read sources one after the other: each is subscribed only when the previous one completes.
 *
 * Unlike RxJS's `concat` or `concatMap`, every source is subscribed with the pipeline's context
 * (its Flow and epoch) bound again, though the subscription happens later, when the previous
 * source completes from some scheduled callback. With a plain `concat`, any source after the first
 * is subscribed outside the sink's context, sees no Flow, and reads ahead without backpressure.
 *
 * Memory: this operator holds no item; each source emits straight through it and pauses as the
 * pipeline's Flow tells it. Only one source is open at a time, and it is unsubscribed (its
 * resources closed) on completion, on error or when the consumer leaves; later sources are never
 * subscribed then.
 *
 * The size is the sum of the sources' sizes, when all are known.
 *
 * @example
 * ```ts
 * import { concatSources } from 'rxfeed';
 * import { fromTFRecord } from 'rxfeed/tfrecord';
 * declare const files: string[];
 * const all = concatSources(...files.map((file) => fromTFRecord([file])));
 * ```
 *
 * @param sources - The sources, in reading order.
 * @returns An Observable of every item of every source, in order.
 * @public
 */
export function concatSources<T>(...sources: Observable<T>[]): Observable<T> {
  const inputs = [...sources];

  const sizes = inputs.map((source) => sizeOf(source));
  const size = sizes.every((one) => one !== undefined) ? sizes.reduce((sum, one) => sum + one, 0) : undefined;
  return produce<T>(
    (op) => {
      let nextInput = 0;
      let current: Subscription | undefined;
      let active = false; // a source is subscribed and has not completed

      // One source at a time. A source that completes inside `subscribe` asks the pump for
      // another pass instead of recursing, so a thousand synchronous sources nest no frames.
      const pump = op.pump(() => {
        if (active) return;
        if (nextInput >= inputs.length) {
          op.complete();
          return;
        }
        active = true;
        current = op.subscribe(
          inputs[nextInput++]!,
          {
            next: (value) => op.next(value),
            complete: () => {
              active = false;
              pump.run();
            },
          },
          { describe: false },
        );
      });

      pump.run();
      op.finalize(() => current?.unsubscribe());
    },
    { size },
  );
}
