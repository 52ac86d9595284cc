/**
 * Lossless backpressure for RxJS pipelines: the Flow gauge.
 *
 * RxJS has no backpressure: a producer pushes as fast as it can. rxfeed bounds memory with one
 * shared gauge per subscription of a loader. Everything that holds items between a source and the
 * consumer (the loader's queue, `parallelMap`'s slots, `prefetch`) registers as a {@link Stage}
 * with a capacity. Sources, the only places that can stop production, ask
 * {@link Flow.saturated} before every item; when any stage is full they park until a stage
 * shrinks and calls {@link Flow.notify}. Plain synchronous operators between (`map`, `filter`,
 * `bufferCount`) need nothing: they run inside the source's `next()` call.
 *
 * So the items held at any moment are at most the sum of stage capacities, plus the fixed
 * absorbing buffers of operators such as `shuffleBuffer` and `batch`, plus one pulled chunk per
 * source.
 *
 * The Flow reaches sources at subscribe time: RxJS subscribes synchronously from the sink up to the
 * source, so the sink makes its Flow current while it subscribes (see {@link bindContext}) and
 * sources and operators read it then, as Reactor's Context does.
 *
 * @module
 */
import { asapScheduler, type SchedulerLike, type Subscription } from 'rxjs';

/**
 * Something that holds items between a source and the consumer.
 * @public
 */
export interface Stage {
  /** Name shown in metrics, e.g. `parallelMap` or `loader`. */
  readonly name: string;
  /** The most items this stage is allowed to hold before sources must pause. */
  readonly capacity: number;
  /** Items held now. */
  occupancy(): number;
  /**
   * Items this stage handed on that are still being worked on (the item a `for await` body is
   * processing); they do not count against the capacity, but the Flow is not idle while any is
   * held (see {@link Flow.idle}). Default 0.
   */
  held?(): number;
}

/** Counters kept for each registered stage; read through {@link Flow.snapshot}. */
interface StageRecord {
  readonly stage: Stage;
  itemsIn: number;
  itemsOut: number;
}

/**
 * A point-in-time reading of one stage, published by `metrics()` and the `rxfeed:stage` channel.
 * @public
 */
export interface StageMetrics {
  readonly name: string;
  readonly capacity: number;
  readonly occupancy: number;
  /** Items that entered the stage since it was registered. */
  readonly itemsIn: number;
  /** Items that left the stage since it was registered. */
  readonly itemsOut: number;
}

/**
 * A point-in-time reading of a whole Flow.
 * @public
 */
export interface FlowMetrics {
  /** Scheduler time of the reading, in milliseconds. */
  readonly time: number;
  readonly stages: readonly StageMetrics[];
  /** Milliseconds sources spent parked because a stage downstream was full. */
  readonly waitingDownstreamMs: number;
  /** Milliseconds the consumer spent waiting for an item (recorded by the loader). */
  readonly waitingUpstreamMs: number;
}

/**
 * A handle returned by {@link Flow.register}: count items in and out, and unregister.
 * @public
 */
export interface StageHandle {
  /** Record that `n` items entered the stage. */
  entered(n?: number): void;
  /** Record that `n` items left the stage, and wake parked sources. */
  left(n?: number): void;
  /** Remove the stage from the gauge. */
  unregister(): void;
}

/** Options of {@link Flow}. */
export interface FlowOptions {
  /** Scheduler for the coalesced wake-ups; `asapScheduler` by default, virtual in marble tests. */
  readonly scheduler?: SchedulerLike;
  /**
   * For fan-in operators: the parent Flow whose stages also gate this one. A child is saturated
   * when its parent is, or when its own `gate` says so.
   */
  readonly parent?: Flow;
  /** An extra saturation test for a child Flow, e.g. "my per-source queue already holds an item". */
  readonly gate?: () => boolean;
}

/**
 * The backpressure gauge shared by one subscription of a pipeline.
 * @public
 */
export class Flow {
  /** The scheduler wake-ups run on. */
  readonly scheduler: SchedulerLike;
  readonly #parent: Flow | undefined;
  readonly #gate: (() => boolean) | undefined;
  readonly #stages = new Set<StageRecord>();
  /**
   * The same records as an array, rebuilt when a stage comes or goes: {@link Flow.saturated} runs
   * before every item a source emits, and indexing an array allocates nothing, unlike a Set's
   * iterator.
   */
  #stageList: readonly StageRecord[] = [];
  readonly #waiters = new Set<() => void>();
  readonly #idleWaiters = new Set<() => void>();
  readonly #children = new Set<Flow>();
  readonly #releases = new Set<Promise<unknown>>();
  #drain: Subscription | undefined;
  #parkedSince: number | undefined;
  #waitingDownstreamMs = 0;
  #waitingUpstreamMs = 0;

