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
import { describe } from './excerpt.js';
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
 * The same set saved by what it lacks, when that is shorter (a shuffle buffer downstream consumes
 * most items above the watermark): every item in `(watermark, through]` but the `holes`.
 * @internal
 */
export interface HolesRecord {
  readonly watermark: number;
  /** The largest item in the set. */
  readonly through: number;
  /** The items in `(watermark, through)` not in the set, ascending. */
  readonly holes: readonly number[];
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

  /** {@link ConsumedSet.save}, or the set by its holes when they are fewer than its extras. */
  saveShortest(): ConsumedRecord | HolesRecord {
    const saved = this.save();
    const through = saved.extras.at(-1);
    if (through === undefined) return saved;
    const span = through - this.#watermark - 1; // numbers strictly between them
    if (span - saved.extras.length + 1 >= saved.extras.length) return saved;
    const holes: number[] = [];
    for (let seq = this.#watermark + 1; seq < through; seq++) if (!this.#beyond.has(seq)) holes.push(seq);
    return { watermark: this.#watermark, through, holes };
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
  readonly #options: LedgerOptions;

  /**
   * @param key - The key it is registered under.
   * @param descriptor - What the source is (kind, size, sampler, plan); saved with the set.
   * @param consumed - Where a resumed subscription starts from.
   * @param options - See {@link LedgerOptions}.
   */
  constructor(key: string, descriptor: Readonly<Record<string, unknown>>, consumed?: ConsumedRecord, options: LedgerOptions = {}) {
    this.key = key;
    this.#descriptor = descriptor;
    this.#options = options;
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
    const holes = typeof consumed === 'object' && consumed !== null && 'holes' in consumed;
    // The set normalises the record itself: no set is made just to save it again.
    return new CountLedger(key, descriptor, holes ? extrasOf(consumed as HolesRecord) : (consumed as ConsumedRecord), {
      savesHoles: holes,
    });
  }

  save(): Record<string, unknown> {
    const consumed = this.#options.savesHoles === true ? this.received.saveShortest() : this.received.save();
    return { ...this.#descriptor, consumed, ...this.#options.extra?.() };
  }
}

/**
 * Options of a {@link CountLedger}.
 * @internal
 */
export interface LedgerOptions {
  /** Save the consumed set by its holes when shorter (streaming sources under a shuffle buffer). */
  readonly savesHoles?: boolean;
  /** More fields to save beside the set (where a streaming source resumes reading). */
  readonly extra?: () => Record<string, unknown>;
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
    bad(`watermark ${describe(watermark)} is not in [0, ${limit}]`);
  if (!Array.isArray(extras)) bad('extras is not a list');
  let previous = watermark!;
  for (const seq of extras!) {
    if (!Number.isSafeInteger(seq) || seq <= previous || seq >= limit)
      bad(`extra ${describe(seq)} is not ascending in (${watermark}, ${limit})`);
    previous = seq as number;
  }
  return { watermark: watermark!, extras: extras! };
}

/**
 * The most items a set saved by its holes may span above its watermark (4 Mi): far more than any
 * shuffle buffer lets a consumer run ahead of its oldest unconsumed item.
 * @internal
 */
export const MAX_HOLES_SPAN = 1 << 22;

/** The extras of a set saved by its holes. */
function extrasOf(saved: HolesRecord): ConsumedRecord {
  const extras: number[] = [];
  let hole = 0;
  for (let seq = saved.watermark + 1; seq <= saved.through; seq++) {
    if (hole < saved.holes.length && saved.holes[hole] === seq) hole++;
    else extras.push(seq);
  }
  return { watermark: saved.watermark, extras };
}

/**
 * Check a saved set given either way (see {@link ConsumedSet.saveShortest}).
 *
 * @throws {@link LoaderStateError} `RXFEED_ERR_STATE_INVALID`.
 * @internal
 */
export function checkConsumedEither(value: unknown, limit: number, where: string): ConsumedRecord {
  const record = value as Partial<HolesRecord> | null;
  if (typeof record !== 'object' || record === null || !('holes' in record)) return checkConsumed(value, limit, where);
  const { watermark, through, holes } = record;
  const bad = (why: string): never => {
    throw new LoaderStateError('RXFEED_ERR_STATE_INVALID', `${where}: ${why}`, where);
  };
  if (!Number.isSafeInteger(watermark) || watermark! < 0) bad(`watermark ${describe(watermark)} is not a non-negative integer`);
  if (!Number.isSafeInteger(through) || through! <= watermark! || through! >= limit)
    bad(`through ${describe(through)} is not in (${watermark}, ${limit})`);
  if (!Array.isArray(holes)) bad('holes is not a list');
  // A state is untrusted input: the extras it stands for are materialised, so their number is bounded.
  if (through! - watermark! > MAX_HOLES_SPAN) bad(`spans ${through! - watermark!} items, more than ${MAX_HOLES_SPAN}`);
  let previous = watermark!;
  for (const seq of holes!) {
    if (!Number.isSafeInteger(seq) || seq <= previous || seq >= through!)
      bad(`hole ${describe(seq)} is not ascending in (${watermark}, ${through})`);
    previous = seq as number;
  }
  return extrasOf({ watermark: watermark!, through: through!, holes: holes! });
}
