import type { MonoTypeOperatorFunction } from 'rxjs';
import { disposeAll } from '../src/dispose.js';
import { InvalidArgumentError } from '../src/errors.js';
import { describe } from '../src/excerpt.js';
import { LoaderStateError } from '../src/loaderState.js';
import { operate } from '../src/operate.js';
import { checkRefs, EmittedLog, originId, originRef, refId, type OriginRef } from '../src/emittedLog.js';
import { OriginList, type Origins } from '../src/origins.js';
import { deriveSeed, Random, randomSeed, type RandomState } from '../src/random.js';

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
 * import { fromItems, shuffleBuffer } from 'rxfeed';
 * declare const samples: { image: Float32Array; label: number }[];
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
      let random = new Random(seed === undefined ? randomSeed() : deriveSeed(seed, context.epoch, rank, workerIndex));
      const buffer: T[] = [];
      const bufferOrigins: Origins[] = []; // each buffered item's, in the same slot
      let filled = false; // reached `initial` once
      let growing = 0; // arrivals since then while below `size`: every second one emits
      // Loader state (see Loader.state): the items emitted and not yet received downstream.
      const emitted = new EmittedLog();
      // After a resume: the saved buffer and emitted items, read again by the source (see `Restoring`);
      // then the emitted ones, emitted again in their order; items arriving meanwhile wait.
      let restoring: Restoring<T> | undefined;
      const replay: [T, Origins][] = [];
      const waiting: [T, Origins][] = [];
      let upstreamDone = false;

      const { tracker } = context;
      const key = tracker.keyFor('shuffleBuffer', context.epoch);
      const saved = ownPart(tracker.restored(key), rank, workerIndex, key);
      tracker.register(key, {
        save: () =>
          restoring?.saved ?? {
            kind: 'shuffleBuffer',
            rank,
            workerIndex,
            size,
            random: random.state,
            filled,
            growing,
            slots: bufferOrigins.map((origins) => originRef(origins, key)),
            emitted: [...emitted.refs(key), ...replay.map(([, origins]) => originRef(origins, key))],
          },
      });
      if (saved !== undefined) {
        restoring = new Restoring<T>(saved, size, key);
        random = restoring.random;
        filled = saved.filled;
        growing = saved.growing;
        buffer.length = saved.slots.length;
        bufferOrigins.length = saved.slots.length;
        if (restoring.complete) restoring = undefined; // saved before it held anything
      }

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

      const emit = (value: T, origins: Origins): void => emitted.emit(op, value, origins);

      /** Emit a random item of the buffer (swapped with the last: order inside does not matter). */
      const emitRandom = (): void => {
        const index = random.int(buffer.length);
        const value = buffer[index]!;
        const origins = bufferOrigins[index];
        buffer[index] = buffer[buffer.length - 1]!;
        bufferOrigins[index] = bufferOrigins[bufferOrigins.length - 1];
        buffer.pop();
        bufferOrigins.pop();
        emit(value, origins);
      };

      const accept = (value: T, origins: Origins): void => {
        if (buffer.length === size) {
          const index = slotOfFull();
          const out = buffer[index]!;
          const outOrigins = bufferOrigins[index];
          buffer[index] = value;
          bufferOrigins[index] = origins;
          emit(out, outOrigins);
          return;
        }
        buffer.push(value);
        bufferOrigins.push(origins);
        if (!filled) {
          if (buffer.length < initial) return;
          filled = true;
        }
        if (++growing % 2 === 0) emitRandom();
      };

      // Emits on its own (the replay after a resume, the drain at the end): it respects the gauge.
      const pump = op.pump(() => {
        if (restoring !== undefined) return;
        while (replay.length > 0) {
          if (!pump.ready()) return;
          const [value, origins] = replay.shift()!;
          emit(value, origins);
        }
        while (waiting.length > 0 && !op.closed) {
          const [value, origins] = waiting.shift()!;
          accept(value, origins);
        }
        if (!upstreamDone) return;
        while (buffer.length > 0) {
          if (!pump.ready()) return;
          emitRandom();
        }
        op.complete();
      });

      op.subscribe(source, {
        next: (value) => {
          const origins = op.takeOrigins('shuffleBuffer');
          if (origins instanceof OriginList) {
            tracker.untracked('shuffleBuffer', 'its items are made of several source items (batches): shuffle before batching');
          }
          if (restoring !== undefined) {
            if (!restoring.place(value, origins, buffer, bufferOrigins, replay)) waiting.push([value, origins]);
            if (restoring.complete) {
              restoring = undefined;
              pump.run();
            }
            return;
          }
          if (replay.length > 0 || waiting.length > 0) {
            waiting.push([value, origins]);
            pump.run();
            return;
          }
          accept(value, origins);
        },
        complete: () => {
          upstreamDone = true;
          if (restoring !== undefined) {
            throw new LoaderStateError(
              'RXFEED_ERR_STATE_MISMATCH',
              `${key}: the input ended before it read again the ${restoring.missing} item(s) the saved buffer held; ` +
                'was the state saved with another input?',
              key,
            );
          }
          pump.run();
        },
      });
      // The origins stay: a state taken after a `break` (or once the buffer completed while its last
      // items are still downstream) still says what the buffer held and emitted.
      op.finalize(() => {
        disposeAll(buffer.splice(0).filter((_, i) => !restoring?.isHole(i)));
        for (const entry of replay) {
          disposeAll([entry[0]]);
          entry[0] = undefined as T;
        }
        disposeAll(waiting.splice(0).map(([value]) => value));
      });
      pump.run();
    });
}

