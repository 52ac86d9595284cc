/**
 * The one loop that produces items under backpressure: emit while the Flow allows, else park.
 *
 * Sources (`fromPuller`), fan-in operators and operators that emit on their own at the end
 * (`shuffleBuffer`'s drain, `padToBatch`'s owed batches) all run such a loop. It is written once,
 * here, because its three hazards are easy to get wrong: a step re-entered from inside itself (a
 * source that answers synchronously), a wake-up after the consumer left, and a throw from a
 * callback running in a promise or scheduler task, where it would otherwise be lost.
 *
 * @module
 */
import type { Flow } from './flow.js';

/**
 * Runs a producer's `step` re-entrancy-safely, parks it while a stage downstream is full, and
 * routes any throw to the stream's error. Get one from the operator kit (`Operation.pump`).
 * @public
 */
export class Pump {
  readonly #flow: Flow;
  readonly #step: () => void;
  readonly #fail: (error: unknown) => void;
  readonly #closed: () => boolean;
  #running = false;
  #again = false;
  #stopped = false;
  #cancelPark: (() => void) | undefined;

  /**
   * @param flow - The gauge to respect.
   * @param step - Emits what it can; calls {@link Pump.ready} before each item and returns when it
   * says no.
   * @param fail - Ends the stream with a throw from `step`.
   * @param closed - True once the downstream has ended: nothing more is emitted.
   */
  constructor(flow: Flow, step: () => void, fail: (error: unknown) => void, closed: () => boolean) {
    this.#flow = flow;
    this.#step = step;
    this.#fail = fail;
    this.#closed = closed;
  }

  /**
   * Run the step now. Called while the step runs (a source answering synchronously, an inner
   * source arriving), it only asks for one more pass, so one loop at a time produces.
   */
  readonly run = (): void => {
    if (this.#stopped) return;
    if (this.#running) {
      this.#again = true;
      return;
    }
    this.#running = true;
    try {
      do {
        this.#again = false;
        this.#cancelPark?.();
        this.#cancelPark = undefined;
        this.#step();
      } while (this.#again && !this.#stopped && !this.#closed());
    } catch (error) {
      this.#fail(error);
    } finally {
      this.#running = false;
    }
  };

  /**
   * May the step emit one item now? No once the downstream has ended; no, parking until a stage
   * has room (then the step runs again), while one is full.
   */
  ready(): boolean {
    if (this.#stopped || this.#closed()) return false;
    if (!this.#flow.saturated()) return true;
    this.#cancelPark?.();
    this.#cancelPark = this.#flow.whenReady(this.run);
    return false;
  }

  /**
   * Run `setup` (which may trigger {@link Pump.run}, e.g. by subscribing sources that answer at
   * once) without stepping in between, then step once.
   */
  runAfter(setup: () => void): void {
    this.#running = true;
    try {
      setup();
    } catch (error) {
      this.#fail(error);
      return;
    } finally {
      this.#running = false;
    }
    this.run();
  }

  /** Stop for good (teardown): no step runs after this. */
  stop(): void {
    this.#stopped = true;
    this.#cancelPark?.();
    this.#cancelPark = undefined;
  }
}
