import type { MonoTypeOperatorFunction, Subscription } from 'rxjs';
import { InvalidArgumentError } from '../src/errors.js';
import { describe } from '../src/excerpt.js';
import { LoaderStateError } from '../src/loaderState.js';
import type { StreamInfo } from '../src/info.js';
import { operate } from '../src/operate.js';

/** Options of {@link epochs}. */
export interface EpochsOptions {
  /**
   * Number of the first epoch (default 0); set it when resuming a run at a later epoch. Iteration
   * `i` of a loader (see `Loader.epoch`) reads epochs `start + i * count` onwards when `count` is
   * finite.
   */
  readonly start?: number;
  /**
   * Called at the start of each epoch, before its source is subscribed: for every epoch after the
   * first, once the consumer has received every item of the one before (so the items it receives
   * after `onEpoch(e)` are epoch `e`'s).
   */
  readonly onEpoch?: (epoch: number) => void;
}

/**
 * Read the dataset `count` times (forever when omitted), telling every source and operator which
 * epoch it is reading.
 *
 * Each epoch subscribes the upstream anew with the epoch number bound in the subscription context,
 * so `shuffleBuffer` and shard-order shuffles reseed from `(seed, epoch, ...)` and reshuffle every
 * epoch, deterministically; the Flow gauge carries over, so memory stays bounded across epochs.
 * Use it instead of RxJS's `repeat`, which re-subscribes without an epoch number.
 *
 * Stages downstream that read the epoch when an item arrives (`tapWrite`, `onEpoch`) see the
 * item's epoch: the next epoch starts only when no stage holds an item of the previous one, that
 * is when the consumer has received them all. That costs one pipeline refill per epoch, as
 * PyTorch's DataLoader pays at each epoch's new iterator.
 *
 * A loader is re-iterable without it: each `for await` over a loader is the next epoch (see
 * `Loader.epoch`).
 *
 * @example
 * ```ts
 * import { batch, epochs, fromItems, shuffleBuffer } from 'rxfeed';
 * declare const samples: { image: Float32Array; label: number }[];
 * const train = fromItems(samples).pipe(shuffleBuffer(1024, { seed: 7 }), epochs(10), batch(32));
 * ```
 *
 * @param count - Number of epochs; `Infinity` (default) repeats until unsubscribed.
 * @param options - See {@link EpochsOptions}.
 * @returns An operator emitting the items of every epoch in turn; sized when finite and known.
 * @public
 */
export function epochs<T>(count = Infinity, options: EpochsOptions = {}): MonoTypeOperatorFunction<T> {
  if (count !== Infinity && (!Number.isSafeInteger(count) || count < 0)) {
    throw new InvalidArgumentError('epochs.count', `must be a non-negative integer or Infinity, got ${count}`);
  }
  const start = options.start ?? 0;
  if (!Number.isSafeInteger(start) || start < 0) {
    throw new InvalidArgumentError('epochs.start', `must be a non-negative integer, got ${start}`);
  }
  const describe = (input: StreamInfo): StreamInfo => ({
    size: input.size !== undefined && count !== Infinity ? input.size * count : undefined,
  });
  return (source) =>
    operate<T, T>(
      source,
      (op) => {
        const { context } = op;
        // Re-iterating a loader reads the next `count` epochs, not the same ones again.
        const first = start + (count === Infinity ? 0 : context.epoch * count);
        let epoch = first;
        // Loader state: the epoch being read, until the next one starts. Its source's items may
        // still be on their way to the consumer when it completes (a queue, a prefetch), and its
        // parts say which were received, so a resume starts there, not at the epoch after.
        const { tracker } = context;
        const key = tracker.keyFor('epochs', context.epoch);
        let reading = first;
        const [saved] = tracker.register(key, { save: () => ({ epoch: reading }) });
        if (saved !== undefined) epoch = restoredEpoch(saved, first, count, key);
        let mark = tracker.registered;
        let startedOne = false;
        let current: Subscription | undefined;
        let cancelWait: (() => void) | undefined;
        let active = false; // an epoch's subscription has not completed
        // One epoch at a time. A source that completes inside `subscribe` asks the pump for another
        // pass instead of recursing: a thousand epochs must not mean a thousand nested frames.
        const pump = op.pump(() => {
          cancelWait = undefined;
          if (active) return;
          if (epoch >= first + count) {
            op.complete();
            return;
          }
          // The next epoch starts once the consumer has received everything of this one, so
          // `onEpoch(e)` and the epoch stages downstream read fall between the two.
          if (epoch > first && !context.flow.idle()) {
            cancelWait = context.flow.whenIdle(pump.run);
            return;
          }
          // The epoch before was consumed whole: its sources' parts are not needed to resume.
          if (startedOne) tracker.forgetSince(mark);
          startedOne = true;
          mark = tracker.registered;
          reading = epoch;
          options.onEpoch?.(epoch);
          context.enterEpoch(epoch);
          active = true;
          current = op.subscribe(
            source,
            {
              next: (value) => op.next(value),
              complete: () => {
                // `reading` stays: the epoch's last items may still be downstream, and its parts
                // are kept until the next epoch starts, so a state taken meanwhile resumes them.
                active = false;
                pump.run();
              },
            },
            { context: context.forEpoch(epoch++), describe },
          );
        });
        pump.run();
        op.finalize(() => {
          cancelWait?.();
          current?.unsubscribe();
        });
      },
      describe,
    );
}

/** The epoch a saved `epochs` part resumes at, checked against this operator's range. */
function restoredEpoch(saved: unknown, first: number, count: number, key: string): number {
  const epoch = (saved as { epoch?: unknown } | null)?.epoch;
  if (typeof epoch !== 'number' || !Number.isSafeInteger(epoch) || epoch < first || epoch > first + count) {
    throw new LoaderStateError(
      'RXFEED_ERR_STATE_MISMATCH',
      `${key}: saved epoch ${describe(epoch)} is not in [${first}, ${first + count}]`,
      key,
    );
  }
  return epoch;
}
