/**
 * Worker pipelines: a whole pipeline (source, per-sample work, usually `batch` and `collate`) run
 * in N worker threads, each reading its own part of the data, with only finished items (batches,
 * usually) crossing to the main thread. This is how PyTorch's DataLoader scales with cores (each
 * worker runs the whole per-sample pipeline), with threads instead of processes and buffers moved
 * instead of copied.
 *
 * The main thread does almost nothing per item: it merges the parts' items, hands them on and
 * returns a credit to the part. Backpressure crosses threads by credits: a part may have at most
 * `credits` items that the main thread has not handed on, and its own Flow parks its sources when
 * it has none left.
 *
 * Readings: the merge queue is the stage `workerPipeline` of the subscription's Flow, and the
 * parts' own stages (their sources' reads, `parallelMap`, `collate` ...) appear beside it as
 * `workerPipeline/<name>`, summed over the parts (see {@link WorkerPipeline}).
 *
 * @module
 */
import { availableParallelism } from 'node:os';
import { Worker, type ResourceLimits } from 'node:worker_threads';
import { Observable, type Subscriber } from 'rxjs';
import { checkPlacementOptions, type Placement } from '../distributed.js';
import { disposeAll } from '../dispose.js';
import { InvalidArgumentError } from '../errors.js';
import { describe } from '../excerpt.js';
import { addStageCounters, type StageMetrics } from '../flow.js';
import { CountLedger } from '../ledger.js';
import type { LoaderState, RestoreStates, StateTracker } from '../loaderState.js';
import { produce, type Operation } from '../operate.js';
import { OriginList, type Origins } from '../origins.js';
import { moduleUrl } from './workerFn.js';
import { ExecutorClosedError, WorkerPipelineError } from './workerErrors.js';
import type { FromThread, PartDescription, PartReading, ToThread } from './workerPipelineThread.js';
import { CreditTuner, nextThreads } from './workerPipelineTuning.js';

/**
 * What a part's pipeline function receives: which part it is, the epoch and seed, and the
 * options the main thread bound.
 *
 * `shard()` and `fromRandomAccess` inside the pipeline split their input by this placement without
 * being told (as WebDataset's `split_by_worker` reads PyTorch's worker info): element or file
 * ranges by rank, then by worker; `fromRandomAccess` gives worker `w` the rank's batches
 * `w, w + numWorkers, ...`, so the ordered merge is the rank's own order.
 * @public
 */
export interface WorkerPart<O = unknown> extends Placement {
  /** The epoch being read (the loader's iteration). */
  readonly epoch: number;
  /** The seed bound by {@link workerPipeline} (0 when none was given); derive per-worker seeds from `(seed, workerIndex)`. */
  readonly seed: number;
  /** The options bound by {@link workerPipeline}, structured-cloned to the thread. */
  readonly options: O;
}

/**
 * The shape of a worker pipeline: an export of an ES module returning an Observable, or a promise
 * of one (an async function that awaits a dataset's index first). A resource the part opens (a
 * dataset, a client) is best opened with `fromResource`, which closes it when the part ends.
 * @public
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- a bound for any pipeline's options
export type WorkerPipelineFunction = (part: WorkerPart<any>) => Observable<unknown> | PromiseLike<Observable<unknown>>;

/**
 * Options of {@link workerPipeline}.
 * @public
 */
