/**
 * The sink of a pipeline: an Observable you can also `for await` over and `await using`.
 *
 * @module
 */
import { channel } from 'node:diagnostics_channel';
import { interval, map, Observable, type SchedulerLike, type Subscriber, type Subscription } from 'rxjs';
import { checkAutotuneOptions, PREFETCH_AUTO_INITIAL, tuneBuffer, type AutotuneOptions, type Knob } from './autotune.js';
import { bindContext } from './context.js';
import { disposeAll } from './dispose.js';
import { AbortedError, EmptyPipelineError, InvalidArgumentError, RxfeedError } from './errors.js';
import { addStageCounters, Flow, type FlowMetrics, type StageHandle, type StageMetrics } from './flow.js';
import { infoOf, sizeOf, withInfo } from './info.js';
import { checkRestoreStates, freshState, LoaderStateError, StateTracker, type LoaderState, type RestoreStates } from './loaderState.js';
import { consumeOrigins, takeOrigins, UNKNOWN_ORIGINS, type Origins } from './origins.js';
import { PipelineReport } from './report.js';

/** Options of {@link toLoader}. */
export interface LoaderOptions {
  /**
   * Items (batches, usually) kept ready ahead of the consumer of a `for await` loop; default 2, as
   * PyTorch's DataLoader `prefetch_factor`. This is the loader's stage capacity in the Flow gauge.
   *
   * `'auto'`: the autotuner sizes it while an iteration runs, from {@link PREFETCH_AUTO_INITIAL},
   * raising it when the queue was both full and empty in one period (jitter a bigger queue
   * absorbs), within the memory budget; it never holds more than {@link PREFETCH_AUTO_MAX} items.
   */
  readonly prefetch?: number | 'auto';
  /** Aborting it ends every iteration and subscription with an {@link AbortedError}. */
  readonly signal?: AbortSignal;
  /** Scheduler for backpressure wake-ups and metrics; virtual in marble tests. */
  readonly scheduler?: SchedulerLike;
  /**
   * Resume from what {@link Loader.state} returned: the next iteration reads the state's epoch
   * from where its consumer was, and the items before the checkpoint followed by the items after
   * it are exactly those of an uninterrupted run. Give the states of every rank of the saving run
   * (in any order) to resume an indexed pipeline on a different number of ranks.
   */
  readonly state?: LoaderState | readonly LoaderState[];
  /**
   * Time every stage, for {@link Loader.report} and {@link Loader.metrics} (default true). It costs
   * a clock read per item entering or leaving a stage and per task; off, only counts are kept.
   */
  readonly timing?: boolean;
  /**
   * Settings of the autotuner that sizes the pipeline's `'auto'` stages (`parallelMap`'s
   * `concurrency: 'auto'`, `prefetch('auto')`, `prefetch: 'auto'` here): its CPU and memory
   * budgets and its period. See {@link AutotuneOptions} for the defaults and bounds. Each
   * iteration has its own controller (it needs `timing` on), which starts from the values the
   * loader's previous iteration left.
   *
   * @example
   * ```ts
   * import { parallelMap, toLoader } from 'rxfeed';
   * import type { Observable } from 'rxjs';
   * declare const records: Observable<Uint8Array>;
   * declare function decode(record: Uint8Array): Promise<Float32Array>;
   * const loader = toLoader(records.pipe(parallelMap(decode, { concurrency: 'auto' })), {
   *   prefetch: 'auto',
   *   autotune: { memoryBytes: 2 ** 30 },
   * });
   * ```
   */
  readonly autotune?: AutotuneOptions;
}

/**
 * Snapshots of every active subscription's Flow are published on this `node:diagnostics_channel`
 * by {@link Loader.metrics}.
 * @public
 */
export const METRICS_CHANNEL = 'rxfeed:metrics';
const metricsChannel = channel(METRICS_CHANNEL);

/**
 * What {@link Loader.readings} returns: the live readings of the running iterations and what the
 * ended ones left, for exporters whose counters must never go backwards (`rxfeed/opentelemetry`).
 * @public
 */
