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
 * The Flow also times every stage, cheaply enough to leave on (a clock read per item entering or
 * leaving a stage, and one per task): how long each held nothing (it waited on upstream), how long
 * it was full (upstream waited on it), how many items it held on average, and the work it reported
 * ({@link StageHandle.worked}). Steps that hold nothing but take time (a source's reads, `collate`)
 * report their work through {@link Flow.timer}. `report.ts` turns a reading into a verdict.
 *
 * The Flow reaches sources at subscribe time: RxJS subscribes synchronously from the sink up to the
 * source, so the sink makes its Flow current while it subscribes (see {@link bindContext}) and
 * sources and operators read it then, as Reactor's Context does.
 *
 * @module
 */
import { cpus } from 'node:os';
import { asapScheduler, asyncScheduler, type SchedulerLike, type Subscription } from 'rxjs';
import { autotuneDecisions, type AutotuneOptions, type KnobDecision } from './autotune.js';

/**
 * Something that holds items between a source and the consumer.
 * @public
 */
export interface Stage {
  /** Name shown in metrics, e.g. `parallelMap` or `loader`. */
  readonly name: string;
  /**
   * The most items this stage is allowed to hold before sources must pause. The Flow reads it
   * each time: an autotuned (`'auto'`) stage changes it while registered.
   */
  readonly capacity: number;
  /** Items held now. */
  occupancy(): number;
  /**
   * Items this stage handed on that are still being worked on (the item a `for await` body is
   * processing); they do not count against the capacity, but the Flow is not idle while any is
   * held (see {@link Flow.idle}). Default 0.
   */
  held?(): number;
  /**
   * Items the stage works on at once (a `parallelMap`'s tasks in flight, a worker pipeline's
   * threads); default 1. Its busy time is divided by this to tell how close to saturation the
   * stage's workers are.
   */
  readonly parallelism?: number;
  /**
   * False for a source's own output queue, which the source drains itself (a worker pipeline's
   * merge queue): it is counted and timed in {@link Flow.snapshot}, but never parks sources nor
   * counts in {@link Flow.capacity} or {@link Flow.idle}, since the source parking on its own
   * queue would never drain it. Default true.
   */
  readonly gates?: boolean;
}

/**
 * Something that does timed work without holding items between calls: a source's reads, a
 * synchronous step such as `collate`. Made by {@link Flow.timer}.
 * @public
 */
export interface StageTimer {
  /** Record `ms` milliseconds of work that produced `items` items (default 1). */
  worked(ms: number, items?: number): void;
  /**
   * Record the work since `mark` ({@link Flow.mark} when it began) that produced `items` items
   * (default 1); nothing when the Flow does not time.
   */
  workedSince(mark: number, items?: number): void;
  /** Remove the timer from the Flow's readings. */
  unregister(): void;
}

/** Counters kept for each registered stage or timer; read through {@link Flow.snapshot}. */
interface StageRecord extends StageCounters {
  readonly stage: Stage;
  /** False for a {@link Flow.timer}: it holds nothing, and never gates sources. */
  readonly holds: boolean;
  /** Clock time the counters below were last brought up to. */
  until: number;
}

/**
 * The stages and timers of one name: what a reading shows as one stage. A name's records are
 * summed (the inner sources of an `interleave`, a stage re-made for each epoch), and the counters
 * of records that unregistered are kept, so a reading after the loop ended still shows the whole
 * run; one group per name bounds what is kept.
 */
interface StageGroup {
  readonly name: string;
  /** Readings made elsewhere ({@link Flow.external}), listed in the group's place. */
  external?: () => readonly StageMetrics[];
  readonly holds: boolean;
  /** Clock time the first record of the name registered. */
  readonly since: number;
  readonly live: Set<StageRecord>;
  /** The counters of the records that unregistered. */
  readonly retired: StageCounters;
  /** Capacity and parallelism when the last record unregistered, shown while none is live. */
  lastCapacity: number;
  lastParallelism: number;
  /** Clock time the last record unregistered: the group's time ends there while none is live. */
  endedAt: number;
}

/**
 * The counters of a stage that add up: over the stages of one name, over a worker pipeline's
 * parts, over a loader's iterations. {@link addStageCounters} is the one place they are summed.
 * @internal
 */
export interface StageCounters {
  itemsIn: number;
  itemsOut: number;
  /** Integral of the items held over time (item-milliseconds). */
  occupancyMs: number;
  /** Time holding nothing. */
  emptyMs: number;
  /** Time holding `capacity` items or more. */
  fullMs: number;
  /** Work reported through `worked`. */
  busyMs: number;
}

/**
 * A point-in-time reading of one stage, published by `metrics()` and the `rxfeed:stage` channel.
 * @public
 */
export interface StageMetrics {
  readonly name: string;
  readonly capacity: number;
  readonly occupancy: number;
  /** Items that entered the stage since it was registered. Stages and timers of one name are summed. */
  readonly itemsIn: number;
  /** Items that left the stage since it was registered (for a timer: items its work produced). */
  readonly itemsOut: number;
  /** Items the stage works on at once (see {@link Stage.parallelism}). */
  readonly parallelism: number;
  /** Milliseconds since the first stage of this name was registered, until the last one went. */
  readonly elapsedMs: number;
  /**
   * Milliseconds of work the stage reported, summed over its parallel workers (task run times for
   * `parallelMap`, time a read was outstanding for a source, time spent collating ...); 0 for a
   * stage that only holds items (a queue).
   */
  readonly busyMs: number;
  /** Milliseconds the stage held no item: it waited on upstream. 0 for a timer. */
  readonly emptyMs: number;
  /** Milliseconds the stage held `capacity` items or more: upstream waited on it. 0 for a timer. */
  readonly fullMs: number;
  /** The integral of the items held over time: divided by `elapsedMs`, the mean occupancy. */
  readonly occupancyMs: number;
  /** False for a timer ({@link Flow.timer}), which holds nothing: `capacity` and `occupancy` are 0. */
  readonly holds: boolean;
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
  /**
   * Milliseconds the consumer spent waiting for an item (recorded by the loader): the loop's
   * exposed wait, time a model step could have run but had no batch.
   */
  readonly waitingUpstreamMs: number;
  /**
   * Milliseconds the consumer spent with an item in hand (a `for await` body: the model's step),
   * recorded by the loader.
   */
  readonly consumerBusyMs: number;
  /** Items handed to the consumer. */
  readonly consumed: number;
  /** Milliseconds since the Flow was made (a loader's iteration started). */
  readonly elapsedMs: number;
  /**
   * CPU milliseconds this process used over the same time, every thread (worker threads
   * included), as `process.cpuUsage()` counts: against `elapsedMs x cores`, how busy the machine's
   * cores were. Absent on a virtual clock, and when timing is off.
   */
  readonly cpuMs?: number;
  /**
   * CPU milliseconds every process on the machine used over the same time (`os.cpus()`), to tell
   * cores this process kept busy from cores others took. Absent when `cpuMs` is.
   */
  readonly machineCpuMs?: number;
  /** What the autotuner decided for each `'auto'` stage; absent when there is none. */
  readonly autotune?: readonly KnobDecision[];
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
  /** Record `ms` milliseconds of work (one task's run time, summed over parallel workers). */
  worked(ms: number): void;
  /** Record the work since `mark` ({@link Flow.mark} when it began); nothing when the Flow does not time. */
  workedSince(mark: number): void;
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
  /**
   * Time the stages (default true; a child Flow follows its parent). Off, items are still counted
   * but no clock is read: for measuring what the timing costs.
   */
  readonly timing?: boolean;
  /** Settings of the autotuner of `'auto'` stages (a child Flow follows its parent). */
  readonly autotune?: AutotuneOptions;
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
  /** Stages and timers by name, in the order first registered: a pipeline subscribes from its sink up. */
  readonly #groups = new Map<string | symbol, StageGroup>();
  /** Stages and timers registered and not yet unregistered, over every group. */
  #live = 0;
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
  #consumerBusyMs = 0;
  /** Clock time the consumer last finished with an item: a reading after the loop ends ends there. */
  #consumerUntil = 0;
  #consumed = 0;
  readonly #since: number;
  /** The process's CPU usage when the Flow was made (real-time clocks only). */
  readonly #cpuSince: NodeJS.CpuUsage | undefined;
  /** CPU milliseconds used by the time the last stage went (see {@link FlowMetrics.cpuMs}). */
  #cpuUntil: number | undefined;
  /** The machine's CPU milliseconds (every process) when the Flow was made, and when the last stage went. */
  readonly #machineCpuSince: number;
  #machineCpuUntil = 0;
  /** False: no clock is read per item (see {@link FlowOptions.timing}). */
  readonly timing: boolean;
  /** The autotuner's settings ({@link FlowOptions.autotune}). */
  readonly autotune: AutotuneOptions | undefined;
  /**
   * Milliseconds on this Flow's clock, for durations: the scheduler's own time (virtual in marble
   * tests), except that RxJS's real-time schedulers, whose clock is `Date.now()`, are read through
   * `performance.now()` for sub-millisecond task times.
   */
  readonly now: () => number;

  constructor(options: FlowOptions = {}) {
    this.#parent = options.parent;
    this.#gate = options.gate;
    this.scheduler = options.scheduler ?? options.parent?.scheduler ?? asapScheduler;
    this.timing = options.timing ?? options.parent?.timing ?? true;
    this.autotune = options.autotune ?? options.parent?.autotune;
    const scheduler = this.scheduler;
    const realTime = scheduler.now === asyncScheduler.now;
    this.now = realTime ? () => performance.now() : () => scheduler.now();
    // CPU time means something only against real time: on a virtual clock it is left out.
    this.#cpuSince = realTime && this.timing && this.#parent === undefined ? process.cpuUsage() : undefined;
    this.#machineCpuSince = this.#cpuSince === undefined ? 0 : machineCpuMs();
    this.#since = this.now();
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
    const record = root.#record(stage, true);
    if (stage.gates !== false) {
      root.#stages.add(record);
      root.#stageList = [...root.#stages];
    }
    const timing = root.timing;
    const now = root.now;
    // After `unregister`, counts (items a loader hands out of its queue after the source ended)
    // go to the name's retired totals, untimed: the stage no longer holds anything for the Flow.
    let counters: StageCounters = record;
    return {
      entered: (n = 1) => {
        if (timing && counters === record) advance(record, now());
        counters.itemsIn += n;
      },
      left: (n = 1) => {
        if (timing && counters === record) advance(record, now());
        counters.itemsOut += n;
        root.notify();
      },
      worked: (ms) => {
        counters.busyMs += ms;
      },
      workedSince: (mark) => {
        if (timing) counters.busyMs += now() - mark;
      },
      unregister: () => {
        if (timing && counters === record) advance(record, now());
        counters = root.#retire(record) ?? counters;
        if (root.#stages.delete(record)) {
          root.#stageList = [...root.#stages];
          root.notify();
        }
      },
    };
  }

  /**
   * Register a timer: a step that does timed work but holds no item between calls (a source's
   * reads, `collate`). It appears in {@link Flow.snapshot} beside the stages and never gates
   * sources. Call `unregister` on teardown.
   */
  timer(name: string, parallelism = 1): StageTimer {
    const root = this.root;
    const record = root.#record({ name, capacity: 0, parallelism, occupancy: () => 0 }, false);
    let counters: StageCounters = record;
    const worked = (ms: number, items = 1): void => {
      counters.busyMs += ms;
      counters.itemsIn += items;
      counters.itemsOut += items;
    };
    return {
      worked,
      workedSince: (mark, items) => {
        if (root.timing) worked(root.now() - mark, items);
      },
      unregister: () => {
        counters = root.#retire(record) ?? counters;
      },
    };
  }

  /**
   * Include readings made elsewhere (a worker pipeline's parts, each timed by its thread's own
   * Flow) in {@link Flow.snapshot}, in this call's place among the stages: `read` returns them
   * ordered source to sink, and runs at every snapshot. They never gate sources. Call
   * `unregister` on teardown: the last reading stays, as a stage's does.
   */
  external(read: () => readonly StageMetrics[]): { unregister(): void } {
    const root = this.root;
    // Its own key: external readings are not summed with a stage of the same name.
    const key = Symbol('external');
    const group: StageGroup = {
      name: 'external',
      external: read,
      holds: false,
      since: 0,
      live: new Set(),
      retired: zeroStageCounters(),
      lastCapacity: 0,
      lastParallelism: 1,
      endedAt: 0,
    };
    root.#groups.set(key, group);
    return {
      unregister: () => {
        const last = read();
        group.external = () => last;
      },
    };
  }

  #record(stage: Stage, holds: boolean): StageRecord {
    const now = this.timing ? this.now() : 0;
    let group = this.#groups.get(stage.name);
    if (group === undefined) {
      group = {
        name: stage.name,
        holds,
        since: now,
        live: new Set(),
        retired: zeroStageCounters(),
        lastCapacity: 0,
        lastParallelism: 1,
        endedAt: now,
      };
      this.#groups.set(stage.name, group);
    }
    const record: StageRecord = {
      stage,
      holds,
      itemsIn: 0,
      itemsOut: 0,
      until: now,
      occupancyMs: 0,
      emptyMs: 0,
      fullMs: 0,
      busyMs: 0,
    };
    group.live.add(record);
    this.#live++;
    return record;
  }

  /**
   * Fold an unregistered record's counters into its name's group; answers the totals its later
   * counts go to.
   */
  #retire(record: StageRecord): StageCounters | undefined {
    const group = this.#groups.get(record.stage.name);
    if (group === undefined || !group.live.delete(record)) return undefined;
    this.#live--;
    addStageCounters(group.retired, record);
    group.lastCapacity = record.holds ? record.stage.capacity : 0;
    group.lastParallelism = record.stage.parallelism ?? 1;
    group.endedAt = this.timing ? this.now() : 0;
    if (this.#cpuSince !== undefined && this.#live === 0) {
      this.#cpuUntil = cpuMsSince(this.#cpuSince);
      this.#machineCpuUntil = machineCpuMs() - this.#machineCpuSince;
    }
    return group.retired;
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
      root.#parkedSince = root.now();
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
        root.#waitingDownstreamMs += root.now() - root.#parkedSince;
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

  /**
   * The clock now when the Flow times, else 0 (no clock read): where a piece of work began, for a
   * stage's or timer's `workedSince`.
   */
  mark(): number {
    const root = this.root;
    return root.timing ? root.now() : 0;
  }

  /** Add consumer wait time (the loader records how long `next()` waited for an item). */
  recordUpstreamWait(ms: number): void {
    this.root.#waitingUpstreamMs += ms;
  }

  /**
   * Add the time the consumer spent with an item in hand (the loader records how long the loop's
   * body ran between handing an item over and the next `next()`).
   */
  recordConsumerBusy(ms: number): void {
    const root = this.root;
    root.#consumerBusyMs += ms;
    root.#consumerUntil = root.now();
  }

  /** Count an item handed to the consumer (recorded by the loader). */
  recordConsumed(): void {
    this.root.#consumed++;
  }

  /**
   * A reading of every stage and timer, from source to sink (the reverse of the order they
   * registered in: a pipeline subscribes from its sink up), and the wait counters.
   */
  snapshot(): FlowMetrics {
    const root = this.root;
    const now = root.now();
    const parked = root.#parkedSince === undefined ? 0 : now - root.#parkedSince;
    const stages: StageMetrics[] = [];
    // Once every stage has gone (the loop ended), the reading ends when the last one went.
    let ended = Math.max(root.#since, root.#consumerUntil);
    const anyLive = root.#live > 0;
    for (const group of root.#groups.values()) {
      if (group.external !== undefined) {
        // Pushed sink first, as every group is: the list is reversed below.
        const readings = group.external();
        for (let i = readings.length - 1; i >= 0; i--) stages.push(readings[i]!);
        continue;
      }
      const totals = { ...group.retired };
      let capacity = 0;
      let occupancy = 0;
      let parallelism = 0;
      for (const record of group.live) {
        if (root.timing && record.holds) advance(record, now);
        addStageCounters(totals, record);
        if (record.holds) {
          capacity += record.stage.capacity;
          occupancy += record.stage.occupancy();
        }
        parallelism += record.stage.parallelism ?? 1;
      }
      const live = group.live.size > 0;
      ended = Math.max(ended, group.endedAt);
      stages.push({
        name: group.name,
        capacity: live ? capacity : group.lastCapacity,
        occupancy,
        ...totals,
        parallelism: live ? parallelism : group.lastParallelism,
        elapsedMs: root.timing ? (live ? now : group.endedAt) - group.since : 0,
        holds: group.holds,
      });
    }
    const autotune = autotuneDecisions(root);
    return {
      time: this.scheduler.now(),
      stages: stages.reverse(),
      waitingDownstreamMs: root.#waitingDownstreamMs + parked,
      waitingUpstreamMs: root.#waitingUpstreamMs,
      consumerBusyMs: root.#consumerBusyMs,
      consumed: root.#consumed,
      elapsedMs: (anyLive || root.#groups.size === 0 ? now : ended) - root.#since,
      ...(root.#cpuSince === undefined
        ? {}
        : anyLive || root.#cpuUntil === undefined
          ? { cpuMs: cpuMsSince(root.#cpuSince), machineCpuMs: machineCpuMs() - root.#machineCpuSince }
          : { cpuMs: root.#cpuUntil, machineCpuMs: root.#machineCpuUntil }),
      ...(autotune.length > 0 && { autotune }),
    };
  }

  /**
   * The reading of each live stage and timer on its own (not summed by name), keyed by the
   * {@link Stage} it registered (a timer's is made by the Flow), in the order registered: how the
   * autotuner tells the stages it sizes from the others.
   */
  stageReadings(): Map<Stage, StageMetrics> {
    const root = this.root;
    return root.#read(root.now());
  }

  #read(now: number): Map<Stage, StageMetrics> {
    const readings = new Map<Stage, StageMetrics>();
    for (const group of this.#groups.values()) {
      for (const record of group.live) {
        if (this.timing && record.holds) advance(record, now);
        const { stage } = record;
        readings.set(stage, {
          name: stage.name,
          capacity: record.holds ? stage.capacity : 0,
          occupancy: record.holds ? stage.occupancy() : 0,
          itemsIn: record.itemsIn,
          itemsOut: record.itemsOut,
          parallelism: stage.parallelism ?? 1,
          elapsedMs: this.timing ? now - group.since : 0,
          busyMs: record.busyMs,
          emptyMs: record.emptyMs,
          fullMs: record.fullMs,
          occupancyMs: record.occupancyMs,
          holds: record.holds,
        });
      }
    }
    return readings;
  }
}

/**
 * Bring a stage's time integrals up to `now`: the items it held since the last change, held for
 * that long. Runs before every change of what it holds.
 */
function advance(record: StageRecord, now: number): void {
  const elapsed = now - record.until;
  if (elapsed <= 0) return;
  record.until = now;
  const held = record.itemsIn - record.itemsOut;
  record.occupancyMs += held * elapsed;
  if (held <= 0) record.emptyMs += elapsed;
  else if (held >= record.stage.capacity) record.fullMs += elapsed;
}

/** Counters at zero. @internal */
export function zeroStageCounters(): StageCounters {
  return { itemsIn: 0, itemsOut: 0, occupancyMs: 0, emptyMs: 0, fullMs: 0, busyMs: 0 };
}

/** Add `from`'s counters into `into`. @internal */
export function addStageCounters(into: StageCounters, from: Readonly<StageCounters>): void {
  into.itemsIn += from.itemsIn;
  into.itemsOut += from.itemsOut;
  into.occupancyMs += from.occupancyMs;
  into.emptyMs += from.emptyMs;
  into.fullMs += from.fullMs;
  into.busyMs += from.busyMs;
}

/** CPU milliseconds (user and system) the process used since `since`. */
function cpuMsSince(since: NodeJS.CpuUsage): number {
  const used = process.cpuUsage(since);
  return (used.user + used.system) / 1000;
}

/** CPU milliseconds every core of the machine spent busy (not idle) since boot. */
function machineCpuMs(): number {
  let busy = 0;
  for (const { times } of cpus()) busy += times.user + times.nice + times.sys + times.irq;
  return busy;
}
