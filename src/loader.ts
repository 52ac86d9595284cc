/**
 * The sink of a pipeline: an Observable you can also `for await` over and `await using`.
 *
 * @module
 */
import { channel } from 'node:diagnostics_channel';
import { interval, map, Observable, type SchedulerLike, type Subscriber, type Subscription } from 'rxjs';
import { bindContext } from './context.js';
import { disposeAll } from './dispose.js';
import { AbortedError, InvalidArgumentError, RxfeedError } from './errors.js';
import { Flow, type FlowMetrics, type StageHandle } from './flow.js';
import { infoOf, sizeOf, withInfo } from './info.js';

/** Options of {@link toLoader}. */
export interface LoaderOptions {
  /**
   * Items (batches, usually) kept ready ahead of the consumer of a `for await` loop; default 2, as
   * PyTorch's DataLoader `prefetch_factor`. This is the loader's stage capacity in the Flow gauge.
   */
  readonly prefetch?: number;
  /** Aborting it ends every iteration and subscription with an {@link AbortedError}. */
  readonly signal?: AbortSignal;
  /** Scheduler for backpressure wake-ups and metrics; virtual in marble tests. */
  readonly scheduler?: SchedulerLike;
}

/**
 * Snapshots of every active subscription's Flow are published on this `node:diagnostics_channel`
 * by {@link Loader.metrics}.
 * @public
 */
