import type { Observable } from 'rxjs';
import { InvalidArgumentError } from '../src/errors.js';
import { InnerSource } from '../src/fanIn.js';
import { sizeOf } from '../src/info.js';
import { produce } from '../src/operate.js';
import { deriveSeed, Random, randomSeed } from '../src/random.js';

/** Options of {@link mix}. */
export interface MixOptions {
  /**
   * Base seed (a safe integer) of the source choices; each subscription draws with
   * `deriveSeed(seed, epoch)`, so epochs differ and the same (seed, epoch) repeats exactly.
   * Without one, each subscription takes a fresh seed from `crypto.getRandomValues`.
   */
  readonly seed?: number;
  /**
   * What happens when a chosen source turns out to be exhausted: `false` (default) drops it and
   * renormalises the other weights, so every item of every source is emitted; `true` completes
   * the whole mix there, so the mixing ratio holds to the end.
   */
  readonly stopOnEmpty?: boolean;
}

/**
 * Draw each item from one of several sources, chosen at random with the given weights, as
 * tf.data's `sample_from_datasets` does: e.g. 70 % web text, 30 % books.
 *
 * For each output item a seeded {@link Random} first chooses a source (source `i` with probability
 * `weights[i] / sum(weights)`), and only then waits for that source's next item. So the output
 * depends on the seed and the sources' contents only, never on which source answers faster. When
 * the chosen source has ended, it is dropped and the choice is drawn again among the others with
 * their weights renormalised (or, with `stopOnEmpty`, the mix completes).
 *
 * Backpressure: every source is opened at subscribe, each under its own child of the pipeline's
 * Flow, gated so that it pauses with one item waiting here; a source that is slow or seldom chosen
 * never stalls the others. So this operator holds at most one item per open source (for sources
 * built on `fromPuller` or `fromItems`; a plain Observable that ignores the Flow may push more).
 * Sources of weight 0 are never subscribed. On teardown every open source is unsubscribed and
 * queued items are disposed, also when the mix completes early with `stopOnEmpty`.
 *
 * The size is known only without `stopOnEmpty` and when every source of positive weight has a
 * known size: then it is their sum.
 *
 * @example
 * ```ts
 * const corpus = mix([web, books], [0.7, 0.3], { seed: 5 });
 * ```
 *
 * @param sources - The sources to draw from.
 * @param weights - One non-negative finite weight per source, not all zero; normalised here.
 * @param options - See {@link MixOptions}.
 * @returns An Observable of items drawn from the sources.
 * @throws {@link InvalidArgumentError} when the weights do not fit the sources or the seed is not
 * a safe integer.
 * @public
 */
export function mix<T>(sources: readonly Observable<T>[], weights: readonly number[], options: MixOptions = {}): Observable<T> {
  if (weights.length !== sources.length) {
    throw new InvalidArgumentError('mix.weights', `needs one weight per source: ${sources.length} source(s), ${weights.length} weight(s)`);
  }
  weights.forEach((weight, index) => {
    if (!Number.isFinite(weight) || weight < 0) {
      throw new InvalidArgumentError(`mix.weights[${index}]`, `must be a finite non-negative number, got ${weight}`);
    }
  });
  if (sources.length > 0 && !weights.some((weight) => weight > 0)) {
    throw new InvalidArgumentError('mix.weights', 'at least one weight must be positive');
  }
  const { seed } = options;
  if (seed !== undefined && !Number.isSafeInteger(seed)) {
    throw new InvalidArgumentError('mix.seed', `must be a safe integer, got ${String(seed)}`);
  }
  const stopOnEmpty = options.stopOnEmpty ?? false;
  const inputs = [...sources];
  const baseWeights = [...weights];

  let size: number | undefined;
  if (!stopOnEmpty) {
    const sizes = inputs.filter((_, index) => baseWeights[index]! > 0).map((source) => sizeOf(source));
    if (sizes.every((one) => one !== undefined)) size = sizes.reduce((sum, one) => sum + one, 0);
  }
  return produce<T>(
    (op) => {
      // Its choices depend on draws made for items still downstream: not saved yet (see Loader.state).
      op.context.tracker.untracked('mix', 'its random choice of source cannot be saved in a loader state yet');
      const random = new Random(seed === undefined ? randomSeed() : deriveSeed(seed, op.context.epoch));
      const live = [...baseWeights]; // 0 once a source is dropped
      const slots: (InnerSource<T> | undefined)[] = inputs.map(() => undefined);
      let choice: number | undefined;

      /** A source index drawn with the live weights, or undefined when none is left. */
      const choose = (): number | undefined => {
        // Summed afresh each time (not decremented), so dropping sources accumulates no rounding.
        const total = live.reduce((sum, weight) => sum + weight, 0);
        if (total === 0) return undefined;
        let point = random.next() * total;
        let last: number | undefined;
        for (let index = 0; index < live.length; index++) {
          const weight = live[index]!;
          if (weight === 0) continue;
          last = index;
          point -= weight;
          if (point < 0) return index;
        }
        return last; // only reached through rounding, when `point` lands on `total` itself
      };

      const pump = op.pump(() => {
        while (!op.closed) {
          choice ??= choose();
          if (choice === undefined) {
            op.complete();
            return;
          }
          const slot = slots[choice]!;
          if (slot.queue.length > 0) {
            if (!pump.ready()) return;
            const [value, origins] = slot.takeWithOrigins();
            choice = undefined;
            op.emit(value, origins);
            continue;
          }
          if (slot.done) {
            if (stopOnEmpty) {
              op.complete();
              return;
            }
            live[choice] = 0;
            slot.release();
            choice = undefined;
            continue;
          }
          return; // wait for the chosen source's next item (or its end)
        }
      });
      op.finalize(() => {
        for (const slot of slots) slot?.release();
      });

      // Open every source before drawing the first choice.
      pump.runAfter(() => {
        inputs.forEach((source, index) => {
          if (op.closed || live[index] === 0) return;
          slots[index] = new InnerSource(op, source, pump.run);
        });
      });
    },
    { size },
  );
}