  constructor(options: FlowOptions = {}) {
    this.#parent = options.parent;
    this.#gate = options.gate;
    this.scheduler = options.scheduler ?? options.parent?.scheduler ?? asapScheduler;
    if (this.#parent !== undefined) this.#parent.#children.add(this);
  }

  /** The root of a chain of child Flows: where stages, releases and metrics live. */
  get root(): Flow {
    return this.#parent?.root ?? this;
  }

  /**
   * Register a stage. Its occupancy counts from now on; call `unregister` on teardown.
   */
  register(stage: Stage): StageHandle {
    const root = this.root;
    const record: StageRecord = { stage, itemsIn: 0, itemsOut: 0 };
    root.#stages.add(record);
    root.#stageList = [...root.#stages];
    return {
      entered: (n = 1) => {
        record.itemsIn += n;
      },
      left: (n = 1) => {
        record.itemsOut += n;
        root.notify();
      },
      unregister: () => {
        if (root.#stages.delete(record)) {
          root.#stageList = [...root.#stages];
          root.notify();
        }
      },
    };
  }

  /** True when some stage is full (or this child's gate is closed): sources must not pull now. */
  saturated(): boolean {
    if (this.#gate?.()) return true;
    if (this.#parent) return this.#parent.saturated();
    const stages = this.#stageList;
    for (let i = 0; i < stages.length; i++) {
      const { stage } = stages[i]!;
      if (stage.occupancy() >= stage.capacity) return true;
    }
    return false;
  }

  /** The sum of registered stage capacities: the run-ahead this Flow allows, in items. */
  capacity(): number {
    let total = 0;
    for (const { stage } of this.root.#stages) total += stage.capacity;
    return total;
  }

  /**
   * Park `resume` until the Flow is no longer saturated; it is called once, from a scheduled
   * drain, never synchronously. Returns a function that cancels the wait.
   */
  whenReady(resume: () => void): () => void {
    const root = this.root;
    if (this.#waiters.size === 0 && root.#parkedSince === undefined) {
      root.#parkedSince = this.scheduler.now();
    }
    this.#waiters.add(resume);
    // A stage may have shrunk between the saturation check and now: make sure a drain follows.
    if (!this.saturated()) this.notify();
    return () => {
      this.#waiters.delete(resume);
    };
  }

  /**
   * True when no stage holds an item, nor has one in hand: everything produced so far has been
   * received and processed by the consumer.
   */
  idle(): boolean {
    for (const { stage } of this.root.#stages) {
      if (stage.occupancy() > 0 || (stage.held?.() ?? 0) > 0) return false;
    }
    return true;
  }

  /** True while something waits for {@link Flow.idle} (a stage that stops holding should notify). */
  get awaitingIdle(): boolean {
    return this.root.#idleWaiters.size > 0;
  }

  /**
   * Park `resume` until no stage holds an item ({@link Flow.idle}); it is called once, from a
   * scheduled drain. `epochs` waits so before starting the next epoch, so that what the consumer
   * receives after `onEpoch(e)` belongs to epoch `e`. Returns a function that cancels the wait.
   */
  whenIdle(resume: () => void): () => void {
    const root = this.root;
    root.#idleWaiters.add(resume);
    root.notify();
    return () => {
      root.#idleWaiters.delete(resume);
    };
  }

  /**
   * Tell the Flow a stage shrank (or a gate opened). Schedules one coalesced drain that resumes
   * the parked sources of this Flow and its children; never runs them synchronously, so a stage
   * may call this from inside a source's `next()` without re-entrancy.
   */
  notify(): void {
    if (this.#drain !== undefined) return;
    this.#drain = this.scheduler.schedule(() => {
      this.#drain = undefined;
      this.#resume();
    });
  }

  #resume(): void {
    if (this.#waiters.size > 0 && !this.saturated()) {
      const root = this.root;
      if (root.#parkedSince !== undefined) {
        root.#waitingDownstreamMs += this.scheduler.now() - root.#parkedSince;
        root.#parkedSince = undefined;
      }
      const waiters = [...this.#waiters];
      this.#waiters.clear();
      for (const resume of waiters) resume();
    }
    for (const child of this.#children) child.#resume();
    if (this.#idleWaiters.size > 0 && this.idle()) {
      const waiters = [...this.#idleWaiters];
      this.#idleWaiters.clear();
      for (const resume of waiters) resume();
    }
  }

  /** Detach a child Flow from its parent (fan-in operators call this on teardown). */
  dispose(): void {
    this.#drain?.unsubscribe();
    this.#drain = undefined;
    this.#waiters.clear();
    this.#idleWaiters.clear();
    if (this.#parent !== undefined) this.#parent.#children.delete(this);
  }

  /**
   * Track an asynchronous resource release (closing a file, a cursor, an HTTP body) so that
   * {@link Flow.released} can wait for it. Rejections are swallowed: errors after close do not
   * matter to anyone.
   */
  trackRelease(release: PromiseLike<unknown>): void {
    const root = this.root;
    const tracked: Promise<unknown> = Promise.resolve(release).then(
      () => root.#releases.delete(tracked),
      () => root.#releases.delete(tracked),
    );
    root.#releases.add(tracked);
  }

  /** Resolves when every tracked release has settled, including ones tracked while waiting. */
  async released(): Promise<void> {
    const root = this.root;
    while (root.#releases.size > 0) await Promise.all(root.#releases);
  }

  /** Add consumer wait time (the loader records how long `next()` waited for an item). */
  recordUpstreamWait(ms: number): void {
    this.root.#waitingUpstreamMs += ms;
  }

  /** A reading of every stage and the wait counters. */
  snapshot(): FlowMetrics {
    const root = this.root;
    const now = this.scheduler.now();
    const parked = root.#parkedSince === undefined ? 0 : now - root.#parkedSince;
    return {
      time: now,
      stages: [...root.#stages].map(({ stage, itemsIn, itemsOut }) => ({
        name: stage.name,
        capacity: stage.capacity,
        occupancy: stage.occupancy(),
        itemsIn,
        itemsOut,
      })),
      waitingDownstreamMs: root.#waitingDownstreamMs + parked,
      waitingUpstreamMs: root.#waitingUpstreamMs,
    };
  }
}
