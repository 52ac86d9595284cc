/**
 * The {@link WorkerExecutor}: `parallelMap`'s tasks on a piscina pool of worker threads.
 *
 * Aborting a task that a piscina thread is running terminates that thread. So the executor keeps
 * its own queue in front of the pool and hands a thread only as many tasks as it can run at once:
 * on unsubscribe, queued tasks are dropped at once, running ones finish and their results are
 * discarded, and no thread is ever killed. Items queued for the same task travel to a thread
 * together, up to `batchSize` per message, since posting a message costs about as much as
 * decoding a small JPEG.
 *
 * A task that kills its thread (`process.exit`, out of memory) loses the answers of every item
 * the thread held. The thread records each item's progress in shared memory, so the executor
 * blames the item whose code was running ({@link WorkerExitError}) and reports its neighbours as
 * lost, naming it; the pool starts a new thread and the executor goes on.
 *
 * @module
 */
import { availableParallelism } from 'node:os';
import { Observable, type ObservableInput, type Subscriber } from 'rxjs';
import { Piscina } from 'piscina';
import { InvalidArgumentError } from '../errors.js';
import type { Executor, Task, TaskContext } from '../executor.js';
import { prepareTransfer } from './transfer.js';
import { ExecutorClosedError, WorkerExitError, WorkerTaskError } from './workerErrors.js';
import type { WorkerTaskReference } from './workerFn.js';
import { Progress, PROGRESS_HEADER, ProgressCell } from './workerEntry.js';
import type { RemoteError, WorkerRequest, WorkerResponse } from './workerEntry.js';

/**
 * Options of {@link workerExecutor}.
 * @public
 */
export interface WorkerExecutorOptions {
  /**
   * Worker threads; default `availableParallelism() - 1`, at least 1 (the main thread has work too:
   * it still reads, parses and batches every sample). Measured on 2 cores (`bench/peers`, 128x128
   * JPEGs): decoding on 1 or 2 such threads was slower than decoding in the main thread (0.69x,
   * 0.91x), the samples' dispatch costing more than it saved. To scale, run the whole pipeline in
   * threads with `workerPipeline` instead: 1.9x the main thread on the same 2 cores.
   */
  readonly threads?: number;
  /**
   * Tasks handed to one thread at once; default 2. For synchronous work (turbojpeg decode) the
   * second waits in the thread's port, so the thread starts it the moment it finishes the first
   * instead of idling for a round trip to the main thread (measured: 6.3k/s for 1, 21k/s for 2 on
   * a no-op task). Raise it for tasks that await libuv work (sharp). Tasks handed to a thread are
   * never aborted (that would kill the thread): they finish and their results are dropped.
   */
  readonly tasksPerThread?: number;
  /**
   * Most items sent to a thread in one message; default 8. Posting a message costs tens of
   * microseconds on each side, about as much as decoding a small JPEG, so items queued for the
   * same task travel together (the queue is shared evenly among the free threads first). Set 1
   * for long tasks whose latency matters more than messaging overhead.
   */
  readonly batchSize?: number;
  /**
   * Move `ArrayBuffer`s both ways instead of cloning them (default true). The sender's buffers are
   * detached: an item's bytes cannot be read after it was handed to a task.
   */
  readonly transfer?: boolean;
  /** Memory limits of each worker thread (see `worker_threads.ResourceLimits`). */
  readonly resourceLimits?: import('node:worker_threads').ResourceLimits;
}

/**
 * Counters of a {@link WorkerExecutor}, for metrics and tests.
 * @public
 */
export interface WorkerExecutorStats {
  /** Live worker threads. */
  readonly threads: number;
  /** Items waiting in the executor's queue (not yet given to a thread). */
  readonly queued: number;
  /** Messages (batches of items) given to a thread whose answer has not come back. */
  readonly running: number;
  /** Tasks waiting inside the piscina pool itself (0 in steady state). */
  readonly poolQueued: number;
  /** Items whose task ran to completion since the executor started (dropped results included). */
  readonly completed: number;
}