export interface LoaderReadings {
  /**
   * A reading of each running iteration and subscription, taken now: from its start until its
   * consumer is done with it (told the end, broke out, or unsubscribed).
   */
  readonly running: readonly FlowMetrics[];
  /** The final reading of the iteration or subscription that ended last; `undefined` until one ends. */
  readonly last: FlowMetrics | undefined;
  /**
   * The final readings of every iteration and subscription that ended, summed stage by stage
   * (matched by name): items, times and the consumer's counters added, gauges (`capacity`,
   * `occupancy`, `parallelism`) those of the last. Adding `running` gives counters that only grow
   * over the loader's life. `undefined` until one ends.
   */
  readonly ended: FlowMetrics | undefined;
}

/** How an iteration tells its loader it began and ended, for {@link Loader.readings}. */
interface ReadingsSink {
  began(flow: Flow): void;
  ended(flow: Flow): void;
}

/**
 * A pipeline ready to be consumed: an Observable, an `AsyncIterable` and an `AsyncDisposable`.
 *
 * - `for await (const x of loader)`: each loop subscribes once, keeps at most `prefetch` items
 *   ready, and a `break` (or a `throw` in the loop) resolves only after every source has closed
 *   its resources. Items still queued are disposed.
 * - `loader.subscribe(...)`: a plain subscription, with backpressure inside the pipeline.
 * - `await using loader = toLoader(...)`: leaving the block ends every active iteration and
 *   subscription and waits for the releases.
 *
 * @public
 */
export class Loader<T> extends Observable<T> implements AsyncIterable<T>, AsyncDisposable {
  readonly #source: Observable<T>;
  readonly #prefetch: number | 'auto';
  readonly #autotune: AutotuneOptions | undefined;
  readonly #signal: AbortSignal | undefined;
  readonly #scheduler: SchedulerLike | undefined;
  readonly #timing: boolean;
  readonly #active = new Set<ActiveEntry>();
  #epoch = 0;
  #epochTaken = false; // an iteration or subscription has read `#epoch`
  /** The states the next iteration resumes from (from `options.state`), until it starts. */
  #restoring: RestoreStates | undefined;
  /** The latest iteration or subscription: what `state()` describes once none is active. */
  #last: ActiveEntry | undefined;
  /** The Flows of the running iterations and subscriptions (see {@link Loader.readings}). */
  readonly #running = new Set<Flow>();
  #lastReading: FlowMetrics | undefined;
  #endedReadings: FlowMetrics | undefined;
  readonly #readingsSink: ReadingsSink = {
    began: (flow) => this.#running.add(flow),
    ended: (flow) => {
      if (!this.#running.delete(flow)) return;
      const reading = flow.snapshot();
      this.#lastReading = reading;
      this.#endedReadings = addReadings(this.#endedReadings, reading);
    },
  };

