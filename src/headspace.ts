/**
 * Headspace: how much faster the training loop would run with a perfect loader.
 *
 * The loop is timed twice over the same batches: once fed by the real loader (its waits and any
 * CPU the loader's work takes from the step), then fed from a cache of those batches, as SPDL's
 * and DALI's tools replay cached batches. The gap is the most a faster loader could give.
 *
 * @module
 */
import { disposeAll, disposeItem } from './dispose.js';
import { EmptyPipelineError, InvalidArgumentError } from './errors.js';
import type { Loader } from './loader.js';

/**
 * Options of {@link measureHeadspace}.
 * @public
 */
export interface MeasureHeadspaceOptions {
  /**
   * Steps timed: batches the loop takes from the loader, then the same batches replayed from the
   * cache; default 50. It is also the bound on the cache: at most `steps` batches are held at once
   * (plus the loader's own `prefetch`).
   */
  readonly steps?: number;
  /**
   * Steps run first and not timed (default 5), so the loader's queues are full and the step's
   * first-call costs (compilation, allocation) are paid before the timing starts. Their batches
   * are not cached.
   */
  readonly warmup?: number;
  /**
   * The clock, in milliseconds; default `performance.now()`. A fake clock that the step and the
   * source advance makes the measurement exact in a test.
   */
  readonly now?: () => number;
}

/**
 * What {@link measureHeadspace} measured.
 * @public
 */
export interface Headspace {
  /** Steps timed in each run (fewer than asked when the loader ended first). */
  readonly steps: number;
  /** Milliseconds a step took fed by the loader: the wait for the batch plus the step. */
  readonly loaderMsPerStep: number;
  /** Milliseconds a step took fed from the cache of the same batches: the perfect loader. */
  readonly cachedMsPerStep: number;
  /**
   * `loaderMsPerStep / cachedMsPerStep`: how many times faster the loop would run with a perfect
   * loader (1 when the loader costs nothing; `Infinity` when a cached step took no measurable time).
   */
  readonly speedup: number;
  /**
   * The finding in words: "your loop would run at most 25% faster with a perfect loader (...)",
   * ending with "the loader is not holding you back" under 2%.
   */
  readonly text: string;
}

/** Under this gain (percent), the loader is not worth working on. */
const NOT_HOLDING_BACK_PERCENT = 2;

/**
 * Measure what a perfect loader would give the training loop: run `warmup` steps, then time
 * `steps` steps fed by the loader (the wait for each batch and the step), caching their batches,
 * then time `step` over the cached batches again: the loop with a loader that never makes it wait
 * and takes no CPU from it.
 *
 * It reads one iteration of the loader (the next epoch) and stops it after the timed steps.
 * Batches are `step`'s to read only: it must not dispose nor change them, as each is stepped on
 * twice. `measureHeadspace` disposes every batch ({@link disposeItem}) after its last use: a
 * warmup batch after its step, the cached ones after the replay, and all of them if `step`
 * throws (the error is rethrown). At most `steps` batches are held at once.
 *
 * @example
 * ```ts
 * import { measureHeadspace, type Loader } from 'rxfeed';
 * declare const loader: Loader<Float32Array[]>;
 * declare function trainStep(batch: Float32Array[]): Promise<void>;
 * const headspace = await measureHeadspace(loader, trainStep, { steps: 100 });
 * console.log(headspace.text); // e.g. "your loop would run at most 31% faster with a perfect loader (...)"
 * ```
 *
 * @param loader - The real loader, as the training loop uses it.
 * @param step - The loop's body (a training step); awaited when it returns a promise.
 * @param options - See {@link MeasureHeadspaceOptions}.
 * @returns The two timings, their ratio and the finding in words.
 * @throws {@link InvalidArgumentError} `RXFEED_ERR_INVALID_ARG` for a `steps` that is not a
 *   positive integer or a `warmup` that is not a non-negative integer, and (naming `warmup`) when
 *   the loader ended within the warmup; {@link EmptyPipelineError} `RXFEED_ERR_EMPTY_LOADER` when
 *   it yields nothing; any error of the pipeline or of `step`.
 * @public
 */
export async function measureHeadspace<T>(
  loader: Loader<T>,
  step: (batch: T) => unknown,
  options: MeasureHeadspaceOptions = {},
): Promise<Headspace> {
  const steps = options.steps ?? 50;
  const warmup = options.warmup ?? 5;
  if (!Number.isSafeInteger(steps) || steps < 1) {
    throw new InvalidArgumentError('measureHeadspace.steps', `must be a positive integer, got ${String(options.steps)}`);
  }
  if (!Number.isSafeInteger(warmup) || warmup < 0) {
    throw new InvalidArgumentError('measureHeadspace.warmup', `must be a non-negative integer, got ${String(options.warmup)}`);
  }
  const now = options.now ?? (() => performance.now());
  const cached: T[] = [];
  try {
    let yielded = 0;
    let loaderMs = 0;
    const iterator = loader[Symbol.asyncIterator]();
    try {
      for (let done = false; !done && yielded < warmup;) {
        const next = await iterator.next();
        done = next.done === true;
        if (done) continue;
        yielded++;
        try {
          await step(next.value);
        } finally {
          disposeItem(next.value);
        }
      }
      const start = now();
      while (cached.length < steps) {
        const next = await iterator.next();
        if (next.done === true) break;
        yielded++;
        cached.push(next.value);
        await step(next.value);
        // Read after each step, so the wait for an end of stream is not counted.
        loaderMs = now() - start;
      }
    } finally {
      await iterator.return?.();
    }
    if (cached.length === 0) {
      if (yielded === 0) throw new EmptyPipelineError('measureHeadspace', loader.epoch);
      throw new InvalidArgumentError(
        'measureHeadspace.warmup',
        `the loader yielded ${yielded} batch(es), all taken by the warmup of ${warmup}`,
      );
    }
    const start = now();
    for (const batch of cached) await step(batch);
    const cachedMs = now() - start;
    return headspace(cached.length, loaderMs, cachedMs);
  } finally {
    disposeAll(cached);
  }
}

/** The finding from the two timings over `steps` steps. */
function headspace(steps: number, loaderMs: number, cachedMs: number): Headspace {
  const loaderMsPerStep = loaderMs / steps;
  const cachedMsPerStep = cachedMs / steps;
  const speedup = cachedMs > 0 ? loaderMs / cachedMs : loaderMs > 0 ? Infinity : 1;
  const timings = `${milliseconds(loaderMsPerStep)} ms a step fed by the loader, ${milliseconds(cachedMsPerStep)} ms from cached batches, over ${steps} steps`;
  if (speedup === Infinity) {
    return {
      steps,
      loaderMsPerStep,
      cachedMsPerStep,
      speedup,
      text: `the step took no measurable time: all of the loop's time is the loader's (${timings})`,
    };
  }
  // A replay slower than the real run is noise: no gain, not a loss.
  const gain = Math.max(0, (speedup - 1) * 100);
  const text =
    `your loop would run at most ${Math.round(gain)}% faster with a perfect loader (${timings})` +
    (gain < NOT_HOLDING_BACK_PERCENT ? ': the loader is not holding you back' : '');
  return { steps, loaderMsPerStep, cachedMsPerStep, speedup, text };
}

/** Milliseconds to three significant digits. */
function milliseconds(ms: number): string {
  return String(Number(ms.toPrecision(3)));
}
