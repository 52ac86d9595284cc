import { Observable, type MonoTypeOperatorFunction, type Subscription } from 'rxjs';
import { currentContext, subscribeWithin } from '../src/context.js';
import { InvalidArgumentError } from '../src/errors.js';
import { infoOf, withInfo } from '../src/info.js';

/** Options of {@link epochs}. */
export interface EpochsOptions {
  /** Number of the first epoch (default 0); set it when resuming a run at a later epoch. */
  readonly start?: number;
  /** Called at the start of each epoch, before its source is subscribed. */
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
 * @example
 * ```ts
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
  return (source) => {
    const repeated = new Observable<T>((subscriber) => {
      const { flow } = currentContext();
      let current: Subscription | undefined;
      let epoch = start;
      // A trampoline rather than recursion: a synchronous source completes inside `subscribe`,
      // and a thousand epochs must not mean a thousand nested stack frames.
      let subscribing = false;
      let completedWhileSubscribing = false;
      const next = (): void => {
        while (!subscriber.closed) {
          if (epoch >= start + count) {
            subscriber.complete();
            return;
          }
          options.onEpoch?.(epoch);
          completedWhileSubscribing = false;
          subscribing = true;
          current = subscribeWithin(
            { flow, epoch: epoch++ },
            source,
            {
              next: (value) => subscriber.next(value),
              error: (error: unknown) => subscriber.error(error),
              complete: () => {
                if (subscribing) completedWhileSubscribing = true;
                else next();
              },
            },
            subscriber,
          );
          subscribing = false;
          if (!completedWhileSubscribing) return;
        }
      };
      next();
      return () => current?.unsubscribe();
    });
    const size = infoOf(source).size;
    return withInfo(repeated, { size: size !== undefined && count !== Infinity ? size * count : undefined });
  };
}
