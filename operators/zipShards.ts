import { Observable, type Subscription } from 'rxjs';
import { currentContext, subscribeWithin } from '../src/context.js';
import { disposeAll } from '../src/dispose.js';
import { Flow } from '../src/flow.js';
import { sizeOf, withInfo } from '../src/info.js';

/** One open source: its queue of at most one item (for flow-aware sources) and its child Flow. */
interface Slot {
  readonly queue: unknown[];
  readonly flow: Flow;
  subscription: Subscription | undefined;
  done: boolean;
}

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
 * const pairs = zipShards([imageRecords, labelRecords]); // Observable<[Image, Label]>
 * ```
 *
 * @param sources - The sources to read in lockstep.
 * @returns An Observable of tuples, one item of each source in each.
 * @public
 */
export function zipShards<T extends readonly unknown[]>(sources: readonly [...{ [K in keyof T]: Observable<T[K]> }]): Observable<T> {
  const inputs: readonly Observable<unknown>[] = [...sources];

  const zipped = new Observable<T>((subscriber) => {
    const context = currentContext();
    const slots: Slot[] = [];
    let ended = false;
    let driving = false;
    let again = false;
    let cancelPark: (() => void) | undefined;

    const fail = (error: unknown): void => {
      if (ended) return;
      ended = true;
      subscriber.error(error);
    };

    const step = (): void => {
      cancelPark = undefined;
      while (!ended && !subscriber.closed) {
        if (slots.some((slot) => slot.done && slot.queue.length === 0)) {
          ended = true;
          subscriber.complete(); // teardown disposes what the other sources had waiting
          return;
        }
        if (!slots.every((slot) => slot.queue.length > 0)) return; // wait for the missing items
        if (context.flow.saturated()) {
          cancelPark = context.flow.whenReady(drive);
          return;
        }
        const tuple = slots.map((slot) => slot.queue.shift()) as unknown as T;
        for (const slot of slots) slot.flow.notify(); // every gate opened
        subscriber.next(tuple);
      }
    };

    const drive = (): void => {
      if (driving) {
        again = true;
        return;
      }
      driving = true;
      try {
        do {
          again = false;
          cancelPark?.();
          step();
        } while (again && !ended);
      } finally {
        driving = false;
      }
    };

    if (inputs.length === 0) {
      // Like RxJS's zip([]): no tuple can be made.
      subscriber.complete();
      return undefined;
    }

    driving = true; // open every source before the first tuple
    try {
      for (const source of inputs) {
        if (ended) break;
        const queue: unknown[] = [];
        const slot: Slot = {
          queue,
          flow: new Flow({ parent: context.flow, gate: () => queue.length >= 1 }),
          subscription: undefined,
          done: false,
        };
        slots.push(slot);
        slot.subscription = subscribeWithin(
          { flow: slot.flow, epoch: context.epoch },
          source,
          {
            next: (value) => {
              queue.push(value);
              drive();
            },
            error: fail,
            complete: () => {
              slot.done = true;
              drive();
            },
          },
          subscriber,
        );
      }
    } finally {
      driving = false;
    }
    drive();

    return () => {
      ended = true;
      cancelPark?.();
      for (const slot of slots) {
        slot.subscription?.unsubscribe();
        slot.flow.dispose();
        disposeAll(slot.queue.splice(0));
      }
    };
  });

  const sizes = inputs.map((source) => sizeOf(source));
  const size = inputs.length > 0 && sizes.every((one) => one !== undefined) ? Math.min(...sizes) : undefined;
  return withInfo(zipped, { size: inputs.length === 0 ? 0 : size });
}