export interface WorkerPipelineOptions<O> {
  /**
   * Worker threads, one part each; default `availableParallelism()`: the main thread only merges,
   * so it needs no core of its own (PyTorch's `num_workers` = cores is the same advice).
   *
   * `'auto'`: chosen at each subscription (epoch), since a part's share of the data depends on
   * the count, by a hill-climb over the throughput of the epochs read so far, within
   * {@link WorkerPipelineOptions.maxThreads}: the first epoch reads with `maxThreads`; each later
   * one takes the best count so far (the fewest threads within 5% of the highest items/s) and
   * tries the middle of the wider gap between it and its nearest measured counts (0 and
   * `maxThreads + 1` bound them), until both its neighbours are measured; then it keeps the best,
   * re-measured each epoch (a slower reading hands over to a neighbour). An epoch's
   * throughput is the items it delivered over the time from its subscription to its completion;
   * an epoch that ends early (a `break`, an error), or that started threads (their start-up
   * would count against it), is not measured, so the next one reads with the same count: the
   * first two epochs read with `maxThreads`. Threads are made on first
   * use; those made for a larger count tried earlier stay idle (they hold no part and do not keep
   * the process alive) until {@link WorkerPipeline.close}.
   */
  readonly threads?: number | 'auto';
  /**
   * The CPU budget of `threads: 'auto'`: the most threads it tries; default
   * `availableParallelism()`. Ignored with a fixed `threads`.
   */
  readonly maxThreads?: number;
  /**
   * Items each part may have sent that the main thread has not yet handed on (PyTorch's
   * `prefetch_factor`); default 2. The main thread holds at most `threads x credits` items. Two
   * suit parts that emit batches; a part that emits single samples needs more (e.g. 64), or each
   * sample waits for a round trip between the threads.
   *
   * `'auto'`: each part starts with 2 and, while the epoch is read, gains one when the consumer
   * waited on it (it asked for an item and the part had none queued while its thread was
   * producing) and it handed on as many items as it has credits since its last change; it gives
   * one back after handing on 4 items per credit without the consumer waiting on any part; never
   * below 1 nor above {@link WorkerPipelineOptions.maxCredits}.
   */
  readonly credits?: number | 'auto';
  /**
   * The most credits a part gets under `credits: 'auto'`; default 8. It is the memory bound: the
   * main thread holds at most `threads x maxCredits` items. Ignored with fixed `credits`.
   */
  readonly maxCredits?: number;
  /**
   * Deliver one item from each part in turn (default; PyTorch's order): the output depends only on
   * what each part emits, not on which thread is faster. A part that completes leaves the turn.
   * `false`: deliver items as they arrive, for throughput when the order does not matter.
   */
  readonly ordered?: boolean;
  /** Handed to every part in `part.seed`; default 0. */
  readonly seed?: number;
  /** Handed to every part in `part.options` (structured-cloned: plain data, typed arrays, SharedArrayBuffers). */
  readonly options?: O;
  /** This process's rank; default the subscription's placement (`RANK`, as `shard`). */
  readonly rank?: number;
  /** The job's world size; default the subscription's placement (`WORLD_SIZE`, as `shard`). */
  readonly worldSize?: number;
  /**
   * Fail a part that emits an item before anything in its pipeline split the input by worker
   * (`shard()`, `fromRandomAccess`), code `RXFEED_ERR_WORKER_UNSPLIT`, since every thread would
   * otherwise read the same items; default true. Pass false when each part picks its own input
   * from `part.workerIndex`.
   */
  readonly checkSplit?: boolean;
  /** Memory limits of each thread (see `worker_threads.ResourceLimits`). */
  readonly resourceLimits?: ResourceLimits;
}

/** The options type a pipeline reads from `part.options`. @public */
export type WorkerPipelineOptionsOf<F extends WorkerPipelineFunction> = Parameters<F>[0] extends WorkerPart<infer O> ? O : unknown;

/** The item type a pipeline emits. @public */
export type WorkerPipelineItem<F extends WorkerPipelineFunction> = Awaited<ReturnType<F>> extends Observable<infer T> ? T : unknown;

/**
 * Counters of a {@link WorkerPipeline}, for metrics and tests.
 * @public
 */
export interface WorkerPipelineStats {
  /** Live threads. */
  readonly threads: number;
  /** Subscriptions being read now. */
  readonly subscriptions: number;
  /** Items received from the threads and not yet handed on, over every subscription. */
  readonly held: number;
}

/** The default of {@link WorkerPipelineOptions.maxCredits}. */
const DEFAULT_MAX_CREDITS = 8;

/** The prefix of the parts' stages in a Flow's readings: `workerPipeline/fromWebDataset`. */
const PART_STAGE_PREFIX = 'workerPipeline/';

const THREAD_MODULE = new URL('./workerPipelineThread.js', import.meta.url);

