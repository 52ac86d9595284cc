/**
 * The Executor port: where `parallelMap` runs its tasks.
 *
 * A task is either a plain function (run in this thread by {@link inProcessExecutor}) or a
 * reference to an export of a module (run in worker threads by the piscina adapter, since closures
 * cannot cross threads). Results come back as an `ObservableInput`, so marble specs can answer
 * with `cold('--a|')` where production answers with promises.
 *
 * @module
 */
import type { ObservableInput } from 'rxjs';
import { InvalidArgumentError } from './errors.js';
import { isPromiseLike } from './isPromiseLike.js';

/**
 * What a task learns about the item it maps. Per-sample randomness must come from
 * `(seed, epoch, index)`, never from state of the thread that happens to run it.
 * @public
 */
export interface TaskContext {
  /** Position of the item in the operator's input for this epoch (0-based). */
  readonly index: number;
  /** The epoch being read. */
  readonly epoch: number;
  /** Aborted when the pipeline no longer wants this result. */
  readonly signal: AbortSignal;
}

/**
 * A task run in this thread.
 * @public
 */
export type TaskFunction<T, R> = (value: T, context: TaskContext) => ObservableInput<R> | R;

/**
 * A task named by module URL and export, for executors that run code elsewhere (worker threads).
 * Make one with `workerFn` from `rxfeed/workers`.
 * @public
 */
export interface TaskReference<T, R> {
  readonly module: string;
  readonly exportName: string;
  /** Phantom field carrying the task's types; never set. */
  readonly __types?: (value: T) => R;
}

/**
 * A task `parallelMap` can run.
 * @public
 */
export type Task<T, R> = TaskFunction<T, R> | TaskReference<T, R>;

/**
 * Runs tasks. `parallelMap` never runs more than `concurrency` at once through one executor.
 * @public
 */
export interface Executor {
  /** Tasks this executor runs well at once (threads for a pool); parallelMap's default. */
  readonly concurrency: number;
  /**
   * Threads that run tasks, when there is a fixed number (a pool's size): tasks in flight past it
   * wait in the executor's queue and use no core. So an `'auto'` `parallelMap` counts at most this
   * many against the autotuner's CPU budget. Absent: every task in flight counts.
   */
  readonly threads?: number;
  /** Run `task` on `value`; the first value of the answer is the result. */
  run<T, R>(task: Task<T, R>, value: T, context: TaskContext): ObservableInput<R>;
}

/**
 * Runs function tasks in this thread: async functions overlap their I/O, synchronous ones run one
 * after another. Task references need a worker-thread executor.
 * @public
 */
export const inProcessExecutor: Executor = {
  concurrency: 4,
  run<T, R>(task: Task<T, R>, value: T, context: TaskContext): ObservableInput<R> {
    if (typeof task !== 'function') {
      throw new InvalidArgumentError(
        'parallelMap.task',
        `${task.module}#${task.exportName} names a module export: run it with a worker-thread executor ` +
          '(rxfeed/workers), or pass a function',
      );
    }
    try {
      const result = task(value, context);
      return isObservableInput<R>(result) ? result : [result];
    } catch (error) {
      return Promise.reject(error);
    }
  },
};

function isObservableInput<R>(value: unknown): value is ObservableInput<R> {
  return isPromiseLike(value) || typeof (value as { subscribe?: unknown } | null)?.subscribe === 'function';
}