interface Job {
  readonly task: WorkerTaskReference<unknown, unknown>;
  readonly value: unknown;
  readonly context: TaskContext;
  readonly subscriber: Subscriber<unknown>;
  state: 'queued' | 'running' | 'dropped' | 'settled';
}

/** A message whose thread died before answering, with the progress the thread recorded. */
interface Death {
  readonly jobs: readonly Job[];
  readonly progress: Int32Array;
  readonly error: unknown;
}

/**
 * An {@link Executor} running module-export tasks on a pool of worker threads. Close it with
 * {@link WorkerExecutor.close} or `await using`.
 * @public
 */
export class WorkerExecutor implements Executor, AsyncDisposable {
  /**
   * Items `parallelMap` keeps in flight by default: `threads x tasksPerThread x batchSize x 2`, so
   * that a full batch for every slot is already waiting here when a thread answers.
   */
  readonly concurrency: number;
  /** Worker threads of the pool: the tasks that really run at once (see `Executor.threads`). */
  readonly threads: number;
  /** The piscina pool, for inspection (`threads`, `queueSize`, `utilization`). */
  readonly pool: Piscina;
  readonly #slots: number;
  readonly #batchSize: number;
  readonly #transfer: boolean;
  // Bounded by the callers: parallelMap never has more than its `concurrency` tasks here.
  readonly #queue: Job[] = [];
  #running = 0;
  #completed = 0;
  #closed = false;
  #idleWaiters: (() => void)[] = [];
  // Messages of threads that died in this turn: blamed together, since a thread holds up to
  // `tasksPerThread` messages and all of them fail at once.
  #deaths: Death[] = [];

  /** @internal use {@link workerExecutor} */
  constructor(options: WorkerExecutorOptions = {}) {
    const threads = options.threads ?? Math.max(1, availableParallelism() - 1);
    const tasksPerThread = options.tasksPerThread ?? 2;
    const batchSize = options.batchSize ?? 8;
    for (const [name, value] of Object.entries({ threads, tasksPerThread, batchSize })) {
      if (!Number.isSafeInteger(value) || value < 1) {
        throw new InvalidArgumentError(`workerExecutor.${name}`, `must be a positive integer, got ${value}`);
      }
    }
    this.threads = threads;
    this.#slots = threads * tasksPerThread;
    this.#batchSize = batchSize;
    this.#transfer = options.transfer ?? true;
    this.concurrency = this.#slots * batchSize * 2;

    this.pool = new Piscina({
      filename: new URL('./workerEntry.js', import.meta.url).href,
      minThreads: threads,
      maxThreads: threads,
      idleTimeout: Number.POSITIVE_INFINITY,
      concurrentTasksPerWorker: tasksPerThread,
      ...(options.resourceLimits === undefined ? {} : { resourceLimits: options.resourceLimits }),
    });
  }

  /**
   * Run a worker task on `value`. Function tasks are refused: closures cannot cross threads.
   * @param task - A {@link WorkerTaskReference} from {@link workerFn}.
   * @param value - The item; its `ArrayBuffer`s are moved to the worker when `transfer` is on.
   * @param context - Index, epoch and the abort signal (aborting drops a queued task).
   * @returns An Observable of the one result.
   */
  run<T, R>(task: Task<T, R>, value: T, context: TaskContext): ObservableInput<R> {
    if (typeof task === 'function') {
      throw new InvalidArgumentError(
        'parallelMap.task',
        'a worker executor runs module exports, not closures: name the task with workerFn(new URL(...), name)',
      );
    }
    const reference = task as WorkerTaskReference<T, R>;
    return new Observable<R>((subscriber) => {
      if (this.#closed) {
        subscriber.error(new ExecutorClosedError());
        return undefined;
      }
      const job: Job = {
        task: reference as WorkerTaskReference<unknown, unknown>,
        value,
        context,
        subscriber: subscriber as Subscriber<unknown>,
        state: 'queued',
      };
      const drop = (): void => {
        if (job.state === 'queued') {
          const at = this.#queue.indexOf(job);
          if (at >= 0) this.#queue.splice(at, 1);
          this.#checkIdle();
        }
        if (job.state !== 'settled') job.state = 'dropped';
      };
      if (context.signal.aborted) return undefined;
      context.signal.addEventListener('abort', drop, { once: true });
      this.#queue.push(job);
      this.#dispatch();
      return () => {
        context.signal.removeEventListener('abort', drop);
        drop();
      };
    });
  }