/** The main thread's view of one part of one subscription. */
interface Part<T> {
  /** The worker: its place in the turn. */
  readonly index: number;
  readonly thread: PipelineThread;
  /** Received, not yet handed on: at most `credits`. */
  readonly queue: T[];
  /** The origins of each item in `queue`. */
  readonly origins: Origins[];
  /** The main thread's copies of the ledgers the part registered, by the part's id. */
  readonly ledgers: CountLedger[];
  /** The thread said `end` (or died): no more items come. */
  ended: boolean;
  error: WorkerPipelineError | undefined;
  /** Credits owed to the thread, sent in one message per microtask. */
  owed: number;
  /** The part's credits now; `creditsChanged` until the thread is told. */
  credits: number;
  creditsChanged: boolean;
  /** Under `credits: 'auto'`: the rule that changes `credits`. */
  readonly tuner: CreditTuner | undefined;
  /** The consumer waits on the part now (counted once per wait). */
  waitedOn: boolean;
  /** The part's busy time and stages, as last read by its thread; kept once it ends. */
  busyMs: number;
  stages: readonly StageMetrics[];
  /** Resolves once the part's resources in the thread are released (or the thread is gone). */
  readonly released: Promise<void>;
  release(): void;
}

/** A thread of the pipeline, with the subscriptions' parts it runs. */
class PipelineThread {
  readonly worker: Worker;
  readonly parts = new Map<number, { message(message: FromThread): void; died(error: Error): void }>();
  #error: Error | undefined;
  gone = false;

  constructor(resourceLimits: ResourceLimits | undefined, onGone: (thread: PipelineThread) => void) {
    this.worker = new Worker(THREAD_MODULE, resourceLimits === undefined ? {} : { resourceLimits });
    // An idle pipeline does not keep the process alive; a subscription refs it while it reads.
    this.worker.unref();
    this.worker.on('message', (message: FromThread) => this.parts.get(message.run)?.message(message));
    this.worker.on('error', (error) => {
      this.#error = error;
    });
    this.worker.on('exit', (code) => {
      this.gone = true;
      onGone(this);
      const error = this.#error ?? new Error(`worker thread exited with code ${code}`);
      for (const part of [...this.parts.values()]) part.died(error);
      this.parts.clear();
    });
  }

  post(message: ToThread): void {
    if (!this.gone) this.worker.postMessage(message);
  }

  attach(run: number, part: { message(message: FromThread): void; died(error: Error): void }): void {
    if (this.parts.size === 0) this.worker.ref();
    this.parts.set(run, part);
  }

  detach(run: number): void {
    if (this.parts.delete(run) && this.parts.size === 0) this.worker.unref();
  }
}

/**
 * A pipeline run in worker threads: an Observable of the parts' items, merged. Each subscription
 * (a loader's iteration) starts one part per thread for its epoch; the threads persist across
 * subscriptions (PyTorch's `persistent_workers`) until {@link WorkerPipeline.close}.
 *
 * Memory: the main thread holds at most `threads x credits` items (`threads x maxCredits` under
 * `credits: 'auto'`); each thread holds what its pipeline's stages allow plus its credits.
 *
 * Readings (`Flow.snapshot`, the loader's `metrics()`): the merge queue is the stage
 * `workerPipeline`: capacity the parts' credits summed, occupancy the items received and not yet
 * handed on, parallelism the threads, and busy time the time the parts spent producing (not
 * parked for credits, nor after their end), as each thread measures it and sends it with its
 * items. It never parks other sources: the pipeline drains it itself. The parts' own stages
 * follow as `workerPipeline/<name>` (`workerPipeline/fromWebDataset`,
 * `workerPipeline/parallelMap`, `workerPipeline/collate` ...), summed over the parts by name:
 * counts, capacity, occupancy, busy time, occupancy integral and parallelism are sums;
 * `elapsedMs` is the longest part's, `emptyMs` and `fullMs` the parts' mean (so each stays
 * within `elapsedMs`). A thread sends them at most every 100 ms with its items, and its totals
 * when its part ends or is stopped; the last reading of a part that ended, or whose thread
 * died, is kept.
 * @public
 */