  /** @internal use {@link toLoader} */
  constructor(source: Observable<T>, options: LoaderOptions = {}) {
    super((subscriber) => this.#subscribePlain(subscriber));
    this.#source = source;
    this.#prefetch = options.prefetch ?? 2;
    this.#signal = options.signal;
    this.#scheduler = options.scheduler;
    this.#timing = options.timing ?? true;
    if (this.#prefetch !== 'auto' && (!Number.isSafeInteger(this.#prefetch) || this.#prefetch < 1)) {
      throw new InvalidArgumentError('toLoader.prefetch', `must be a positive integer or 'auto', got ${String(options.prefetch)}`);
    }
    // A copy of its own: the autotuner keeps its knobs' values per settings object, so each
    // iteration of this loader starts from where the last one left off (see autotune.ts).
    this.#autotune = { ...checkAutotuneOptions(options.autotune) };
    if (options.state !== undefined) {
      this.#restoring = checkRestoreStates(options.state);
      this.#epoch = this.#restoring[0]!.epoch;
    }
  }

  /**
   * What the consumer has received, as a small JSON value to save next to the model and resume
   * from with `toLoader(pipeline, { state })`.
   *
   * It counts what reached the consumer, never what the sources read ahead: an item is received
   * when a `for await` loop (or a subscriber) is handed it, so a state taken in the loop's body
   * includes the item in hand. Items held in prefetch queues, partial batches and worker threads
   * are read again after a resume.
   * - During an iteration: where its consumer is in the epoch.
   * - After an iteration that completed: the start of the next epoch.
   * - After a `break`, an error or an abort: where that iteration's consumer stopped.
   * - Before the first iteration of a resumed loader: the state it resumes from.
   *
   * An indexed pipeline (`fromRandomAccess`) saves its position in the epoch's global order and
   * the few items consumed out of order: a few hundred bytes whatever the dataset size.
   *
   * @example
   * ```ts
   * import { writeFile } from 'node:fs/promises';
   * import type { Loader } from 'rxfeed';
   * declare const loader: Loader<unknown>;
   * declare function step(batch: unknown): Promise<void>;
   * let steps = 0;
   * for await (const batch of loader) {
   *   await step(batch);
   *   if (++steps % 1000 === 0) await writeFile('loader.json', JSON.stringify(loader.state()));
   * }
   * ```
   *
   * @returns The state, JSON-serialisable.
   * @throws {@link LoaderStateError} `RXFEED_ERR_STATE_UNTRACKED` when a stage or source in the
   *   pipeline cannot save its state (it is named), or when two iterations are active at once.
   */
  state(): LoaderState {
    if (this.#active.size > 1) {
      throw new LoaderStateError(
        'RXFEED_ERR_STATE_UNTRACKED',
        `Loader.state: ${this.#active.size} iterations are active at once; which one?`,
      );
    }
    const [active] = this.#active;
    if (active !== undefined) return active.tracker.save(active.epoch);
    if (this.#restoring !== undefined) {
      if (this.#restoring.length > 1) {
        throw new LoaderStateError(
          'RXFEED_ERR_STATE_UNTRACKED',
          `Loader.state: the loader resumes from ${this.#restoring.length} ranks' states and has not started; save those`,
        );
      }
      return this.#restoring[0]!;
    }
    const last = this.#last;
    if (last === undefined || last.completed) return freshState(this.#nextEpoch());
    return last.tracker.save(last.epoch);
  }

  /**
   * The epoch being read by the latest iteration or subscription, or to be read by the next one.
   *
   * Each new `for await` over the loader (or subscription of it) reads the next epoch: 0, then 1,
   * 2 ..., so seeded stages (`shuffleBuffer`, `mix`, shuffled sources) reshuffle every time the
   * loader is iterated again, as tfjs's `model.fitDataset` and any `for (epoch ...) for await`
   * loop do. Set it to resume at epoch `k`: the next iteration reads `k`, as PyTorch's
   * `DistributedSampler.set_epoch(k)`.
   */
  get epoch(): number {
    return this.#epoch;
  }

  set epoch(epoch: number) {
    if (!Number.isSafeInteger(epoch) || epoch < 0) {
      throw new InvalidArgumentError('Loader.epoch', `must be a non-negative integer, got ${String(epoch)}`);
    }
    this.#epoch = epoch;
    this.#epochTaken = false;
  }

  /**
   * Items one iteration yields (batches, usually), when the pipeline's size is known at pipe
   * time: PyTorch's `len(dataloader)`, fastai's `n` in batches. `undefined` when unknown (a plain
   * RxJS operator such as `filter` in the pipeline hides it).
   */
  get length(): number | undefined {
    return sizeOf(this.#source);
  }

  /**
   * The first item of the next iteration, without starting it: the epoch does not advance, and
   * the next `for await` begins with this same item (fastai's `one_batch`, to look at a batch or
   * build a model's shapes). Reads only what that item needs, then releases every source.
   *
   * @example
   * ```ts
   * import type { Loader } from 'rxfeed';
   * declare const loader: Loader<unknown>;
   * const first = await loader.oneBatch();
   * for await (const batch of loader) {} // its first batch equals `first`
   * ```
   *
   * @returns The item.
   * @throws {@link EmptyPipelineError} `RXFEED_ERR_EMPTY_LOADER` when the pipeline yields nothing; any
   *   error the pipeline fails with.
   */
  async oneBatch(): Promise<T> {
    const epoch = this.#nextEpoch();
    const restoring = this.#restoring;
    const iterator = new LoaderIterator(this.#source, {
      takeEpoch: () => epoch,
      track: () => ({ tracker: new StateTracker(restoring), onComplete: () => undefined }),
      prefetch: 1,
      signal: this.#signal,
      scheduler: this.#scheduler,
      timing: this.#timing,
      autotune: this.#autotune,
      active: this.#active,
    });
    try {
      const first = await iterator.next();
      if (first.done === true) throw new EmptyPipelineError('Loader.oneBatch', epoch);
      return first.value;
    } finally {
      await iterator.return();
    }
  }

  /** The epoch a new iteration or subscription reads: the one set, else the one after the last. */
  #nextEpoch(): number {
    return this.#epochTaken ? this.#epoch + 1 : this.#epoch;
  }

  /** {@link Loader.#nextEpoch}, now read: the one after reads the epoch after it. */
  #takeEpoch(): number {
    this.#epoch = this.#nextEpoch();
    this.#epochTaken = true;
    return this.#epoch;
  }

