/**
 * Ledgers: what a source subscription's consumer has received, counted by item number.
 *
 * A source numbers its items `0, 1, 2 ...` in the order it means to emit them (for
 * `fromRandomAccess`, the rank's positions in the global plan). Items are consumed mostly in that
 * order, a few out of it (an unordered `parallelMap`, a worker pipeline's parts), so what was
 * consumed is a watermark (every item below it) and the bounded set of items consumed above it:
 * a few numbers, whatever the dataset size.
 *
 * @module
 */
import { LoaderStateError, type StatePart } from './loaderState.js';
import type { Ledger } from './origins.js';

/**
 * A set of item numbers kept as a watermark and the numbers above it, as saved in a state.
 * @internal
 */
export interface ConsumedRecord {
  /** Every item below it is in the set. */
  readonly watermark: number;
  /** The items in the set above the watermark, ascending. */
  readonly extras: readonly number[];
}

/**
 * The items of one source subscription consumed so far.
 * @internal
 */
export class ConsumedSet {
  #watermark: number;
  readonly #beyond = new Set<number>();

  constructor(saved: ConsumedRecord = { watermark: 0, extras: [] }) {
    this.#watermark = saved.watermark;
    for (const seq of saved.extras) this.#beyond.add(seq);
    this.#advance();
  }

  /** Every item below it was consumed. */
  get watermark(): number {
    return this.#watermark;
  }

  /** Items consumed above the watermark. */
  get extraCount(): number {
    return this.#beyond.size;
  }

  add(seq: number): void {
    if (seq < this.#watermark) return;
    if (seq === this.#watermark) {
      this.#watermark++;
      if (this.#beyond.size > 0) this.#advance();
      return;
    }
    this.#beyond.add(seq);
  }

  has(seq: number): boolean {
    return seq < this.#watermark || this.#beyond.has(seq);
  }

  save(): ConsumedRecord {
    return { watermark: this.#watermark, extras: [...this.#beyond].sort((a, b) => a - b) };
  }

  #advance(): void {
    while (this.#beyond.delete(this.#watermark)) this.#watermark++;
  }
}

/**
 * The ledger of a source whose items are found again by number alone (`fromRandomAccess`,
 * `fromItems`): it saves what describes the source (so a resume can check it reads the same
 * thing) and the consumed set.
 * @internal
 */
export class CountLedger implements Ledger, StatePart {
  readonly key: string;
  /** The items consumed so far. */
  readonly received: ConsumedSet;
  /**
   * Told of each item consumed here: in a worker pipeline's part, the items its own stages drop,
   * which the main thread's copy of this ledger must count.
   */
  forward: ((seq: number) => void) | undefined;
  readonly #descriptor: Readonly<Record<string, unknown>>;

  /**
   * @param key - The key it is registered under.
   * @param descriptor - What the source is (kind, size, sampler, plan); saved with the set.
   * @param consumed - Where a resumed subscription starts from.
   */
  constructor(key: string, descriptor: Readonly<Record<string, unknown>>, consumed?: ConsumedRecord) {
    this.key = key;
    this.#descriptor = descriptor;
    this.received = new ConsumedSet(consumed);
  }

  consume(seq: number): void {
    this.received.add(seq);
    this.forward?.(seq);
  }

  consumed(seq: number): boolean {
    return this.received.has(seq);
  }

  /** The ledger a part saved (its descriptor and consumed set), made again: the main thread's copy. */
  static fromSaved(key: string, saved: Readonly<Record<string, unknown>>): CountLedger {
    const { consumed, ...descriptor } = saved;
    return new CountLedger(key, descriptor, consumed as ConsumedRecord);
  }

  save(): Record<string, unknown> {
    return { ...this.#descriptor, consumed: this.received.save() };
  }
}

/**
 * The numbers in `[0, length)` not in a consumed set, in order: `at(j)` is the `j`-th of them,
 * found by a binary search over the set's extras (O(log extras), no list of what remains).
 * @internal
 */
export class Remaining {
  /** How many numbers remain. */
  readonly size: number;
  readonly #watermark: number;
  readonly #extras: readonly number[];
  /** `#gaps[i]`: how many remaining numbers lie below `#extras[i]`. */
  readonly #gaps: Float64Array;

  constructor(length: number, consumed: ConsumedRecord) {
    const watermark = Math.min(consumed.watermark, length);
    const extras = consumed.extras.filter((seq) => seq >= watermark && seq < length);
    this.#watermark = watermark;
    this.#extras = extras;
    this.#gaps = Float64Array.from(extras, (seq, i) => seq - watermark - i);
    this.size = length - watermark - extras.length;
  }

  /** The `j`-th remaining number, `j` in `[0, size)`; not checked (the hot path). */
  at(j: number): number {
    // The extras at or below the answer are those whose gap is at most j.
    let low = 0;
    let high = this.#extras.length;
    while (low < high) {
      const middle = (low + high) >>> 1;
      if (this.#gaps[middle]! <= j) low = middle + 1;
      else high = middle;
    }
    return this.#watermark + j + low;
  }
}

/**
 * Check a saved consumed set: a watermark and ascending extras above it, all within `[0, limit]`.
 *
 * @throws {@link LoaderStateError} `RXFEED_ERR_STATE_INVALID`.
 * @internal
 */
export function checkConsumed(value: unknown, limit: number, where: string): ConsumedRecord {
  const record = value as Partial<ConsumedRecord> | null;
  const bad = (why: string): never => {
    throw new LoaderStateError('RXFEED_ERR_STATE_INVALID', `${where}: ${why}`, where);
  };
  if (typeof record !== 'object' || record === null) bad('no consumed set');
  const { watermark, extras } = record!;
  if (!Number.isSafeInteger(watermark) || watermark! < 0 || watermark! > limit)
    bad(`watermark ${String(watermark)} is not in [0, ${limit}]`);
  if (!Array.isArray(extras)) bad('extras is not a list');
  let previous = watermark!;
  for (const seq of extras!) {
    if (!Number.isSafeInteger(seq) || seq <= previous || seq >= limit)
      bad(`extra ${String(seq)} is not ascending in (${watermark}, ${limit})`);
    previous = seq as number;
  }
  return { watermark: watermark!, extras: extras! };
}
