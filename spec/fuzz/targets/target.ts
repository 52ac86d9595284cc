/**
 * What a fuzz target is: one parser's entry point, run on one generated input in the fuzz worker.
 */

/** One parser under fuzz, loaded by the worker from `targets/<name>.js`. */
export interface FuzzTarget<I = unknown> {
  /** Once per worker process, before the first case (e.g. start a loopback server). */
  setup?(): Promise<void>;
  /** Once, when the worker is told to close. */
  teardown?(): Promise<void>;
  /** Run one case to its end: resolve when the parser ended normally, reject with what it threw. */
  run(input: I): Promise<void>;
  /** True when a case left shared state broken: the worker then exits after answering, and a fresh one takes the next case. */
  poisoned?(): boolean;
  /** The input's size in bytes, the unit of the allocation bound. */
  inputBytes(input: I): number;
}