  #dispatch(): void {
    while (this.#running < this.#slots && this.#queue.length > 0) {
      // Share the queue among the free slots, at most `batchSize` items per message, all of one task.
      const free = this.#slots - this.#running;
      const share = Math.min(this.#batchSize, Math.ceil(this.#queue.length / free));
      const first = this.#queue[0]!;
      let count = 1;
      while (count < share && this.#queue[count]!.task === first.task) count++;
      this.#start(this.#queue.splice(0, count));
    }
    this.#checkIdle();
  }

  #start(jobs: Job[]): void {
    this.#running++;
    const task = jobs[0]!.task;
    for (const job of jobs) job.state = 'running';
    const prepared = this.#transfer
      ? prepareTransfer(jobs.map((job) => job.value))
      : { value: jobs.map((job) => job.value), transferList: [] as ArrayBuffer[] };
    const progress = new Int32Array(new SharedArrayBuffer(Int32Array.BYTES_PER_ELEMENT * (PROGRESS_HEADER + jobs.length)));
    const request: WorkerRequest = {
      module: task.module,
      exportName: task.exportName,
      seed: task.seed,
      options: task.options,
      transfer: this.#transfer,
      items: jobs.map((job, i) => ({ value: prepared.value[i], index: job.context.index, epoch: job.context.epoch })),
      progress,
    };
    // No signal is given to piscina on purpose: aborting a running piscina task kills its thread.
    this.pool.run(request, { transferList: prepared.transferList }).then(
      (responses: WorkerResponse[]) => {
        this.#completed += jobs.length;
        this.#finish();
        jobs.forEach((job, i) => {
          if (job.state !== 'running') return; // dropped: the result is discarded
          job.state = 'settled';
          const response = responses[i]!;
          if (response.ok) {
            job.subscriber.next(response.value);
            job.subscriber.complete();
          } else {
            job.subscriber.error(new WorkerTaskError(job.context.index, taskName(task), response.error));
          }
        });
      },
      (error: unknown) => {
        this.#finish();
        if (Atomics.load(progress, ProgressCell.Received) === 1 || isThreadDeath(error)) {
          this.#deaths.push({ jobs, progress, error });
          if (this.#deaths.length === 1) setImmediate(() => this.#blame());
          return;
        }
        // A failure of the pool itself before the thread had the message (an uncloneable item).
        for (const job of jobs) {
          if (job.state !== 'running') continue;
          job.state = 'settled';
          job.subscriber.error(new WorkerTaskError(job.context.index, taskName(task), remoteOf(error)));
        }
      },
    );
  }

  /**
   * Fail the items of messages whose thread died, the culprit first: `parallelMap` reports the
   * first error it gets, so that is the one the user sees.
   */
  #blame(): void {
    const deaths = this.#deaths.splice(0);
    const held = deaths.flatMap(({ jobs, progress, error }) =>
      jobs.map((job, slot) => ({
        job,
        error,
        state: Atomics.load(progress, PROGRESS_HEADER + slot),
        exited: Atomics.load(progress, ProgressCell.Exited) === slot + 1,
      })),
    );
    // Whose code was running: the caller of process.exit; else a synchronous part (a thread runs
    // one at a time); else, ambiguously, the items awaiting something.
    let suspects = held.filter((item) => item.exited);
    if (suspects.length === 0) suspects = held.filter((item) => item.state === Progress.Running);
    if (suspects.length === 0) suspects = held.filter((item) => item.state === Progress.Pending);
    suspects.sort((a, b) => a.job.context.index - b.job.context.index);
    const culprit = suspects[0]?.job.context.index;
    const others =
      suspects.length > 1
        ? `, with items ${suspects
            .slice(1)
            .map((s) => s.job.context.index)
            .join(', ')} in progress on it too`
        : '';
    const ordered = [
      ...suspects,
      ...held.filter((item) => !suspects.includes(item)).sort((a, b) => a.job.context.index - b.job.context.index),
    ];
    for (const { job, error } of ordered) {
      if (job.state !== 'running') continue;
      job.state = 'settled';
      const remote = remoteOf(error);
      const index = job.context.index;
      const why =
        index === culprit
          ? `its worker thread died running this item${others}`
          : culprit === undefined
            ? 'lost: its worker thread died outside any item'
            : `lost: its worker thread died running item ${culprit}`;
      job.subscriber.error(new WorkerExitError(index, taskName(job.task), { ...remote, message: `${why} (${remote.message})` }, culprit));
    }
  }