  /** The tracker of a new iteration or subscription of epoch `epoch`, which becomes the latest. */
  #track(epoch: number): { tracker: StateTracker; entry: ActiveEntry } {
    const tracker = new StateTracker(this.#restoring);
    this.#restoring = undefined;
    const entry: ActiveEntry = { flow: undefined!, end: () => undefined, tracker, epoch, completed: false };
    this.#last = entry;
    return { tracker, entry };
  }

  #subscribePlain(subscriber: Subscriber<T>): Subscription | undefined {
    const flow = new Flow({ scheduler: this.#scheduler, timing: this.#timing, autotune: this.#autotune });
    const signal = this.#signal;
    if (signal?.aborted) {
      subscriber.error(new AbortedError(signal.reason));
      return undefined;
    }
    const epoch = this.#takeEpoch();
    const { tracker, entry } = this.#track(epoch);
    entry.flow = flow;
    entry.end = () => subscription.unsubscribe();
    const onAbort = (): void => subscriber.error(new AbortedError(signal?.reason));
    signal?.addEventListener('abort', onAbort, { once: true });
    this.#active.add(entry);
    this.#readingsSink.began(flow);
    // It ends for its consumer when the subscriber is done: completed, failed or unsubscribed.
    subscriber.add(() => this.#readingsSink.ended(flow));
    // The subscriber receives each item: its origins are consumed as it is handed over.
    const counting = {
      next: (value: T) => {
        consumeOrigins(arriving(tracker));
        flow.recordConsumed();
        if (!flow.timing) {
          subscriber.next(value);
          return;
        }
        // A subscriber's work on an item is what its `next` does synchronously.
        const start = flow.now();
        try {
          subscriber.next(value);
        } finally {
          flow.recordConsumerBusy(flow.now() - start);
        }
      },
      error: (error: unknown) => subscriber.error(error),
      complete: () => {
        entry.completed = true;
        subscriber.complete();
      },
    };
    const subscription = bindContext({ flow, epoch, tracker }, () => this.#source.subscribe(counting));
    subscription.add(() => {
      signal?.removeEventListener('abort', onAbort);
      this.#active.delete(entry);
    });
    return subscription;
  }

  /** Iterate with `for await`; see the class description for `break` and error semantics. */
  [Symbol.asyncIterator](): AsyncIterableIterator<T> {
    return new LoaderIterator(this.#source, {
      takeEpoch: () => this.#takeEpoch(),
      track: (epoch, flow) => {
        const { tracker, entry } = this.#track(epoch);
        entry.flow = flow;
        return { tracker, onComplete: () => (entry.completed = true) };
      },
      prefetch: this.#prefetch,
      signal: this.#signal,
      scheduler: this.#scheduler,
      timing: this.#timing,
      autotune: this.#autotune,
      active: this.#active,
      readings: this.#readingsSink,
    });
  }

  /** End every active iteration and subscription, and wait until their sources are released. */
  async [Symbol.asyncDispose](): Promise<void> {
    const active = [...this.#active];
    for (const entry of active) entry.end();
    await Promise.all(active.map((entry) => entry.flow.released()));
  }

  /**
   * Where the latest iteration's time went (the one running, else the last one): each stage's
   * items per second, work per item, how busy its workers were, how long it waited on upstream
   * (empty) and held upstream back (full), the loop's exposed wait, and a verdict naming the
   * bottleneck. See {@link PipelineReport}.
   *
   * @example
   * ```ts
   * import { toLoader } from 'rxfeed';
   * import type { Observable } from 'rxjs';
   * declare const batches: Observable<unknown>;
   * declare function step(batch: unknown): Promise<void>;
   * const loader = toLoader(batches);
   * for await (const batch of loader) await step(batch);
   * console.log(loader.report().verdict);
   * // e.g. "parallelMap is 98% busy (2 at once) and the loop waited 31% of the time: add threads ..."
   * ```
   *
   * @returns The report; before any iteration, one that says no item reached the loop.
   */
  report(): PipelineReport {
    const latest = [...this.#active].at(-1) ?? this.#last;
    const flow = latest?.flow ?? new Flow({ scheduler: this.#scheduler });
    return new PipelineReport(flow.snapshot());
  }

  /**
   * Readings of every active subscription's stages (occupancy, items in and out, waiting times),
   * every `periodMs` milliseconds; each reading is also published on {@link METRICS_CHANNEL}.
   */
  metrics(periodMs = 1000): Observable<FlowMetrics[]> {
    return interval(periodMs, this.#scheduler).pipe(
      map(() => {
        const readings = [...this.#active].map((entry) => entry.flow.snapshot());
        if (metricsChannel.hasSubscribers) metricsChannel.publish(readings);
        return readings;
      }),
    );
  }

  /**
   * The readings of the running iterations and subscriptions now, the final reading of the one
   * that ended last, and the sum of every ended one's: what an exporter reads at collection time
   * (see `instrumentLoader` in `rxfeed/opentelemetry`). `oneBatch` is not an iteration: it is not
   * counted. The sum keeps one record per stage name.
   */
  readings(): LoaderReadings {
    return {
      running: [...this.#running].map((flow) => flow.snapshot()),
      last: this.#lastReading,
      ended: this.#endedReadings,
    };
  }
}

/** `total` with `reading` added (see {@link LoaderReadings.ended}). */
function addReadings(total: FlowMetrics | undefined, reading: FlowMetrics): FlowMetrics {
  if (total === undefined) return reading;
  const stages = new Map<string, StageMetrics>(total.stages.map((stage) => [stage.name, stage]));
  for (const stage of reading.stages) {
    const sum = stages.get(stage.name);
    if (sum === undefined) {
      stages.set(stage.name, stage);
      continue;
    }
    // The gauges are the latest iteration's; counters and time add up.
    const summed = { ...stage, elapsedMs: sum.elapsedMs + stage.elapsedMs };
    addStageCounters(summed, sum);
    stages.set(stage.name, summed);
  }
  return {
    ...reading,
    stages: [...stages.values()],
    waitingDownstreamMs: total.waitingDownstreamMs + reading.waitingDownstreamMs,
    waitingUpstreamMs: total.waitingUpstreamMs + reading.waitingUpstreamMs,
    consumerBusyMs: total.consumerBusyMs + reading.consumerBusyMs,
    consumed: total.consumed + reading.consumed,
    elapsedMs: total.elapsedMs + reading.elapsedMs,
  };
}

/** An active iteration or subscription, and its state tracker. */
interface ActiveEntry {
  flow: Flow;
  end: () => void;
  readonly tracker: StateTracker;
  readonly epoch: number;
  /** The iteration completed: its consumer received the whole epoch. */
  completed: boolean;
}

interface IteratorSettings {
  readonly takeEpoch: () => number;
  /** The tracker for the iteration of `epoch`, and what to call when it completes. */
  readonly track: (epoch: number, flow: Flow) => { tracker: StateTracker; onComplete: () => void };
  readonly prefetch: number | 'auto';
  readonly signal: AbortSignal | undefined;
  readonly scheduler: SchedulerLike | undefined;
  readonly timing: boolean;
  readonly autotune: AutotuneOptions | undefined;
  readonly active: Set<ActiveEntry>;
  /** Told when the iteration begins and when its consumer is done with it; none for `oneBatch`. */
  readonly readings?: ReadingsSink;
}

/**
 * Take the origins of the item arriving at the loader (consumed when the consumer is handed it);
 * an item without any makes the state untracked.
 */
function arriving(tracker: StateTracker): Origins {
  const origins = takeOrigins();
  if (origins === undefined) {
    tracker.untracked('toLoader', UNKNOWN_ORIGINS);
  }
  return origins;
}

class LoaderIterator<T> implements AsyncIterableIterator<T> {
  readonly #source: Observable<T>;
  readonly #settings: IteratorSettings;
  readonly #flow: Flow;
  readonly #queue: T[] = [];
  readonly #queuedOrigins: Origins[] = [];
  #tracker: StateTracker | undefined;
  #onComplete: (() => void) | undefined;
  #stage: StageHandle | undefined;
  #knob: Knob | undefined;
  #inHand = false; // the consumer is processing the item it received last
  #handedAt = 0; // clock time the item in hand was handed over
  #subscription: Subscription | undefined;
  #started = false;
  #finished = false;
  #completed = false; // the source completed // the source completed or errored, or the consumer left
  #error: { error: unknown } | undefined;
  #waiter: { resolve: (result: IteratorResult<T>) => void; reject: (error: unknown) => void; since: number } | undefined;
  #entry: ActiveEntry | undefined;
  // An abort takes effect at once: queued items are dropped, not delivered before the error.
  #onAbort = (): void => {
    this.#queuedOrigins.length = 0;
    disposeAll(this.#queue.splice(0));
    this.#fail(new AbortedError(this.#settings.signal?.reason));
  };

  constructor(source: Observable<T>, settings: IteratorSettings) {
    this.#source = source;
    this.#settings = settings;
    this.#flow = new Flow({ scheduler: settings.scheduler, timing: settings.timing, autotune: settings.autotune });
  }

  [Symbol.asyncIterator](): AsyncIterableIterator<T> {
    return this;
  }

  #start(): void {
    this.#started = true;
    const { signal, prefetch, active } = this.#settings;
    if (signal?.aborted) {
      this.#finished = true;
      this.#error = { error: new AbortedError(signal.reason) };
      return;
    }
    const epoch = this.#settings.takeEpoch();
    const { tracker, onComplete } = this.#settings.track(epoch, this.#flow);
    this.#tracker = tracker;
    this.#onComplete = onComplete;
    this.#entry = { flow: this.#flow, end: () => void this.return(), tracker, epoch, completed: false };
    signal?.addEventListener('abort', this.#onAbort, { once: true });
    active.add(this.#entry);
    this.#settings.readings?.began(this.#flow);
    const queue = this.#queue;
    const queuedOrigins = this.#queuedOrigins;
    let capacity = prefetch === 'auto' ? PREFETCH_AUTO_INITIAL : prefetch;
    // Live: the Flow reads the capacity each time. Lowered, queued items stay and are handed over.
    const gauge = {
      name: 'loader',
      get capacity() {
        return capacity;
      },
      occupancy: () => queue.length,
      // Until the loop asks for the next item, the last one is still being processed: `epochs`
      // starts the next epoch only after that (see Flow.idle).
      held: () => (this.#inHand ? 1 : 0),
    };
    this.#stage = this.#flow.register(gauge);
    if (prefetch === 'auto') {
      this.#knob = tuneBuffer(this.#flow, gauge, capacity, (value) => {
        capacity = value;
      });
      capacity = this.#knob.value;
    }
    this.#subscription = bindContext({ flow: this.#flow, epoch, tracker }, () =>
      this.#source.subscribe({
        next: (value) => {
          const origins = arriving(tracker);
          if (this.#finished) {
            disposeAll([value]);
            return;
          }
          const waiter = this.#waiter;
          this.#stage!.entered();
          this.#knob?.sample(value);
          if (waiter !== undefined) {
            this.#waiter = undefined;
            this.#stage!.left();
            const now = this.#flow.now();
            this.#flow.recordUpstreamWait(now - waiter.since);
            this.#hand(now);
            consumeOrigins(origins);
            waiter.resolve({ value, done: false });
          } else {
            queue.push(value);
            queuedOrigins.push(origins);
          }
        },
        error: (error: unknown) => this.#fail(error),
        complete: () => {
          this.#finished = true;
          this.#completed = true;
          this.#cleanup();
          const waiter = this.#waiter;
          this.#waiter = undefined;
          if (waiter !== undefined) {
            this.#onComplete?.();
            void this.#afterRelease(() => waiter.resolve({ value: undefined, done: true }));
          }
        },
      }),
    );
  }

  #fail(error: unknown): void {
    if (this.#finished) return;
    this.#finished = true;
    this.#error = { error };
    this.#subscription?.unsubscribe();
    this.#cleanup();
    const waiter = this.#waiter;
    this.#waiter = undefined;
    if (waiter !== undefined) void this.#afterRelease(() => waiter.reject(error));
  }

  #cleanup(): void {
    this.#settings.signal?.removeEventListener('abort', this.#onAbort);
    if (this.#entry !== undefined) this.#settings.active.delete(this.#entry);
    this.#stage?.unregister();
    this.#knob?.unregister();
    this.#knob = undefined;
  }

  /** The consumer is handed an item at clock time `now`: it holds it until its next `next()`. */
  #hand(now: number): void {
    this.#inHand = true;
    this.#handedAt = now;
    this.#flow.recordConsumed();
  }

  /** Settle the waiting consumer's `next()` at the end of the iteration, once the sources are released. */
  async #afterRelease(settle: () => void): Promise<void> {
    this.#settings.readings?.ended(this.#flow);
    await this.#flow.released();
    settle();
  }

  async next(): Promise<IteratorResult<T>> {
    if (!this.#started) this.#start();
    if (this.#inHand) {
      this.#inHand = false;
      if (this.#flow.timing) this.#flow.recordConsumerBusy(this.#flow.now() - this.#handedAt);
      if (this.#flow.awaitingIdle) this.#flow.notify();
    }
    if (this.#queue.length > 0) {
      const value = this.#queue.shift()!;
      consumeOrigins(this.#queuedOrigins.shift());
      this.#hand(this.#flow.mark());
      this.#stage?.left();
      return { value, done: false };
    }
    if (this.#error !== undefined) {
      this.#settings.readings?.ended(this.#flow);
      await this.#flow.released();
      throw this.#error.error;
    }
    if (this.#finished) {
      // The consumer has received the whole epoch once it is told so.
      if (this.#completed) this.#onComplete?.();
      this.#settings.readings?.ended(this.#flow);
      await this.#flow.released();
      return { value: undefined, done: true };
    }
    if (this.#waiter !== undefined) {
      // One consumer at a time: `for await` never overlaps calls, so this is a caller's bug.
      throw new RxfeedError('RXFEED_ERR_CONCURRENT_NEXT', 'toLoader: next() called again before the previous one settled');
    }
    return new Promise((resolve, reject) => {
      this.#waiter = { resolve, reject, since: this.#flow.now() };
    });
  }

  async return(): Promise<IteratorResult<T>> {
    this.#inHand = false;
    if (!this.#finished) {
      this.#finished = true;
      this.#subscription?.unsubscribe();
      this.#cleanup();
    }
    this.#queuedOrigins.length = 0;
    disposeAll(this.#queue.splice(0));
    this.#settings.readings?.ended(this.#flow);
    const waiter = this.#waiter;
    this.#waiter = undefined;
    await this.#flow.released();
    waiter?.resolve({ value: undefined, done: true });
    return { value: undefined, done: true };
  }

  async throw(error?: unknown): Promise<IteratorResult<T>> {
    await this.return();
    throw error;
  }
}

/**
 * Make a pipeline consumable: `for await`, `subscribe`, and `await using`.
 *
 * @example
 * ```ts
 * import { batch, fromItems, shuffleBuffer, toLoader } from 'rxfeed';
 * declare const samples: { image: Float32Array; label: number }[];
 * declare function step(batch: { image: Float32Array; label: number }[]): Promise<void>;
 * const loader = toLoader(fromItems(samples).pipe(shuffleBuffer(1024, { seed: 1 }), batch(32)), {
 *   prefetch: 2,
 * });
 * for await (const batch of loader) await step(batch);
 * ```
 *
 * @param source - The pipeline.
 * @param options - See {@link LoaderOptions}.
 * @returns A {@link Loader}; its size is the pipeline's, when known.
 * @public
 */
export function toLoader<T>(source: Observable<T>, options: LoaderOptions = {}): Loader<T> {
  return withInfo(new Loader(source, options), { size: infoOf(source).size });
}