export class WorkerPipeline<T> extends Observable<T> implements AsyncDisposable {
  /** The pipeline, as `module#export`. */
  readonly name: string;
  readonly #module: string;
  readonly #exportName: string;
  readonly #options: WorkerPipelineOptions<unknown>;
  /** Fixed threads, or undefined under `'auto'`. */
  readonly #fixedThreads: number | undefined;
  /** The most threads: the pool's size. */
  readonly #maxThreads: number;
  /** Fixed credits, or undefined under `'auto'`. */
  readonly #fixedCredits: number | undefined;
  readonly #maxCredits: number;
  /** Under `threads: 'auto'`: the latest items/s measured with each count. */
  readonly #throughput = new Map<number, number>();
  readonly #source: Observable<T>;
  readonly #pool: (PipelineThread | undefined)[];
  /** The subscriptions being read: their parts, how to end them, and when they are released. */
  readonly #active = new Set<{
    readonly parts: readonly Part<T>[];
    readonly fail: (error: unknown) => void;
    readonly released: Promise<unknown>;
  }>();
  #nextRun = 0;
  #closed = false;

  /** @internal use {@link workerPipeline} */
  constructor(module: string, exportName: string, options: WorkerPipelineOptions<unknown>) {
    super((subscriber: Subscriber<T>) => this.#source.subscribe(subscriber));
    this.#module = module;
    this.#exportName = exportName;
    this.#options = options;
    this.name = `${module.slice(module.lastIndexOf('/') + 1)}#${exportName}`;
    const threads = options.threads ?? availableParallelism();
    const credits = options.credits ?? 2;
    const maxThreads = options.maxThreads ?? availableParallelism();
    const maxCredits = options.maxCredits ?? DEFAULT_MAX_CREDITS;
    for (const [name, value, auto] of [
      ['threads', threads, true],
      ['credits', credits, true],
      ['maxThreads', maxThreads, false],
      ['maxCredits', maxCredits, false],
    ] as const) {
      if (auto && value === 'auto') continue;
      if (!Number.isSafeInteger(value) || (value as number) < 1) {
        throw new InvalidArgumentError(
          `workerPipeline.${name}`,
          `must be a positive integer${auto ? " or 'auto'" : ''}, got ${describe(value)}`,
        );
      }
    }
    this.#fixedThreads = threads === 'auto' ? undefined : threads;
    this.#maxThreads = threads === 'auto' ? maxThreads : threads;
    this.#fixedCredits = credits === 'auto' ? undefined : credits;
    this.#maxCredits = maxCredits;
    const seed = options.seed ?? 0;
    if (!Number.isSafeInteger(seed)) throw new InvalidArgumentError('workerPipeline.seed', `must be a safe integer, got ${describe(seed)}`);
    checkPlacementOptions({ rank: options.rank, worldSize: options.worldSize }, 'workerPipeline');
    this.#pool = new Array<PipelineThread | undefined>(this.#maxThreads).fill(undefined);
    this.#source = produce<T>((op) => this.#read(op));
  }

  /**
   * Worker threads (and parts) the next subscription reads with: the fixed count, or under
   * `threads: 'auto'` the hill-climb's next choice (see {@link WorkerPipelineOptions.threads}).
   */
  get threads(): number {
    return (
      this.#fixedThreads ??
      nextThreads(
        [...this.#throughput].map(([threads, itemsPerSecond]) => ({ threads, itemsPerSecond })),
        this.#maxThreads,
      )
    );
  }

  /** Counters for metrics and tests. */
  stats(): WorkerPipelineStats {
    let held = 0;
    for (const { parts } of this.#active) for (const part of parts) held += part.queue.length;
    return { threads: this.#pool.filter((thread) => thread !== undefined).length, subscriptions: this.#active.size, held };
  }

  /**
   * Under `threads: 'auto'`: the latest throughput measured with each count of threads, in items
   * per second, by count (empty otherwise, and until an epoch completes).
   */
  throughput(): ReadonlyMap<number, number> {
    return new Map(this.#throughput);
  }

  /** The first `count` threads, started on first use; a thread that died is replaced. */
  #threads(count: number): PipelineThread[] {
    return this.#pool.slice(0, count).map(
      (thread, index) =>
        thread ??
        (this.#pool[index] = new PipelineThread(this.#options.resourceLimits, (gone) => {
          if (this.#pool[index] === gone) this.#pool[index] = undefined;
        })),
    );
  }

  /** One subscription: start a part in every thread and merge their items. */
  #read(op: Operation<T>): void {
    if (this.#closed) throw new ExecutorClosedError('pipeline');
    const { rank, worldSize } = op.context.placement({ rank: this.#options.rank, worldSize: this.#options.worldSize }, 'workerPipeline');
    const run = this.#nextRun++;
    const ordered = this.#options.ordered ?? true;
    // Under `threads: 'auto'`, the epoch's throughput; real time, as the threads run in it. An
    // epoch that starts threads is not measured: their start-up and first module load would count
    // against its count (measured here: a third of the first epoch's throughput on 2 cores).
    const count = this.threads; // under 'auto', worked out from the measured epochs
    const startsThreads = this.#pool.slice(0, count).includes(undefined);
    const threads = this.#threads(count);
    const parts: Part<T>[] = [];
    let turn = 0;
    const { flow } = op.context;
    const startedAt = performance.now();
    let delivered = 0;
    let completed = false;
    /** Times the consumer waited on a part: `credits: 'auto'` lowers credits only when it never did. */
    let waits = 0;
    let capacity = 0;
    const stage = op.register({
      name: 'workerPipeline',
      get capacity() {
        return capacity;
      },
      parallelism: threads.length,
      gates: false,
      // It gates nothing, so only readings ask: summed then, not kept in step per item.
      occupancy: () => parts.reduce((held, part) => held + part.queue.length, 0),
    });
    const external = flow.external(() => mergePartStages(parts.map((part) => part.stages)));
    op.finalize(() => external.unregister());

    const pump = op.pump(() => {
      while (!op.closed) {
        const next = ordered ? nextInTurn() : nextArrived();
        if (next === 'wait') {
          // Downstream has room and nothing can be handed on: the consumer waits on a part.
          if (!flow.saturated()) waitedOn(ordered ? [parts[turn]!] : parts.filter((part) => !part.ended));
          return;
        }
        if (next === 'done') {
          completed = true;
          op.complete();
          return;
        }
        if (next instanceof WorkerPipelineError) {
          op.fail(next);
          return;
        }
        if (!pump.ready()) return;
        const value = next.queue.shift()!;
        const origins = next.origins.shift();
        // The turn passes only once the item is taken (not when the Flow said wait).
        turn = (next.index + 1) % parts.length;
        delivered++;
        stage.left();
        next.waitedOn = false;
        if (next.tuner?.handed(waits)) setCredits(next);
        owe(next);
        op.emit(value, origins);
      }
    });

    // Ordered: the part whose turn it is, or its error once it has nothing left before it; a part
    // that completed with nothing left leaves the turn.
    const nextInTurn = (): Part<T> | WorkerPipelineError | 'wait' | 'done' => {
      for (let scanned = 0; scanned < parts.length; scanned++) {
        const part = parts[turn]!;
        if (part.queue.length > 0) return part;
        if (part.error !== undefined) return part.error;
        if (!part.ended) return 'wait';
        turn = (turn + 1) % parts.length;
      }
      return 'done';
    };

    // Unordered: any part with an item, starting after the last one served (for fairness); a
    // failure ends the stream as soon as it arrives.
    const nextArrived = (): Part<T> | WorkerPipelineError | 'wait' | 'done' => {
      const failed = parts.find((part) => part.error !== undefined);
      if (failed !== undefined) return failed.error!;
      let allEnded = true;
      for (let scanned = 0; scanned < parts.length; scanned++) {
        const part = parts[(turn + scanned) % parts.length]!;
        if (part.queue.length > 0) return part;
        if (!part.ended) allEnded = false;
      }
      return allEnded ? 'done' : 'wait';
    };

    const waitedOn = (waited: readonly Part<T>[]): void => {
      for (const part of waited) {
        if (part.waitedOn) continue;
        part.waitedOn = true;
        waits++;
        if (part.tuner?.waited(waits)) setCredits(part);
      }
    };
    const setCredits = (part: Part<T>): void => {
      capacity += part.tuner!.credits - part.credits;
      part.credits = part.tuner!.credits;
      part.creditsChanged = true;
      queueCredits();
    };

    let creditsQueued = false;
    const owe = (part: Part<T>): void => {
      part.owed++;
      queueCredits();
    };
    const queueCredits = (): void => {
      if (creditsQueued) return;
      creditsQueued = true;
      queueMicrotask(() => {
        creditsQueued = false;
        for (const each of parts) {
          if ((each.owed === 0 && !each.creditsChanged) || each.ended) continue;
          each.thread.post({ kind: 'credit', run, count: each.owed, ...(each.creditsChanged ? { credits: each.credits } : {}) });
          each.owed = 0;
          each.creditsChanged = false;
        }
      });
    };
    const read = (part: Part<T>, reading: PartReading): void => {
      if (reading.busyMs > part.busyMs) stage.worked(reading.busyMs - part.busyMs);
      part.busyMs = Math.max(part.busyMs, reading.busyMs);
      if (reading.stages !== undefined) part.stages = reading.stages;
    };

    // Loader state: the parts' ledgers are kept here, where their items are consumed. A rank-level
    // ledger (an indexed source's, numbered by the rank's plan) is one for all the parts, so a
    // state resumes on any number of threads; any other is the part's own.
    const { tracker } = op.context;
    const stateKey = tracker.keyFor('workerPipeline', op.context.epoch);
    const sharedLedgers = new Map<string, CountLedger>();
    const ledgerFor = (workerIndex: number, key: string, saved: Record<string, unknown>): CountLedger => {
      const mainKey = saved.kind === 'indexed' ? `${stateKey}/${key}` : `${stateKey}/w${workerIndex}/${key}`;
      let ledger = sharedLedgers.get(mainKey);
      if (ledger === undefined) {
        ledger = CountLedger.fromSaved(mainKey, saved);
        sharedLedgers.set(mainKey, ledger);
        tracker.register(mainKey, ledger);
      }
      return ledger;
    };

    for (const [workerIndex, thread] of threads.entries()) {
      let release!: () => void;
      const released = new Promise<void>((resolve) => (release = resolve));
      const tuner = this.#fixedCredits === undefined ? new CreditTuner(this.#maxCredits) : undefined;
      const part: Part<T> = {
        index: workerIndex,
        thread,
        queue: [],
        origins: [],
        ledgers: [],
        ended: false,
        error: undefined,
        owed: 0,
        credits: tuner?.credits ?? this.#fixedCredits!,
        creditsChanged: false,
        tuner,
        waitedOn: false,
        busyMs: 0,
        stages: [],
        released,
        release,
      };
      capacity += part.credits;
      const consumeDropped = (pairs: readonly number[]): void => {
        for (let i = 0; i < pairs.length; i += 2) part.ledgers[pairs[i]!]?.consume(pairs[i + 1]!);
      };
      parts.push(part);
      // No more items come from the part: it completed (no error), failed, or its thread died.
      const end = (error?: WorkerPipelineError): void => {
        part.error = error;
        part.ended = true;
        part.release();
        pump.run();
      };
      thread.attach(run, {
        message: op.guard((message: FromThread) => {
          if (message.kind === 'items') {
            read(part, message.reading);
            part.queue.push(...(message.values as T[]));
            stage.entered(message.values.length);
            for (const pairs of message.origins) part.origins.push(decodeOrigins(pairs, part.ledgers));
            consumeDropped(message.dropped);
            if (op.closed) {
              part.origins.length = 0;
              disposeAll(part.queue.splice(0));
            } else {
              pump.run();
            }
            return;
          }
          if (message.kind === 'ledger') {
            part.ledgers[message.id] = ledgerFor(workerIndex, message.key, message.saved);
            return;
          }
          if (message.kind === 'stage') {
            tracker.untracked(
              `${stateKey}/w${workerIndex}/${message.key}`,
              'a stateful stage inside a worker pipeline part cannot be saved yet',
            );
            return;
          }
          if (message.kind === 'end') consumeDropped(message.dropped);
          read(part, message.reading);
          thread.detach(run);
          end(
            message.kind === 'end' && message.error !== undefined
              ? new WorkerPipelineError(this.name, workerIndex, message.error)
              : undefined,
          );
        }),
        died: (error) =>
          end(new WorkerPipelineError(this.name, workerIndex, { name: error.name, message: error.message }, 'RXFEED_ERR_WORKER_EXIT')),
      });
      const description: PartDescription = {
        rank,
        worldSize,
        workerIndex,
        numWorkers: threads.length,
        epoch: op.context.epoch,
        seed: this.#options.seed ?? 0,
        options: this.#options.options,
      };
      try {
        thread.post({
          kind: 'start',
          run,
          module: this.#module,
          exportName: this.#exportName,
          part: description,
          credits: part.credits,
          checkSplit: this.#options.checkSplit ?? true,
          timing: flow.timing,
          restore: partStates(tracker, stateKey, workerIndex),
        });
      } catch (error) {
        // Only the options can fail to clone; nothing was started in this thread.
        thread.detach(run);
        part.ended = true;
        part.release();
        throw new InvalidArgumentError('workerPipeline.options', `cannot be sent to a worker thread: ${(error as Error).message}`);
      }
    }

    const entry = { parts, fail: (error: unknown) => op.fail(error), released: Promise.all(parts.map((part) => part.released)) };
    this.#active.add(entry);
    op.finalize(() => {
      if (this.#fixedThreads === undefined && completed && delivered > 0 && !startsThreads) {
        const seconds = (performance.now() - startedAt) / 1000;
        if (seconds > 0) this.#throughput.set(threads.length, delivered / seconds);
      }
      for (const part of parts) {
        part.origins.length = 0;
        disposeAll(part.queue.splice(0));
        if (part.ended) continue;
        // Stopped parts release in their threads; the loader's `break` waits for that.
        part.thread.post({ kind: 'stop', run });
        void part.released.then(() => part.thread.detach(run));
      }
      void entry.released.then(() => this.#active.delete(entry));
      op.context.flow.trackRelease(entry.released);
    });
    pump.run();
  }

  /**
   * End every subscription being read (with {@link ExecutorClosedError}), wait until their parts
   * have released their resources, and stop the threads. Subscribing afterwards fails.
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    const active = [...this.#active];
    for (const entry of active) entry.fail(new ExecutorClosedError('pipeline'));
    await Promise.all(active.map((entry) => entry.released));
    const threads = this.#pool.splice(0).filter((thread) => thread !== undefined);
    await Promise.all(threads.map((thread) => thread.worker.terminate()));
  }

  /** Same as {@link WorkerPipeline.close}, for `await using`. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}

/**
 * The parts' stages summed by name, in the order they first appear (each part lists its stages
 * source to sink), named `workerPipeline/<name>`: sums of counts, capacity, occupancy, busy time,
 * occupancy integral and parallelism; the longest `elapsedMs`; the mean `emptyMs` and `fullMs`.
 */
function mergePartStages(readings: readonly (readonly StageMetrics[])[]): StageMetrics[] {
  const merged = new Map<string, { sum: Mutable<StageMetrics>; count: number }>();
  for (const stages of readings) {
    for (const stage of stages) {
      const entry = merged.get(stage.name);
      if (entry === undefined) {
        merged.set(stage.name, { sum: { ...stage, name: PART_STAGE_PREFIX + stage.name }, count: 1 });
        continue;
      }
      const { sum } = entry;
      entry.count++;
      addStageCounters(sum, stage);
      sum.capacity += stage.capacity;
      sum.occupancy += stage.occupancy;
      sum.parallelism += stage.parallelism;
      sum.elapsedMs = Math.max(sum.elapsedMs, stage.elapsedMs);
    }
  }
  return [...merged.values()].map(({ sum, count }) => ({ ...sum, emptyMs: sum.emptyMs / count, fullMs: sum.fullMs / count }));
}

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

/** Origins from pairs `ledger id, item number` (null: unknown). */
function decodeOrigins(pairs: readonly number[] | null, ledgers: readonly CountLedger[]): Origins {
  if (pairs === null) return undefined;
  const origins = new OriginList();
  for (let i = 0; i < pairs.length; i += 2) {
    const ledger = ledgers[pairs[i]!];
    if (ledger === undefined) return undefined;
    origins.ledgers.push(ledger);
    origins.seqs.push(pairs[i + 1]!);
  }
  return origins;
}

/**
 * The states being resumed from, as worker `workerIndex`'s part sees them: the pipeline's shared
 * parts and the worker's own, keyed as the part registers them.
 */
function partStates(tracker: StateTracker, stateKey: string, workerIndex: number): RestoreStates {
  const shared = `${stateKey}/`;
  const own = `${stateKey}/w${workerIndex}/`;
  return tracker.restoring.map((state): LoaderState => {
    const parts: Record<string, unknown> = {};
    for (const [key, saved] of Object.entries(state.parts)) {
      if (key.startsWith(own)) parts[key.slice(own.length)] = saved;
      else if (key.startsWith(shared) && !/^w\d+\//.test(key.slice(shared.length))) parts[key.slice(shared.length)] = saved;
    }
    return { ...state, parts };
  });
}

/**
 * Run a pipeline in worker threads, one part per thread, and merge their items.
 *
 * The pipeline is an export of a compiled ES module (closures cannot cross threads), called in
 * each thread with its {@link WorkerPart}: which worker it is, the rank and world size, the
 * epoch, the seed and the bound options. `shard()` and `fromRandomAccess` inside it split their
 * input by the part without being told. Only the pipeline's items cross to the main thread, their
 * buffers moved: let it end with `batch` and `collate`, so one message carries a whole batch.
 *
 * Errors, `break`, aborts and epochs behave as in a main-thread pipeline: a part's error reaches
 * the loop as a {@link WorkerPipelineError} (its own error as `cause`, its code as `remoteCode`);
 * a `break` stops every part and returns once each has released its files, sockets and cursors;
 * each loader iteration starts the parts for its epoch on the same threads.
 *
 * @example
 * ```ts
 * import { type WorkerPart, workerPipeline } from 'rxfeed/workers';
 * import { batch, collate, shard, shuffleBuffer, toLoader } from 'rxfeed';
 * import { fromWebDataset } from 'rxfeed/webdataset';
 * import { map } from 'rxjs';
 * import type { WebDatasetSample } from 'rxfeed/webdataset';
 * declare function decode(sample: WebDatasetSample): { image: Float32Array; label: number };
 * declare function step(batch: unknown): void;
 * declare const shards: string[];
 * // pipelines.ts, compiled to pipelines.js:
 * export function train(part: WorkerPart<{ shards: string[] }>) {
 *   return fromWebDataset(part.options.shards).pipe(
 *     shard({ mode: 'file' }), // this worker's shards
 *     shuffleBuffer(1000, { seed: part.seed }),
 *     map(decode),
 *     batch(64),
 *     collate(),
 *   );
 * }
 * // main thread:
 * await using batches = workerPipeline<typeof train>(new URL('./pipelines.js', import.meta.url), 'train', {
 *   options: { shards },
 * });
 * for await (const batch of toLoader(batches)) step(batch);
 * ```
 *
 * @example
 * Threads chosen epoch by epoch and credits as it reads; the parts' stages in the loader's readings:
 * ```ts
 * import { workerPipeline } from 'rxfeed/workers';
 * import { toLoader } from 'rxfeed';
 * declare function step(batch: unknown): Promise<void>;
 * await using batches = workerPipeline(new URL('./pipelines.js', import.meta.url), 'train', {
 *   threads: 'auto', // at most availableParallelism(), or maxThreads
 *   credits: 'auto', // at most maxCredits (8) per thread
 * });
 * const loader = toLoader(batches);
 * const printing = loader.metrics(10_000).subscribe(([reading]) => {
 *   // workerPipeline/fromWebDataset, workerPipeline/collate ..., then workerPipeline (the merge queue)
 *   for (const stage of reading?.stages ?? []) console.log(stage.name, stage.itemsOut, stage.busyMs / stage.parallelism);
 * });
 * for (let epoch = 0; epoch < 10; epoch++) {
 *   for await (const batch of loader) await step(batch);
 *   console.log(`next epoch: ${batches.threads} threads`, batches.throughput());
 * }
 * printing.unsubscribe();
 * ```
 *
 * @param module - The module: a `URL`, a `file:` URL string, or an absolute path.
 * @param exportName - The name of the pipeline function export.
 * @param options - See {@link WorkerPipelineOptions}.
 * @returns A {@link WorkerPipeline}; close it when done (its idle threads do not keep the process alive).
 * @public
 */
export function workerPipeline<F extends WorkerPipelineFunction>(
  module: URL | string,
  exportName: string,
  options: WorkerPipelineOptions<WorkerPipelineOptionsOf<F>> = {},
): WorkerPipeline<WorkerPipelineItem<F>> {
  if (typeof exportName !== 'string' || exportName === '') {
    throw new InvalidArgumentError('workerPipeline.exportName', 'must name an export of the module');
  }
  return new WorkerPipeline(moduleUrl(module, 'workerPipeline.module'), exportName, options);
}
