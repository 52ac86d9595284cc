import type { Observable } from 'rxjs';
import { InnerSource } from '../src/fanIn.js';
import { sizeOf } from '../src/info.js';
import { produce } from '../src/operate.js';
import { appendOrigins, OriginList } from '../src/origins.js';

/**
 * Read several sources in lockstep and emit one tuple `[a, b, ...]` per step, one item from each:
 * AIStore's `AISMultiShardStream` case, where parallel shards hold the parts of each sample
 * (images in one, labels in another) in the same order.
 *
 * Every source is opened at subscribe, each under its own child of the pipeline's Flow, gated so
 * that it pauses with one item waiting here: at most one item per source is held (for sources
 * built on `fromPuller` or `fromItems`; a plain Observable that ignores the Flow may push more),
 * and a slow source never stalls the others' reading ahead. A tuple is emitted as soon as every
 * source has an item waiting.
 *
 * The stream completes as soon as any source has ended with nothing waiting, since no further
 * tuple can be made: the other sources are then unsubscribed (closing their resources) and the
 * items they had waiting are disposed, not emitted. Errors and unsubscribing do the same.
 *
 * The size is the smallest of the sources' sizes, when all are known.
 *
 * @example
 * ```ts
 * import { zipShards } from 'rxfeed';
 * import type { Observable } from 'rxjs';
 * declare const imageRecords: Observable<Uint8Array>, labelRecords: Observable<number>;
 * const pairs = zipShards([imageRecords, labelRecords]); // Observable<[Image, Label]>
 * ```
 *
 * @param sources - The sources to read in lockstep.
 * @returns An Observable of tuples, one item of each source in each.
 * @public
 */
export function zipShards<T extends readonly unknown[]>(sources: readonly [...{ [K in keyof T]: Observable<T[K]> }]): Observable<T> {
  const inputs: readonly Observable<unknown>[] = [...sources];

  const sizes = inputs.map((source) => sizeOf(source));
  const size = inputs.length > 0 && sizes.every((one) => one !== undefined) ? Math.min(...sizes) : undefined;
  return produce<T>(
    (op) => {
      if (inputs.length === 0) {
        // Like RxJS's zip([]): no tuple can be made.
        op.complete();
        return;
      }
      const slots: InnerSource<unknown>[] = [];
      const pump = op.pump(() => {
        while (!op.closed) {
          if (slots.some((slot) => slot.exhausted)) {
            op.complete(); // teardown disposes what the other sources had waiting
            return;
          }
          if (!slots.every((slot) => slot.queue.length > 0)) return; // wait for the missing items
          if (!pump.ready()) return;
          const origins = new OriginList();
          let known = true;
          const tuple = slots.map((slot) => {
            const [value, itsOrigins] = slot.takeWithOrigins();
            known = appendOrigins(origins, itsOrigins) && known;
            return value;
          });
          op.emit(tuple as unknown as T, known ? origins : undefined);
        }
      });
      op.finalize(() => {
        for (const slot of slots) slot.release();
      });

      // Open every source before the first tuple.
      pump.runAfter(() => {
        for (const source of inputs) {
          if (op.closed) break;
          slots.push(new InnerSource(op, source, pump.run));
        }
      });
    },
    { size: inputs.length === 0 ? 0 : size },
  );
}