/** What a shuffle buffer saves: its generator, its slots and what it emitted that is not yet consumed. */
interface SavedShuffle {
  readonly kind: 'shuffleBuffer';
  readonly rank: number;
  readonly workerIndex: number;
  readonly size: number;
  readonly random: RandomState;
  readonly filled: boolean;
  readonly growing: number;
  /** Each slot's item, as `[ledger key, item number]`. */
  readonly slots: readonly OriginRef[];
  /** The items emitted and not consumed, in order. */
  readonly emitted: readonly OriginRef[];
}

/** The saved part for this rank and worker: the one state's, or the matching one of several ranks' states. */
function ownPart(saved: readonly unknown[], rank: number, workerIndex: number, key: string): SavedShuffle | undefined {
  if (saved.length === 0) return undefined;
  const parts = saved.map((part) => checkSaved(part, key));
  const own = parts.length === 1 ? parts[0] : parts.find((part) => part.rank === rank && part.workerIndex === workerIndex);
  if (own === undefined) {
    throw new LoaderStateError(
      'RXFEED_ERR_STATE_MISMATCH',
      `${key}: none of the ${parts.length} states given was saved by rank ${rank}`,
      key,
    );
  }
  return own;
}

function checkSaved(value: unknown, key: string): SavedShuffle {
  const part = value as Partial<SavedShuffle> | null;
  const invalid = (why: string): never => {
    throw new LoaderStateError('RXFEED_ERR_STATE_INVALID', `${key}: ${why}`, key);
  };
  if (typeof part !== 'object' || part === null || part.kind !== 'shuffleBuffer')
    invalid(`expected a shuffle buffer's part, got ${describe(value)}`);
  const held = new Set<string>(); // an item is in one slot, or emitted: not both, not twice
  const slots = checkRefs(part!.slots, key, 'slots', held);
  checkRefs(part!.emitted, key, 'emitted', held);
  if (!Number.isSafeInteger(part!.size) || slots.length > part!.size!)
    invalid(`${slots.length} slots do not fit size ${describe(part!.size)}`);
  if (typeof part!.filled !== 'boolean' || !Number.isSafeInteger(part!.growing)) invalid('filled/growing are malformed');
  return part as SavedShuffle;
}

/**
 * A shuffle buffer resuming: the source reads again every item its consumer had not received,
 * among them those the saved buffer held and those it had emitted; each is put back in its slot
 * or in the replay, found by its origin. Until all are back, other items wait.
 */
class Restoring<T> {
  readonly saved: SavedShuffle;
  readonly random: Random;
  /** Where each awaited item goes: slot `i`, or replay position `-1 - j`. */
  readonly #places = new Map<string, number>();
  readonly #replay: ([T, Origins] | undefined)[];
  readonly #holes: Set<number>;

  constructor(saved: SavedShuffle, size: number, key: string) {
    if (saved.size !== size) {
      throw new LoaderStateError(
        'RXFEED_ERR_STATE_MISMATCH',
        `${key}: the state was saved by a buffer of ${saved.size} items, this one holds ${size}`,
        key,
      );
    }
    try {
      this.random = Random.fromState(saved.random);
    } catch {
      throw new LoaderStateError('RXFEED_ERR_STATE_INVALID', `${key}: the generator state ${describe(saved.random)} is malformed`, key);
    }
    this.saved = saved;
    saved.slots.forEach((ref, slot) => this.#places.set(refId(ref), slot));
    saved.emitted.forEach((ref, j) => this.#places.set(refId(ref), -1 - j));
    this.#replay = new Array<[T, Origins] | undefined>(saved.emitted.length);
    this.#holes = new Set(saved.slots.map((_, slot) => slot));
  }

  /** Items still awaited. */
  get missing(): number {
    return this.#places.size;
  }

  get complete(): boolean {
    return this.#places.size === 0;
  }

  /** Whether slot `i` is still empty (nothing to dispose there). */
  isHole(i: number): boolean {
    return this.#holes.has(i);
  }

  /**
   * Put an arriving item back where it was; `false` when it is not one the state awaits. Once all
   * are back, the emitted ones are moved to `replay`, in their order.
   */
  place(value: T, origins: Origins, buffer: T[], bufferOrigins: Origins[], replay: [T, Origins][]): boolean {
    const id = originId(origins);
    const place = id === undefined ? undefined : this.#places.get(id);
    if (place === undefined) return false;
    this.#places.delete(id!);
    if (place >= 0) {
      buffer[place] = value;
      bufferOrigins[place] = origins;
      this.#holes.delete(place);
    } else {
      this.#replay[-1 - place] = [value, origins];
    }
    if (this.complete) for (const entry of this.#replay) replay.push(entry!);
    return true;
  }
}
