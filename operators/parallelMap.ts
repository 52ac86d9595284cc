import { from, type OperatorFunction, type Subscription } from 'rxjs';
import { tune } from '../src/autotune.js';
import { disposeAll } from '../src/dispose.js';
import { InvalidArgumentError, TaskError } from '../src/errors.js';
import { inProcessExecutor, type Executor, type Task } from '../src/executor.js';
import { isPromiseLike } from '../src/isPromiseLike.js';
import { operate } from '../src/operate.js';
import type { Origins } from '../src/origins.js';

/** Options of {@link parallelMap}. */
export interface ParallelMapOptions {
  /**
   * Tasks in flight at once, and so the stage's capacity: at most `concurrency` items are held
   * here, counting those running and those finished but waiting for their turn (ordered mode).
   * Default: the executor's `concurrency`.
   *
   * `'auto'`: the loader's autotuner (see `toLoader`'s `autotune`) sets it while the pipeline
   * runs, starting at the executor's `threads` for a worker-thread executor that states them
   * (one task per thread), else at 1. Its bound: at most the executor's `concurrency` for a task given as a
   * module export (a worker thread each, counted in the CPU budget up to the executor's
   * `threads`), at most
   * {@link PARALLEL_MAP_AUTO_MAX} for a function run in this thread (it mostly awaits I/O, and is
   * not counted in the CPU budget); so the stage never holds more than that many items.
   */
  readonly concurrency?: number | 'auto';
  /**
   * Emit results in input order (default, so a seeded pipeline gives the same order however long
   * each task takes), or as they finish.
   */
  readonly ordered?: boolean;
  /** Where tasks run; default {@link inProcessExecutor}. Use `rxfeed/workers` for threads. */
  readonly executor?: Executor;
}

/**
 * The most tasks in flight an `'auto'` {@link parallelMap} of an in-process function reaches.
 * @public
 */
export const PARALLEL_MAP_AUTO_MAX = 64;

/**
 * Map each item through a task, several at once, with backpressure.
 *
 * Unlike `mergeMap(f, n)`, which bounds work in flight but queues every other arriving item in an
 * unbounded array, `parallelMap` is a stage of the Flow gauge: when `concurrency` items are in
 * flight (or done and waiting for an earlier one), sources pause. Each task gets the item's
 * position and the epoch, for per-sample randomness that does not depend on which thread runs it.
 * A failing task ends the stream with a {@link TaskError} carrying the item's index.
 *
 * On teardown every task in flight is told to stop through its `signal`. A task answered by an
 * Observable is unsubscribed; one answered by a promise (which cannot be cancelled) runs to its
 * end, its result is disposed, and a loader's `break` waits for it, so no task is left busy. Results
 * finished but not yet emitted, and items not yet started, are disposed.
 *
 * @example
 * ```ts
 * import { parallelMap } from 'rxfeed';
 * import type { Observable } from 'rxjs';
 * declare const records: Observable<Uint8Array>;
 * declare function decode(record: Uint8Array, index: number): Promise<Float32Array>;
 * const decoded = records.pipe(
 *   parallelMap(async (record, { index }) => decode(record, index), { concurrency: 8 }),
 * );
 * ```
 *
 * @param task - A function (in-process), or a module export for a worker-thread executor.
 * @param options - See {@link ParallelMapOptions}.
 * @returns An operator emitting one result per item.
 * @public
 */