  #finish(): void {
    this.#running--;
    this.#dispatch();
  }

  #checkIdle(): void {
    if (this.#running > 0 || this.#queue.length > 0 || this.#idleWaiters.length === 0) return;
    const waiters = this.#idleWaiters;
    this.#idleWaiters = [];
    for (const resolve of waiters) resolve();
  }

  /** Counters for metrics and tests. */
  stats(): WorkerExecutorStats {
    return {
      threads: this.pool.threads.length,
      queued: this.#queue.length,
      running: this.#running,
      poolQueued: this.pool.queueSize,
      completed: this.#completed,
    };
  }

  /**
   * Resolves when no task is queued or running (running tasks of a cancelled pipeline finish
   * shortly after the unsubscribe; their results are discarded).
   */
  idle(): Promise<void> {
    return new Promise((resolve) => {
      this.#idleWaiters.push(resolve);
      this.#checkIdle();
    });
  }

  /**
   * Drop queued tasks, wait for running ones, and stop the threads. Further tasks fail with
   * {@link ExecutorClosedError}.
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const job of this.#queue.splice(0)) {
      job.state = 'settled';
      job.subscriber.error(new ExecutorClosedError());
    }
    await this.idle();
    await this.pool.destroy();
  }

  /** Same as {@link WorkerExecutor.close}, for `await using`. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}

/** Whether piscina failed a task because its thread is gone (exit, out of memory, uncaught error). */
function isThreadDeath(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return (
    (typeof code === 'string' && code.startsWith('ERR_WORKER_')) ||
    (error instanceof Error && error.message.startsWith('worker exited with code'))
  );
}

function remoteOf(error: unknown): RemoteError {
  if (!(error instanceof Error)) return { name: 'Error', message: String(error) };
  const code = (error as { code?: unknown }).code;
  return { name: error.name, message: error.message, ...(typeof code === 'string' ? { code } : {}) };
}

function taskName(task: WorkerTaskReference<unknown, unknown>): string {
  const file = task.module.slice(task.module.lastIndexOf('/') + 1);
  return `${file}#${task.exportName}`;
}

/**
 * Create a worker-thread executor for `parallelMap`.
 *
 * @example
 * ```ts
 * import { workerExecutor, workerFn } from 'rxfeed/workers';
 * import { parallelMap } from 'rxfeed';
 * import type { Observable } from 'rxjs';
 * declare const items: Observable<Uint8Array>;
 * await using executor = workerExecutor({ threads: 2 });
 * const out = items.pipe(parallelMap(workerFn(new URL('./task.js', import.meta.url), 'task'), { executor }));
 * ```
 *
 * @param options - See {@link WorkerExecutorOptions}.
 * @returns A {@link WorkerExecutor}; close it when done.
 * @public
 */
export function workerExecutor(options: WorkerExecutorOptions = {}): WorkerExecutor {
  return new WorkerExecutor(options);
}