export const METRICS_CHANNEL = 'rxfeed:metrics';
const metricsChannel = channel(METRICS_CHANNEL);

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
  readonly #prefetch: number;
  readonly #signal: AbortSignal | undefined;
  readonly #scheduler: SchedulerLike | undefined;
  readonly #active = new Set<{ flow: Flow; end: () => void }>();
  #epoch = 0;
  #epochTaken = false; // an iteration or subscription has read `#epoch`

  /** @internal use {@link toLoader} */
  constructor(source: Observable<T>, options: LoaderOptions = {}) {
    super((subscriber) => this.#subscribePlain(subscriber));
    this.#source = source;
    this.#prefetch = options.prefetch ?? 2;
    this.#signal = options.signal;
    this.#scheduler = options.scheduler;
    if (!Number.isSafeInteger(this.#prefetch) || this.#prefetch < 1) {
      throw new InvalidArgumentError('toLoader.prefetch', `must be a positive integer, got ${options.prefetch}`);
    }
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
   * const first = await loader.oneBatch();
   * for await (const batch of loader) {} // its first batch equals `first`
   * ```
   *
   * @returns The item.
   * @throws {@link RxfeedError} `RXFEED_ERR_EMPTY_LOADER` when the pipeline yields nothing; any
   *   error the pipeline fails with.
   */
  async oneBatch(): Promise<T> {
    const epoch = this.#nextEpoch();
    const iterator = new LoaderIterator(this.#source, {
      takeEpoch: () => epoch,
      prefetch: 1,
      signal: this.#signal,
      scheduler: this.#scheduler,
      active: this.#active,
    });
    try {
      const first = await iterator.next();
      if (first.done === true)
        throw new RxfeedError('RXFEED_ERR_EMPTY_LOADER', `Loader.oneBatch: epoch ${epoch} of the pipeline yields no item`);
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

  #subscribePlain(subscriber: Subscriber<T>): Subscription | undefined {
    const flow = new Flow({ scheduler: this.#scheduler });
    const signal = this.#signal;
    if (signal?.aborted) {
      subscriber.error(new AbortedError(signal.reason));
      return undefined;
    }
    const entry = { flow, end: () => subscription.unsubscribe() };
    const onAbort = (): void => subscriber.error(new AbortedError(signal?.reason));
    signal?.addEventListener('abort', onAbort, { once: true });
    this.#active.add(entry);
    const subscription = bindContext({ flow, epoch: this.#takeEpoch() }, () => this.#source.subscribe(subscriber));
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
      prefetch: this.#prefetch,
      signal: this.#signal,
      scheduler: this.#scheduler,
      active: this.#active,
    });
  }

  /** End every active iteration and subscription, and wait until their sources are released. */
  async [Symbol.asyncDispose](): Promise<void> {
    const active = [...this.#active];
    for (const entry of active) entry.end();
    await Promise.all(active.map((entry) => entry.flow.released()));
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
}

interface IteratorSettings {
  readonly takeEpoch: () => number;
  readonly prefetch: number;
  readonly signal: AbortSignal | undefined;
  readonly scheduler: SchedulerLike | undefined;
  readonly active: Set<{ flow: Flow; end: () => void }>;
}

class LoaderIterator<T> implements AsyncIterableIterator<T> {
  readonly #source: Observable<T>;
  readonly #settings: IteratorSettings;
  readonly #flow: Flow;
  readonly #queue: T[] = [];
  #stage: StageHandle | undefined;
  #inHand = false; // the consumer is processing the item it received last
  #subscription: Subscription | undefined;
  #started = false;
  #finished = false; // the source completed or errored, or the consumer left
  #error: { error: unknown } | undefined;
  #waiter: { resolve: (result: IteratorResult<T>) => void; reject: (error: unknown) => void; since: number } | undefined;
  #entry: { flow: Flow; end: () => void };
  // An abort takes effect at once: queued items are dropped, not delivered before the error.
  #onAbort = (): void => {
    disposeAll(this.#queue.splice(0));
    this.#fail(new AbortedError(this.#settings.signal?.reason));
  };

  constructor(source: Observable<T>, settings: IteratorSettings) {
    this.#source = source;
    this.#settings = settings;
    this.#flow = new Flow({ scheduler: settings.scheduler });
    this.#entry = { flow: this.#flow, end: () => void this.return() };
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
    signal?.addEventListener('abort', this.#onAbort, { once: true });
    active.add(this.#entry);
    const queue = this.#queue;
    this.#stage = this.#flow.register({
      name: 'loader',
      capacity: prefetch,
      occupancy: () => queue.length,
      // Until the loop asks for the next item, the last one is still being processed: `epochs`
      // starts the next epoch only after that (see Flow.idle).
      held: () => (this.#inHand ? 1 : 0),
    });
    this.#subscription = bindContext({ flow: this.#flow, epoch: this.#settings.takeEpoch() }, () =>
      this.#source.subscribe({
        next: (value) => {
          if (this.#finished) {
            disposeAll([value]);
            return;
          }
          const waiter = this.#waiter;
          this.#stage!.entered();
          if (waiter !== undefined) {
            this.#waiter = undefined;
            this.#stage!.left();
            this.#flow.recordUpstreamWait(this.#flow.scheduler.now() - waiter.since);
            this.#inHand = true;
            waiter.resolve({ value, done: false });
          } else {
            queue.push(value);
          }
        },
        error: (error: unknown) => this.#fail(error),
        complete: () => {
          this.#finished = true;
          this.#cleanup();
          const waiter = this.#waiter;
          this.#waiter = undefined;
          if (waiter !== undefined) void this.#afterRelease(() => waiter.resolve({ value: undefined, done: true }));
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
    this.#settings.active.delete(this.#entry);
    this.#stage?.unregister();
  }

  async #afterRelease(settle: () => void): Promise<void> {
    await this.#flow.released();
    settle();
  }

  async next(): Promise<IteratorResult<T>> {
    if (!this.#started) this.#start();
    if (this.#inHand) {
      this.#inHand = false;
      if (this.#flow.awaitingIdle) this.#flow.notify();
    }
    if (this.#queue.length > 0) {
      const value = this.#queue.shift()!;
      this.#inHand = true;
      this.#stage?.left();
      return { value, done: false };
    }
    if (this.#error !== undefined) {
      await this.#flow.released();
      throw this.#error.error;
    }
    if (this.#finished) {
      await this.#flow.released();
      return { value: undefined, done: true };
    }
    if (this.#waiter !== undefined) {
      // One consumer at a time: `for await` never overlaps calls, so this is a caller's bug.
      throw new RxfeedError('RXFEED_ERR_CONCURRENT_NEXT', 'toLoader: next() called again before the previous one settled');
    }
    return new Promise((resolve, reject) => {
      this.#waiter = { resolve, reject, since: this.#flow.scheduler.now() };
    });
  }

  async return(): Promise<IteratorResult<T>> {
    this.#inHand = false;
    if (!this.#finished) {
      this.#finished = true;
      this.#subscription?.unsubscribe();
      this.#cleanup();
    }
    disposeAll(this.#queue.splice(0));
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
