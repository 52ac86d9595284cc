import type { MonoTypeOperatorFunction } from 'rxjs';
import { disposeAll } from '../src/dispose.js';
import { InvalidArgumentError } from '../src/errors.js';
import { operate } from '../src/operate.js';
import { deriveSeed, Random, randomSeed } from '../src/random.js';

const TWO_POW_32 = 0x1_0000_0000;

/** Options of {@link shuffleBuffer}. */
export interface ShuffleBufferOptions {
  /**
   * Base seed (a safe integer). Each subscription shuffles with
   * `deriveSeed(seed, epoch, rank, workerIndex)`, so every epoch is shuffled differently and the
   * same (seed, epoch, rank, worker) always gives the same order. Without a seed every
   * subscription draws a fresh one from `crypto.getRandomValues`: the order is then not
   * reproducible.
   */
  readonly seed?: number;
  /**
   * Items to collect before the first one is emitted; default `size`, as tf.data does. A smaller
   * value starts sooner: from `initial` to `size` the buffer grows by one item for every item it
   * emits (it takes two for each one out, as WebDataset does), so the mix improves as it fills.
   */
  readonly initial?: number;
  /**
   * This process's rank, mixed into the seed; default the subscription's placement (`RANK`, as
   * torchrun sets it, read once per loader subscription), else 0.
   */
  readonly rank?: number;
  /**
   * This loading worker's index, mixed into the seed; default the subscription's placement: a
   * worker pipeline's part (so each thread shuffles its part differently), else 0.
   */
  readonly workerIndex?: number;
}

/**
 * Shuffle a stream with a seeded reservoir of `size` items.
 *
 * The buffer fills to `initial` items; then each arriving item takes the place of a random one in
 * the buffer, which is emitted (while the buffer is still below `size`, every second arrival only
 * adds). When the input completes, the buffer is emitted in random order, pausing whenever a stage
 * downstream is full. An item can thus move at most about `size` places earlier, and any number
 * later: choose `size` well above the length of runs of similar items in the input (a whole shard,
 * for sharded sources).
 *
 * Memory: at most `size` items are held here. They are an absorbing buffer, not a stage of the
 * Flow gauge (a full reservoir must keep taking items to emit any), so a pipeline holds up to
 * `size` items more than the sum of its stage capacities. On teardown (a `break`, `take(n)`, an
 * error) the items still held are disposed.
 *
 * The dataset size passes through unchanged.
 *
 * @example
 * ```ts
 * const train = fromItems(samples).pipe(shuffleBuffer(8192, { seed: 17 }));
 * ```
 *
 * @param size - The reservoir's capacity in items: mandatory, a positive integer.
 * @param options - See {@link ShuffleBufferOptions}.
 * @returns An operator emitting the same items in a random order.
 * @throws {@link InvalidArgumentError} when `size`, `initial`, `seed`, `rank` or `workerIndex` is
 * out of range.
 * @public
 */
export function shuffleBuffer<T>(size: number, options: ShuffleBufferOptions = {}): MonoTypeOperatorFunction<T> {
  if (!Number.isSafeInteger(size) || size < 1) {
    throw new InvalidArgumentError(
      'shuffleBuffer.size',
      `a shuffle buffer needs an explicit size, a positive integer, got ${String(size)}`,
    );
  }
  const initial = options.initial ?? size;
  if (!Number.isSafeInteger(initial) || initial < 1 || initial > size) {
    throw new InvalidArgumentError('shuffleBuffer.initial', `must be an integer from 1 to size (${size}), got ${initial}`);
  }
  const { seed } = options;
  if (seed !== undefined && !Number.isSafeInteger(seed)) {
    throw new InvalidArgumentError('shuffleBuffer.seed', `must be a safe integer, got ${String(seed)}`);
  }
  for (const name of ['rank', 'workerIndex'] as const) {
    const value = options[name];
    if (value !== undefined && !(Number.isSafeInteger(value) && value >= 0)) {
      throw new InvalidArgumentError(`shuffleBuffer.${name}`, `must be a non-negative integer, got ${value}`);
    }
  }

  return (source) =>
    // Only the size and split travel: re-opening files or ranges of the input would skip the shuffle.
    operate<T, T>(source, (op) => {
      const { context } = op;
      const placement =
        options.rank === undefined || options.workerIndex === undefined ? context.placement({}, 'shuffleBuffer') : undefined;
      const rank = options.rank ?? placement!.rank;
      const workerIndex = options.workerIndex ?? placement!.workerIndex;
      const random = new Random(seed === undefined ? randomSeed() : deriveSeed(seed, context.epoch, rank, workerIndex));
      const buffer: T[] = [];
      let filled = false; // reached `initial` once
      let growing = 0; // arrivals since then while below `size`: every second one emits
      // `random.int(size)` with its rejection bound worked out once, not on every item: the same
      // draws, so the same order for the same seed.
      const bound = size <= TWO_POW_32 ? TWO_POW_32 - (TWO_POW_32 % size) : 0;
      const slotOfFull = (): number => {
        if (bound === 0) return random.int(size);
        for (;;) {
          const draw = random.nextUint32();
          if (draw < bound) return draw % size;
        }
      };

      /** Remove a random item from the buffer (swap with the last: order inside does not matter). */
      const takeRandom = (): T => {
        const index = random.int(buffer.length);
        const taken = buffer[index]!;
        buffer[index] = buffer[buffer.length - 1]!;
        buffer.pop();
        return taken;
      };

      // The drain is the one place this operator produces items on its own: it respects the gauge.
      const drain = op.pump(() => {
        while (buffer.length > 0) {
          if (!drain.ready()) return;
          op.next(takeRandom());
        }
        op.complete();
      });

      op.subscribe(source, {
        next: (value) => {
          if (buffer.length === size) {
            const index = slotOfFull();
            const out = buffer[index]!;
            buffer[index] = value;
            op.next(out);
            return;
          }
          buffer.push(value);
          if (!filled) {
            if (buffer.length < initial) return;
            filled = true;
          }
          if (++growing % 2 === 0) op.next(takeRandom());
        },
        complete: drain.run,
      });
      op.finalize(() => disposeAll(buffer.splice(0)));
    });
}
