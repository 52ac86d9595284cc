/**
 * The rules behind a worker pipeline's `threads: 'auto'` and `credits: 'auto'`, as pure functions
 * of what was measured, so that specs can check them on known curves without threads or clocks.
 *
 * Threads cannot change while an epoch is read (each part splits the data by `numWorkers`), so
 * `'auto'` threads climb across epochs: each subscription reads at a count chosen from the
 * throughput of the earlier ones. Credits change live, per part, from what the main thread sees
 * when the consumer asks for an item.
 *
 * @module
 * @internal
 */

/** One epoch's measurement: the threads it ran with and the items it delivered per second. @internal */
export interface ThreadTrial {
  readonly threads: number;
  readonly itemsPerSecond: number;
}

/**
 * How much more throughput a count of threads must show to beat a smaller one: the climb prefers
 * fewer threads when the difference is within measurement noise (and a consumer-bound loop, whose
 * throughput no count changes, settles on few threads).
 * @internal
 */
export const THREAD_TOLERANCE = 0.05;

/**
 * The threads of the next epoch, from the epochs measured so far (the latest measurement of each
 * count replaces earlier ones, so a count read again is re-evaluated):
 *
 * 1. Nothing measured: `budget` (the default of a fixed pipeline, one thread per core).
 * 2. Otherwise the best count is the fewest threads whose throughput is within
 *    {@link THREAD_TOLERANCE} of the highest measured. Between it and the nearest measured count
 *    on each side (0 below and `budget + 1` above when there is none) lie counts not yet tried:
 *    the next epoch tries the middle of the wider gap, `best - floor(gap / 2)` or
 *    `best + floor(gap / 2)` (below on a tie).
 * 3. When both gaps are 1 (both neighbours measured, or a bound), the best count is kept.
 *
 * On a curve with one peak this is a bracketing search: the peak lies between the best count's
 * measured neighbours, and each try halves a gap, so it ends on the peak (or the fewest threads
 * within the tolerance of it) in about `2 log2(budget)` epochs; every count is in `[1, budget]`.
 * @internal
 */
export function nextThreads(trials: readonly ThreadTrial[], budget: number): number {
  const measured = new Map<number, number>();
  for (const { threads, itemsPerSecond } of trials) {
    if (threads >= 1 && threads <= budget && Number.isFinite(itemsPerSecond)) measured.set(threads, itemsPerSecond);
  }
  if (measured.size === 0) return budget;
  const best = bestThreads(measured);
  let below = 0;
  let above = budget + 1;
  for (const threads of measured.keys()) {
    if (threads < best && threads > below) below = threads;
    if (threads > best && threads < above) above = threads;
  }
  const gapBelow = best - below;
  const gapAbove = above - best;
  if (gapBelow <= 1 && gapAbove <= 1) return best;
  return gapBelow >= gapAbove ? best - Math.floor(gapBelow / 2) : best + Math.floor(gapAbove / 2);
}

/** The fewest threads whose throughput is within the tolerance of the highest. */
function bestThreads(measured: ReadonlyMap<number, number>): number {
  const highest = Math.max(...measured.values());
  let best = Infinity;
  for (const [threads, itemsPerSecond] of measured) {
    if (itemsPerSecond * (1 + THREAD_TOLERANCE) >= highest && threads < best) best = threads;
  }
  return best;
}

/** Credits a part starts with under `credits: 'auto'` (a fixed pipeline's default). @internal */
export const START_CREDITS = 2;

/**
 * Items a part hands on without the consumer waiting, per credit it holds, before it gives a
 * credit back: long enough that a raise is not undone by the next few items.
 * @internal
 */
export const LOWER_AFTER_PER_CREDIT = 4;

/**
 * The live credits of one part under `credits: 'auto'`, always in `[1, max]`:
 *
 * - **raise** by one when the consumer waited on the part (it asked for an item, and the part
 *   whose turn it was, or with `ordered: false` every part, had none queued while its thread was
 *   producing: all its credits were back with it), provided the part handed on at least as many
 *   items as it has credits since its last change (or window, below), so that a raise is seen
 *   before the next;
 * - **lower** by one when the part handed on {@link LOWER_AFTER_PER_CREDIT} items per credit
 *   since its last change and the consumer never waited on any part meanwhile (the loop is the
 *   bottleneck: items queued on the main thread only cost memory); after such a window in which
 *   the consumer did wait, a new window starts.
 * @internal
 */
export class CreditTuner {
  /** The part's credits now. */
  credits = START_CREDITS;
  #handed = 0;
  #waitsAtChange: number;

  /**
   * @param max - The most credits (the memory bound: the main thread holds at most `threads x max` items).
   * @param waits - The subscription's count of consumer waits now.
   */
  constructor(
    readonly max: number,
    waits = 0,
  ) {
    this.credits = Math.min(START_CREDITS, max);
    this.#waitsAtChange = waits;
  }

  /** The consumer waited on this part; `waits` is the subscription's count including this one. True when the credits changed. */
  waited(waits: number): boolean {
    if (this.credits >= this.max || this.#handed < this.credits) return false;
    this.credits++;
    this.#changed(waits);
    return true;
  }

  /** One of the part's items was handed on; `waits` is the subscription's count of consumer waits. True when the credits changed. */
  handed(waits: number): boolean {
    this.#handed++;
    if (this.#handed < LOWER_AFTER_PER_CREDIT * this.credits) return false;
    // A whole window of items: lower unless the consumer waited meanwhile; either way a new window starts.
    const lower = waits === this.#waitsAtChange && this.credits > 1;
    if (lower) this.credits--;
    this.#changed(waits);
    return lower;
  }

  #changed(waits: number): void {
    this.#handed = 0;
    this.#waitsAtChange = waits;
  }
}