export function parallelMap<T, R>(task: Task<T, R>, options: ParallelMapOptions = {}): OperatorFunction<T, R> {
  const executor = options.executor ?? inProcessExecutor;
  // A module export runs on a worker thread: a core each. A function runs here, awaiting I/O mostly.
  const cpuBound = typeof task !== 'function';
  const max = Math.max(1, cpuBound ? executor.concurrency : PARALLEL_MAP_AUTO_MAX);
  const auto = options.concurrency === 'auto';
  // 'auto' starts with a pool's threads busy: on many cores, a climb from 1 takes a period a step.
  const initial = cpuBound ? Math.min(max, executor.threads ?? 1) : 1;
  const chosen = options.concurrency === 'auto' ? initial : (options.concurrency ?? executor.concurrency);
  const ordered = options.ordered ?? true;
  if (!Number.isSafeInteger(chosen) || chosen < 1) {
    throw new InvalidArgumentError('parallelMap.concurrency', `must be a positive integer or 'auto', got ${String(chosen)}`);
  }
  return (source) =>
    operate<T, R>(source, (op) => {
      const { context } = op;
      type Slot = { abort: AbortController; started: number; subscription?: Subscription; settled?: Promise<unknown> };
      const { flow } = context;
      const running = new Map<number, Slot>();
      const finished = new Map<number, R>(); // ordered mode: results waiting for an earlier one
      const waiting: [number, T][] = []; // arrived while every slot was taken
      const originsOf = new Map<number, Origins>(); // each item's, until its result is emitted
      let nextIndex = 0;
      let nextToEmit = 0;
      let upstreamDone = false;
      let concurrency = chosen;

      // Live: the Flow reads the capacity each time, so the autotuner's changes gate sources at once.
      const gauge = {
        name: 'parallelMap',
        get capacity() {
          return concurrency;
        },
        occupancy: () => running.size + finished.size + waiting.length,
        get parallelism() {
          return concurrency;
        },
      };
      const stage = op.register(gauge);
      // Lowered, the stage keeps what it holds and starts no task until it is below the new value.
      const knob = auto
        ? tune(flow, {
            stage: gauge,
            kind: 'parallelism',
            initial: chosen,
            min: 1,
            max,
            ...(cpuBound && { cpus: (value: number) => Math.min(value, executor.threads ?? value) }),
            set: op.guard((value: number) => {
              concurrency = value;
              startWaiting();
            }),
          })
        : undefined;
      if (knob !== undefined) concurrency = knob.value;

      const emit = (index: number, value: R): void => {
        stage.left();
        const origins = originsOf.get(index);
        originsOf.delete(index);
        op.emit(value, origins);
      };

      const maybeComplete = (): void => {
        if (upstreamDone && running.size === 0 && finished.size === 0 && waiting.length === 0) op.complete();
      };

      // Runs in a task's callback, outside any upstream call: guarded, so a throw downstream (a
      // user's callback after this operator) ends the stream instead of being lost.
      const settle = op.guard((index: number, value: R): void => {
        const slot = running.get(index);
        if (slot !== undefined) stage.workedSince(slot.started);
        running.delete(index);
        if (op.closed) {
          disposeAll([value]);
          return;
        }
        knob?.sample(value);
        if (!ordered) {
          emit(index, value);
        } else {
          finished.set(index, value);
          while (finished.has(nextToEmit) && !op.closed) {
            const next = finished.get(nextToEmit)!;
            finished.delete(nextToEmit);
            emit(nextToEmit++, next);
          }
        }
        startWaiting();
        maybeComplete();
      });

      const start = (index: number, value: T): void => {
        const abort = new AbortController();
        const slot: Slot = { abort, started: flow.mark() };
        running.set(index, slot);
        let got = false;
        let answer;
        try {
          answer = executor.run(task, value, { index, epoch: context.epoch, signal: abort.signal });
        } catch (error) {
          op.fail(new TaskError(index, error));
          return;
        }
        if (isPromiseLike(answer)) {
          // Kept to wait for on teardown: a promise cannot be cancelled, its late result is disposed.
          slot.settled = Promise.resolve(answer).then(
            (result) => {
              if (op.closed) disposeAll([result]);
            },
            () => undefined,
          );
        }
        const subscription = from(answer).subscribe({
          next: (result) => {
            if (got) return;
            got = true;
            settle(index, result);
          },
          error: (error: unknown) => op.fail(error instanceof TaskError ? error : new TaskError(index, error)),
          complete: () => {
            if (!got) op.fail(new TaskError(index, 'the task completed without a result'));
          },
        });
        if (running.has(index)) slot.subscription = subscription;
      };

      const startWaiting = (): void => {
        while (!op.closed && waiting.length > 0 && running.size + finished.size < concurrency) {
          const [index, value] = waiting.shift()!;
          start(index, value);
        }
      };

      op.subscribe(source, {
        next: (value) => {
          stage.entered();
          knob?.sample(value);
          const index = nextIndex++;
          originsOf.set(index, op.takeOrigins('parallelMap'));
          if (running.size + finished.size < concurrency && waiting.length === 0) start(index, value);
          else waiting.push([index, value]);
        },
        complete: () => {
          upstreamDone = true;
          maybeComplete();
        },
      });

      op.finalize(() => {
        knob?.unregister();
        // Running tasks are told to stop. An Observable answer is unsubscribed, which cancels it; a
        // promise runs on (a worker thread finishes its task), and the loader's `break` waits for it
        // so no task is still busy when the loop has left.
        for (const { abort, subscription, settled } of running.values()) {
          abort.abort();
          subscription?.unsubscribe();
          if (settled !== undefined) context.flow.trackRelease(settled);
        }
        running.clear();
        disposeAll(finished.values());
        finished.clear();
        disposeAll(waiting.map(([, value]) => value));
        waiting.length = 0;
        originsOf.clear();
      });
    });
}
