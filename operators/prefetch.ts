import type { MonoTypeOperatorFunction, Subscription } from 'rxjs';
import { PREFETCH_AUTO_INITIAL, tuneBuffer } from '../src/autotune.js';
import { disposeAll } from '../src/dispose.js';
import { InvalidArgumentError } from '../src/errors.js';
import { operate } from '../src/operate.js';
import type { Origins } from '../src/origins.js';

/**
 * Decouple the work downstream from the work upstream with a bounded buffer.
 *
 * Items arrive into a queue of at most `bufferSize` (a stage of the Flow gauge: when it is full,
 * sources pause) and are delivered downstream one per scheduler task. So a slow synchronous step
 * after it (collating, building tensors) runs in its own task, and the sources before it can have
 * their next reads in flight meanwhile, as tf.data's `prefetch` overlaps producer and consumer.
 * Unlike `observeOn`, it holds no more than `bufferSize` items. Queued items are disposed on
 * teardown.
 *
 * @example
 * ```ts
 * import { batch, parallelMap, prefetch } from 'rxfeed';
 * import type { Observable } from 'rxjs';
 * declare const records: Observable<Uint8Array>;
 * declare function decode(record: Uint8Array): Promise<Float32Array>;
 * const batches = records.pipe(parallelMap(decode, { concurrency: 8 }), prefetch(64), batch(32));
 * ```
 *
 * @param bufferSize - Most items held; mandatory, as in tfjs-data. `'auto'`: the loader's
 *   autotuner (see `toLoader`'s `autotune`) sizes it while the pipeline runs, from
 *   {@link PREFETCH_AUTO_INITIAL}, raising it when the buffer was both full and empty in one period
 *   (a bigger one would have absorbed that jitter), within the memory budget; it never holds more
 *   than {@link PREFETCH_AUTO_MAX} items.
 * @returns An operator with the same items, delivered asynchronously.
 * @public
 */
export function prefetch<T>(bufferSize: number | 'auto'): MonoTypeOperatorFunction<T> {
  const auto = bufferSize === 'auto';
  const chosen = bufferSize === 'auto' ? PREFETCH_AUTO_INITIAL : bufferSize;
  if (!Number.isSafeInteger(chosen) || chosen < 1) {
    throw new InvalidArgumentError('prefetch.bufferSize', `must be a positive integer or 'auto', got ${String(chosen)}`);
  }
  return (source) =>
    operate<T, T>(source, (op) => {
      const queue: T[] = [];
      const queuedOrigins: Origins[] = [];
      let completed = false;
      let delivery: Subscription | undefined;
      let capacity = chosen;
      // Live: the Flow reads the capacity each time. Lowered, queued items stay and are delivered.
      const gauge = {
        name: 'prefetch',
        get capacity() {
          return capacity;
        },
        occupancy: () => queue.length,
      };
      const stage = op.register(gauge);
      const knob = auto
        ? tuneBuffer(op.context.flow, gauge, chosen, (value) => {
            capacity = value;
          })
        : undefined;
      if (knob !== undefined) capacity = knob.value;

      const deliver = op.guard((): void => {
        delivery = undefined;
        if (queue.length > 0) {
          const value = queue.shift()!;
          stage.left();
          op.emit(value, queuedOrigins.shift());
        }
        if (queue.length > 0) schedule();
        else if (completed) op.complete();
      });
      const schedule = (): void => {
        if (delivery === undefined && !op.closed) delivery = op.context.flow.scheduler.schedule(deliver);
      };

      op.subscribe(source, {
        next: (value) => {
          stage.entered();
          knob?.sample(value);
          queue.push(value);
          queuedOrigins.push(op.takeOrigins('prefetch'));
          schedule();
        },
        // An error is not delayed behind queued items: the pipeline is failing either way.
        complete: () => {
          completed = true;
          if (queue.length === 0) op.complete();
          else schedule();
        },
      });
      op.finalize(() => {
        knob?.unregister();
        delivery?.unsubscribe();
        queuedOrigins.length = 0;
        disposeAll(queue.splice(0));
      });
    });
}
