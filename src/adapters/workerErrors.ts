/**
 * The errors of worker-thread tasks. They are {@link TaskError}s, so the error a `for await` loop
 * sees when a worker task fails carries the item's `index`, the task's name and its own error's
 * `code` (as `remoteCode`), as an in-thread task's would.
 *
 * @module
 */
import { RxfeedError, TaskError } from '../errors.js';
import { fromRemote, type RemoteError } from './crossThread.js';

/**
 * A worker task failed: code `RXFEED_ERR_WORKER_TASK`. `cause` holds the task's own error as
 * rebuilt from the worker thread (its `name`, `message`, `stack` and `code`); the code is also in
 * `remoteCode`. It is a {@link TaskError}, so `parallelMap` passes it on unwrapped.
 * @public
 */
export class WorkerTaskError extends TaskError {
  /** The task, as `module#export`. */
  readonly task: string;
  /** The `code` of the task's error, when it had one (e.g. `RXFEED_ERR_DECODE`). */
  readonly remoteCode: string | undefined;

  /** @internal made by the executor from a worker's answer */
  constructor(
    index: number,
    task: string,
    remote: RemoteError,
    code: 'RXFEED_ERR_WORKER_TASK' | 'RXFEED_ERR_WORKER_EXIT' = 'RXFEED_ERR_WORKER_TASK',
  ) {
    // The task's error crossed threads as data; rebuilt as an Error to be the `cause`, never thrown.
    super(index, fromRemote(remote), code, `worker task ${task} failed on item ${index}: ${remote.name}: ${remote.message}`);
    this.task = task;
    this.remoteCode = remote.code;
  }
}

/**
 * The worker thread holding this item died before answering: a task called `process.exit`, the
 * thread ran out of memory (`remoteCode` `ERR_WORKER_OUT_OF_MEMORY`, see
 * {@link WorkerExecutorOptions.resourceLimits}), or an exception escaped a task's callbacks. Code
 * `RXFEED_ERR_WORKER_EXIT`.
 *
 * The item whose code was running when the thread died is blamed: its error has
 * `culprit === index`. The other items the thread held (finished or not) lost their answers with
 * it; their errors say "lost" and name the culprit. The culprit is exact when the thread died in
 * a task's synchronous code, or in `process.exit` anywhere; when it ran out of memory while only
 * asynchronous tasks were in flight, the lowest of those items is blamed and the message lists
 * them all.
 * @public
 */
export class WorkerExitError extends WorkerTaskError {
  /** The item blamed for the death, or `undefined` when no item's code was running. */
  readonly culprit: number | undefined;

  /** @internal made by the executor when a thread dies */
  constructor(index: number, task: string, remote: RemoteError, culprit: number | undefined) {
    super(index, task, remote, 'RXFEED_ERR_WORKER_EXIT');
    this.culprit = culprit;
  }
}

/**
 * The executor was closed while a task still wanted to run.
 * @public
 */
export class ExecutorClosedError extends RxfeedError {
  /** @param what - What was closed: the worker executor (default), or a worker pipeline. */
  constructor(what: 'executor' | 'pipeline' = 'executor') {
    super(
      'RXFEED_ERR_EXECUTOR_CLOSED',
      what === 'executor'
        ? 'the worker executor is closed; create a new one to run more tasks'
        : 'the worker pipeline is closed; create a new one to read it again',
    );
  }
}

/**
 * A worker pipeline failed in one of its threads: code `RXFEED_ERR_WORKER_PIPELINE` when the part's
 * pipeline failed (its own error, rebuilt from the thread, is the `cause`, and its code is
 * `remoteCode`), or `RXFEED_ERR_WORKER_EXIT` when the thread died (`process.exit`, out of memory
 * (see `WorkerPipelineOptions.resourceLimits`), an exception escaping the pipeline's callbacks).
 * @public
 */
export class WorkerPipelineError extends RxfeedError {
  /** The pipeline, as `module#export`. */
  readonly pipeline: string;
  /** The worker (part) that failed, in `[0, threads)`. */
  readonly workerIndex: number;
  /** The `code` of the part's own error, when it had one (e.g. `RXFEED_ERR_DECODE`). */
  readonly remoteCode: string | undefined;

  /** @internal made by the worker pipeline from a thread's answer or its death */
  constructor(
    pipeline: string,
    workerIndex: number,
    remote: RemoteError,
    code: 'RXFEED_ERR_WORKER_PIPELINE' | 'RXFEED_ERR_WORKER_EXIT' = 'RXFEED_ERR_WORKER_PIPELINE',
  ) {
    const what = code === 'RXFEED_ERR_WORKER_EXIT' ? 'its thread died' : 'failed';
    super(code, `worker pipeline ${pipeline}: worker ${workerIndex} ${what}: ${remote.name}: ${remote.message}`, {
      cause: fromRemote(remote),
    });
    this.pipeline = pipeline;
    this.workerIndex = workerIndex;
    this.remoteCode = remote.code;
  }
}
