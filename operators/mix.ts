import type { Observable } from 'rxjs';
import { InvalidArgumentError } from '../src/errors.js';
import { checkRefs, type OriginRef } from '../src/emittedLog.js';
import { describe } from '../src/excerpt.js';
import { FanInEmissions, InnerSource } from '../src/fanIn.js';
import { LoaderStateError } from '../src/loaderState.js';
import { sizeOf } from '../src/info.js';
import { produce } from '../src/operate.js';
import { deriveSeed, Random, randomSeed, type RandomState } from '../src/random.js';

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
 * import { mix } from 'rxfeed';
 * import type { Observable } from 'rxjs';
 * declare const web: Observable<string>, books: Observable<string>;
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
      let random = new Random(seed === undefined ? randomSeed() : deriveSeed(seed, op.context.epoch));
      let live = [...baseWeights]; // 0 once a source is dropped
      const slots: (InnerSource<T> | undefined)[] = inputs.map(() => undefined);
      let choice: number | undefined;

      // Loader state (see Loader.state): the generator, the weights left, a choice drawn and not yet
      // served, and the items emitted that the consumer has not received. Each input's parts are
      // keyed under this mix and its index, so they keep their keys whichever inputs are open.
      const { tracker } = op.context;
      const key = tracker.keyFor('mix', op.context.epoch);
      // After a resume: the items emitted before, gathered back from their inputs, then emitted
      // again in their order before any new choice.
      const emissions = new FanInEmissions<T>(op, key);
      const saved: SavedMix | undefined = restoredMix(
        tracker.register(key, {
          save: () =>
            emissions.restoring && saved !== undefined
              ? { kind: 'mix', ...saved }
              : { kind: 'mix', random: random.state, live, choice: choice ?? null, emitted: emissions.refs() },
        }),
        inputs.length,
        key,
      );
      if (saved !== undefined) {
        random = Random.fromState(saved.random);
        live = [...saved.live];
        choice = saved.choice ?? undefined;
      }

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
        if (!emissions.replayed(slots, pump)) return;
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
            emissions.emit(value, origins);
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
        emissions.release();
      });

      // Open every source before drawing the first choice.
      pump.runAfter(() => {
        inputs.forEach((source, index) => {
          // A resumed mix opens the inputs it had dropped too: items it emitted from them may be due again.
          if (op.closed || (saved === undefined ? live[index] : baseWeights[index]) === 0) return;
          slots[index] = new InnerSource(op, source, pump.run, `${key}/${index}`);
        });
        // Gathered once the inputs are open: before, none could have ended.
        if (saved !== undefined && saved.emitted.length > 0) emissions.resume(saved.emitted, 'mix');
      });
    },
    { size },
  );
}

/** What a mix saves in a loader state. */
interface SavedMix {
  readonly random: RandomState;
  readonly live: readonly number[];
  readonly choice: number | null;
  readonly emitted: readonly OriginRef[];
}

/** The one saved part (a mix reads one rank's inputs), checked; undefined for a fresh start. */
function restoredMix(saved: readonly unknown[], inputs: number, key: string): SavedMix | undefined {
  if (saved.length === 0) return undefined;
  const part = saved[0] as Partial<SavedMix> & { kind?: unknown };
  const invalid = (why: string): never => {
    throw new LoaderStateError('RXFEED_ERR_STATE_INVALID', `${key}: ${why}`, key);
  };
  if (typeof part !== 'object' || part === null || part.kind !== 'mix') invalid(`expected a mix's part, got ${describe(part)}`);
  if (!Array.isArray(part.live) || part.live.length !== inputs || !part.live.every((weight) => Number.isFinite(weight) && weight >= 0)) {
    throw new LoaderStateError(
      'RXFEED_ERR_STATE_MISMATCH',
      `${key}: the state was saved by a mix of other inputs (${describe(part.live)})`,
      key,
    );
  }
  if (part.choice !== null && !(Number.isSafeInteger(part.choice) && part.choice! >= 0 && part.choice! < inputs))
    invalid(`choice ${describe(part.choice)}`);
  try {
    Random.fromState(part.random as RandomState);
  } catch {
    invalid(`the generator state ${describe(part.random)} is malformed`);
  }
  return { random: part.random!, live: part.live, choice: part.choice ?? null, emitted: checkRefs(part.emitted, key, 'emitted') };
}
