/**
 * The autotuner: `concurrency: 'auto'` and `prefetch: 'auto'`.
 *
 * One controller per loader iteration (per root {@link Flow}), made when the first tunable knob
 * registers and stopped when the last one leaves. Every `periodMs` of scheduler time (virtual in
 * marble tests) it reads the Flow's counters since its last reading and models the pipeline as
 * tf.data does: each station (a source's reads, a parallel stage, `collate`, the consumer's step)
 * costs `busy / (parallelism x outputs)` milliseconds per item the consumer receives, and the
 * slowest station sets the time per output item. A stage's slots also wait for the reads that fill
 * them (sources pull only while no stage is full), so a stage's cost counts the timed steps that
 * feed it. The controller raises, by one, the knob that most reduces that predicted time
 * (hill-climbing), within a CPU budget and a memory budget.
 *
 * A model cannot see that eight threads on two cores are slower than two, so every raise is a
 * trial: it is reverted unless the throughput measured over the next period rose by
 * {@link AUTOTUNE_MARGIN}. A reverted knob is tried again after {@link AUTOTUNE_RETRY_PERIODS}
 * periods, or sooner when the work per item of some station moves by more than
 * {@link AUTOTUNE_CHANGE} (the workload changed: the optimum moved). A parallel stage with more
 * workers than it needs to keep up with the slowest other station gives one back. After a revert,
 * a lowering or a back-off, one period is left to settle (it mixes items of both values).
 *
 * @module
 */
import { availableParallelism, totalmem } from 'node:os';
import type { SchedulerAction, Subscription } from 'rxjs';
import { InvalidArgumentError } from './errors.js';
import type { Flow, Stage, StageMetrics } from './flow.js';
import { isPlainContainer } from './treeWalk.js';

/** The default memory budget, as a fraction of `os.totalmem()` (tf.data's `ram_budget` uses half). */
export const AUTOTUNE_MEMORY_FRACTION = 0.5;

/** The default period between the controller's readings, in milliseconds of scheduler time. */
export const AUTOTUNE_PERIOD_MS = 500;

/**
 * A raise is kept only when the measured throughput rose by at least this fraction (5%); the
 * model also asks a raise to promise at least this much.
 */
export const AUTOTUNE_MARGIN = 0.05;

/**
 * A change of a station's work per item by more than this fraction (25%) means the workload
 * changed: knobs whose raise was reverted may be tried again.
 */
export const AUTOTUNE_CHANGE = 0.25;

/**
 * Settings of the autotuner, for `toLoader(pipeline, { autotune })`. They matter only when some
 * stage is `'auto'` (`parallelMap`'s `concurrency`, `prefetch`, the loader's `prefetch`).
 * @public
 */
export interface AutotuneOptions {
  /**
   * CPU budget: the cores the `'auto'` stages' worker-thread tasks (tasks given as a module
   * export, each keeping a core busy while it runs) may use. A stage counts its tasks in flight,
   * up to its executor's `threads` (tasks past a pool's threads wait in its queue). The count of
   * all such stages stays within `cpus` plus one per stage: a stage's slot is taken while its next
   * input is read in (sources fill a slot only when it is free), so one task more than its cores
   * keeps them fed. In-process tasks (functions, which mostly await I/O on the event loop) do not
   * count against it. A positive integer; default `os.availableParallelism()`.
   */
  readonly cpus?: number;
  /**
   * Memory budget in bytes for the items held by `'auto'` stages: their capacities times the
   * measured bytes per item never exceed it through a raise, and a stage is lowered when its items
   * grow past it. A positive integer; default {@link AUTOTUNE_MEMORY_FRACTION} of `os.totalmem()`.
   */
  readonly memoryBytes?: number;
  /**
   * Milliseconds of scheduler time between readings; a raise is judged on the period after it, so
   * a stage climbs by at most one step a period. Make it long enough for tens of items to reach
   * the consumer, or the measurements are noise. A positive finite number; default
   * {@link AUTOTUNE_PERIOD_MS}.
   */
  readonly periodMs?: number;
}

/**
 * What the autotuner decided for one knob, for reports: published as `FlowMetrics.autotune`.
 * @public
 */
export interface KnobDecision {
  /** The stage the knob sizes (`parallelMap`, `prefetch`, `loader`). */
  readonly name: string;
  /** `parallelism`: tasks at once (and the stage's capacity); `buffer`: a queue's capacity. */
  readonly kind: KnobKind;
  /** Its value now. */
  readonly value: number;
  /** The least value the controller sets. */
  readonly min: number;
  /** The most: the stage's documented bound. */
  readonly max: number;
  /** Measured bytes per item held by the stage (mean of recent samples); 0 before any. */
  readonly bytesPerItem: number;
  /** Why it has its value, in words (e.g. `raised to 3: 41.2 -> 60.1 items/s`). */
  readonly reason: string;
}

/**
 * What a knob sets.
 * @public
 */
export type KnobKind = 'parallelism' | 'buffer';

/**
 * A knob as an operator registers it with {@link tune}.
 * @public
 */
export interface KnobSpec {
  /** The stage whose capacity the knob is (registered with the same Flow). */
  readonly stage: Stage;
  readonly kind: KnobKind;
  readonly initial: number;
  readonly min: number;
  readonly max: number;
  /**
   * The cores the stage keeps busy at a value, counted against the CPU budget (a worker-thread
   * stage: its tasks in flight, up to its pool's threads). Absent: none (I/O, a buffer).
   */
  readonly cpus?: (value: number) => number;
  /** Apply a new value (the controller then wakes the Flow's parked sources). */
  set(value: number): void;
}

/**
 * A registered knob: hand it samples of the items the stage holds, unregister on teardown.
 * @public
 */
export interface Knob {
  /**
   * The value to start with: `spec.initial`, or the value the same knob had when it last left a
   * controller of the same loader (the previous epoch of `epochs`, or the loader's previous
   * iteration), so each epoch does not climb again from the start.
   */
  readonly value: number;
  /** Let the controller measure an item's bytes (it keeps a sample; cheap to call for every item). */
  sample(item: unknown): void;
  /** Leave the controller; the last knob to leave stops it. */
  unregister(): void;
}

/**
 * A knob whose raise was reverted is tried again after this many periods (20) even if the
 * workload did not visibly change: a raise judged in a noisy period (another process took the
 * cores) is not lost for good. A retry that does not pay costs one period at the worse value.
 */
export const AUTOTUNE_RETRY_PERIODS = 20;

/**
 * A parallel stage's raise adds this fraction of its value (at least one task): 50%, halved after
 * a raise that did not pay, and back when the workload changes.
 */
export const AUTOTUNE_GROWTH = 0.5;

/** The size of `knob`'s next raise. */
function stepOf(knob: KnobState): number {
  return Math.max(1, Math.round(knob.value * knob.growth));
}

/** The capacity a `prefetch('auto')` (and a loader's `prefetch: 'auto'`) starts at. */
export const PREFETCH_AUTO_INITIAL = 2;

/** The most items a `prefetch('auto')` (and a loader's `prefetch: 'auto'`) holds. */
export const PREFETCH_AUTO_MAX = 64;

/** Items measured per knob: every item until then, then one in {@link SAMPLE_EVERY}. */
const SAMPLES = 8;
const SAMPLE_EVERY = 8;

interface KnobState {
  readonly spec: KnobSpec;
  /** Its name and rank among the knobs of that name: the same knob in the next epoch or iteration. */
  readonly key: string;
  value: number;
  reason: string;
  /**
   * Periods left before a knob whose raise was reverted is tried again (0: free), unless the
   * workload changes first.
   */
  blocked: number;
  /**
   * What its next raise adds, as a fraction of its value (at least one): a parallel stage whose
   * best value is 64 tasks gets there in a few trials, not 63, and each trial is big enough to
   * measure. Halved by a raise that did not pay; 0 for a buffer, whose every item is memory held:
   * it grows by one.
   */
  growth: number;
  /** The latest {@link SAMPLES} item sizes, a ring. */
  readonly samples: number[];
  seen: number;
}

/** A station of the model: something that works on items. */
interface Station {
  /** Milliseconds of work per output item, summed over its workers. */
  readonly work: number;
  readonly parallelism: number;
  readonly knob: KnobState | undefined;
}

/** What the controller remembers of a reading. */
interface Reading {
  readonly time: number;
  readonly consumed: number;
  readonly consumerBusyMs: number;
  readonly stages: ReadonlyMap<Stage, StageMetrics>;
}

/** A raise being judged. */
interface Trial {
  readonly knob: KnobState;
  /** Items per millisecond in the period it was decided on. */
  readonly baseline: number;
  /** The value before the raise: what a revert sets back. */
  readonly from: number;
}

const controllers = new WeakMap<Flow, Controller>();
/** The last decisions of an iteration whose 'auto' stages have all gone: what its report shows. */
const ended = new WeakMap<Flow, readonly KnobDecision[]>();

/**
 * Knob values by key, kept per settings object: a loader hands each of its Flows the same one,
 * so an iteration starts where the last one left off. A Flow made without settings keeps its own.
 */
const memories = new WeakMap<object, Map<string, number>>();

function remembered(flow: Flow): Map<string, number> {
  const owner: object = flow.autotune ?? flow;
  let memory = memories.get(owner);
  if (memory === undefined) {
    memory = new Map();
    memories.set(owner, memory);
  }
  return memory;
}

/**
 * Check `toLoader`'s `autotune` option.
 *
 * @param options - The option as given.
 * @param where - The option's name in messages.
 * @returns The options, unchanged.
 * @throws {@link InvalidArgumentError} `RXFEED_ERR_INVALID_ARG` naming the field.
 * @internal
 */
export function checkAutotuneOptions(options: AutotuneOptions | undefined, where = 'toLoader.autotune'): AutotuneOptions | undefined {
  if (options === undefined) return undefined;
  if (typeof options !== 'object' || options === null) {
    throw new InvalidArgumentError(where, `must be an object, got ${String(options)}`);
  }
  const { cpus, memoryBytes, periodMs } = options;
  if (cpus !== undefined && (!Number.isSafeInteger(cpus) || cpus < 1)) {
    throw new InvalidArgumentError(`${where}.cpus`, `must be a positive integer, got ${String(cpus)}`);
  }
  if (memoryBytes !== undefined && (!Number.isSafeInteger(memoryBytes) || memoryBytes < 1)) {
    throw new InvalidArgumentError(`${where}.memoryBytes`, `must be a positive integer, got ${String(memoryBytes)}`);
  }
  if (periodMs !== undefined && (typeof periodMs !== 'number' || !Number.isFinite(periodMs) || periodMs <= 0)) {
    throw new InvalidArgumentError(`${where}.periodMs`, `must be a positive finite number, got ${String(periodMs)}`);
  }
  return options;
}

/**
 * Register a knob with the controller of `flow`'s loader iteration (made now if it is the first).
 * The stage starts at the returned {@link Knob.value} (`spec.initial`, or where the same knob left
 * off in the previous epoch or iteration); the controller calls `spec.set` when it changes it.
 * Operators with an `'auto'` option call this when subscribed, and unregister on teardown.
 *
 * @param flow - The Flow of the subscription (its root holds the controller).
 * @param spec - The knob.
 * @returns The registered knob.
 * @public
 */
export function tune(flow: Flow, spec: KnobSpec): Knob {
  const root = flow.root;
  let controller = controllers.get(root);
  if (controller === undefined) {
    controller = new Controller(root);
    controllers.set(root, controller);
  }
  const key = controller.keyOf(spec);
  const kept = remembered(root).get(key);
  const value = kept === undefined ? spec.initial : Math.min(spec.max, Math.max(spec.min, kept));
  const reason = kept === undefined ? 'initial value' : 'kept from the last epoch or iteration';
  const state: KnobState = {
    spec,
    key,
    value,
    reason,
    blocked: 0,
    growth: spec.kind === 'parallelism' ? AUTOTUNE_GROWTH : 0,
    samples: [],
    seen: 0,
  };
  if (!root.timing) state.reason = `${reason}: timing is off, so nothing is measured to tune by`;
  controller.add(state);
  return {
    value,
    sample: (item) => {
      const seen = state.seen++;
      if (seen >= SAMPLES && seen % SAMPLE_EVERY !== 0) return;
      state.samples[Math.floor(seen / (seen >= SAMPLES ? SAMPLE_EVERY : 1)) % SAMPLES] = bytesOf(item, 0);
    },
    unregister: () => {
      remembered(root).set(key, controller.settled(state));
      const last = controller.decisions();
      if (controller.remove(state)) {
        controllers.delete(root);
        // A report after the loop ended still says what the stages were set to, and why.
        ended.set(root, last);
      }
    },
  };
}

/**
 * Register a `prefetch: 'auto'` queue's capacity (`prefetch('auto')`, the loader's queue): a
 * buffer knob from `initial` to {@link PREFETCH_AUTO_MAX}.
 * @internal
 */
export function tuneBuffer(flow: Flow, stage: Stage, initial: number, set: (value: number) => void): Knob {
  return tune(flow, { stage, kind: 'buffer', initial, min: 1, max: PREFETCH_AUTO_MAX, set });
}

/**
 * What the autotuner of `flow`'s loader iteration decided: each knob's value and the reason, in
 * the order they registered. Empty when no stage is `'auto'`.
 *
 * @param flow - Any Flow of the iteration.
 * @returns One decision per knob.
 * @public
 */
export function autotuneDecisions(flow: Flow): readonly KnobDecision[] {
  return controllers.get(flow.root)?.decisions() ?? ended.get(flow.root) ?? [];
}

class Controller {
  readonly #flow: Flow;
  readonly #cpus: number;
  readonly #memoryBytes: number;
  readonly #knobs = new Set<KnobState>();
  readonly #timer: Subscription | undefined;
  #last: Reading | undefined;
  #trial: Trial | undefined;
  /** The next reading's period includes a change: it is not judged, only read. */
  #settling = false;
  /** Work per output item of each station in the last clean period after a change. */
  #reference: Map<Stage | 'consumer', number> | undefined;

  constructor(flow: Flow) {
    this.#flow = flow;
    const options = flow.autotune ?? {};
    this.#cpus = options.cpus ?? availableParallelism();
    this.#memoryBytes = options.memoryBytes ?? Math.floor(totalmem() * AUTOTUNE_MEMORY_FRACTION);
    if (!flow.timing) return;
    const period = options.periodMs ?? AUTOTUNE_PERIOD_MS;
    const tick = (): void => this.#tick();
    this.#timer = flow.scheduler.schedule(function (this: SchedulerAction<undefined>) {
      tick();
      this.schedule(undefined, period);
    }, period);
  }

  /** The knob's value, or the one before the raise being judged: a trial is not a result. */
  settled(knob: KnobState): number {
    return this.#trial?.knob === knob ? this.#trial.from : knob.value;
  }

  /** `name#rank`: knobs register from the sink up in the same order at every subscription. */
  keyOf(spec: KnobSpec): string {
    let rank = 0;
    for (const knob of this.#knobs) if (knob.spec.stage.name === spec.stage.name && knob.spec.kind === spec.kind) rank++;
    return `${spec.stage.name}:${spec.kind}#${rank}`;
  }

  add(knob: KnobState): void {
    this.#knobs.add(knob);
  }

  /** @returns True when it was the last knob: the controller has stopped. */
  remove(knob: KnobState): boolean {
    this.#knobs.delete(knob);
    if (this.#trial?.knob === knob) this.#trial = undefined;
    if (this.#knobs.size > 0) return false;
    this.#timer?.unsubscribe();
    return true;
  }

  decisions(): KnobDecision[] {
    return [...this.#knobs].map((knob) => ({
      name: knob.spec.stage.name,
      kind: knob.spec.kind,
      value: knob.value,
      min: knob.spec.min,
      max: knob.spec.max,
      bytesPerItem: bytesPerItem(knob),
      reason: knob.reason,
    }));
  }

  /** `settle`: skip the next period (it mixes the old value's items with the new one's). */
  #set(knob: KnobState, value: number, reason: string, settle = true): void {
    knob.value = value;
    knob.reason = reason;
    knob.spec.set(value);
    this.#settling = settle;
    this.#reference = undefined;
    this.#flow.notify();
  }

  #tick(): void {
    const metrics = this.#flow.snapshot();
    const reading: Reading = {
      time: this.#flow.now(),
      consumed: metrics.consumed,
      consumerBusyMs: metrics.consumerBusyMs,
      stages: this.#flow.stageReadings(),
    };
    const last = this.#last;
    this.#last = reading;
    if (last === undefined) return;
    if (this.#backOff()) return;
    const elapsed = reading.time - last.time;
    const outputs = this.#outputs(last, reading);
    // Nothing reached the consumer (a pause, the epoch's end): nothing to learn from this period.
    if (elapsed <= 0 || outputs <= 0) return;
    const rate = outputs / elapsed;
    const stations = this.#stations(last, reading, outputs);
    if (this.#settling) {
      this.#settling = false;
      return;
    }
    const trial = this.#trial;
    if (trial !== undefined) {
      this.#trial = undefined;
      const { knob, baseline, from } = trial;
      const figures = `${perSecond(baseline)} -> ${perSecond(rate)} items/s`;
      if (rate >= baseline * (1 + AUTOTUNE_MARGIN)) {
        knob.reason = `raised to ${knob.value}: ${figures}`;
      } else {
        // A big step that did not pay is retried smaller at once; a step of one waits.
        if (knob.value - from > 1) knob.growth /= 2;
        else knob.blocked = AUTOTUNE_RETRY_PERIODS;
        this.#set(knob, from, `reverted to ${from}: raising to ${knob.value} did not pay (${figures})`);
        return;
      }
    }
    const work = new Map<Stage | 'consumer', number>(stations.map(([key, station]) => [key, station.work]));
    if (this.#reference === undefined) {
      this.#reference = work;
    } else if (changed(this.#reference, work)) {
      this.#reference = work;
      for (const knob of this.#knobs) {
        knob.blocked = 0;
        if (knob.spec.kind === 'parallelism') knob.growth = AUTOTUNE_GROWTH;
      }
    }
    for (const knob of this.#knobs) if (knob.blocked > 0) knob.blocked--;
    this.#climb(
      stations.map(([, station]) => station),
      last,
      reading,
      outputs,
      rate,
    );
  }

  /** Output items in the period: what the consumer received, or what the last stage let out. */
  #outputs(last: Reading, now: Reading): number {
    if (now.consumed > 0) return now.consumed - last.consumed;
    // Stages register from the sink up: the first that holds items is the last before the consumer.
    for (const [stage, metrics] of now.stages) {
      if (metrics.holds) return metrics.itemsOut - (last.stages.get(stage)?.itemsOut ?? 0);
    }
    return 0;
  }

  /**
   * The stations of the period, each with its work per output item. A stage's slots stay taken
   * while its sources read: sources pull only when no stage is full, so when the stage's slots
   * bound the pipeline each slot's cycle is its own work plus the reads and synchronous steps
   * (timers) that feed it, up to the next stage that holds items.
   */
  #stations(last: Reading, now: Reading, outputs: number): [Stage | 'consumer', Station][] {
    const knobOf = new Map<Stage, KnobState>();
    for (const knob of this.#knobs) knobOf.set(knob.spec.stage, knob);
    // From the sink up (the order stages register in).
    const entries = [...now.stages].map(([stage, metrics]) => ({
      stage,
      metrics,
      busy: metrics.busyMs - (last.stages.get(stage)?.busyMs ?? 0),
    }));
    const stations: [Stage | 'consumer', Station][] = [];
    entries.forEach(({ stage, metrics, busy }, i) => {
      if (busy <= 0) return;
      let feeding = 0;
      if (metrics.holds) {
        for (let j = i + 1; j < entries.length && !entries[j]!.metrics.holds; j++) feeding += Math.max(0, entries[j]!.busy);
      }
      stations.push([stage, { work: (busy + feeding) / outputs, parallelism: metrics.parallelism, knob: knobOf.get(stage) }]);
    });
    const consumerBusy = now.consumerBusyMs - last.consumerBusyMs;
    if (consumerBusy > 0) stations.push(['consumer', { work: consumerBusy / outputs, parallelism: 1, knob: undefined }]);
    return stations;
  }

  /**
   * Raise the knob that most reduces the predicted time per output item (a trial), or give back
   * a worker a parallel stage does not need.
   */
  #climb(stations: readonly Station[], last: Reading, now: Reading, outputs: number, rate: number): void {
    const time = (station: Station, parallelism = station.parallelism): number => station.work / parallelism;
    const bottleneck = Math.max(0, ...stations.map((station) => time(station)));
    if (bottleneck <= 0) return;
    const held = this.#predictedBytes();
    const cpus = this.#cpusUsed();
    let best: { knob: KnobState; gain: number; step: number } | undefined;
    for (const knob of this.#knobs) {
      if (knob.blocked > 0 || knob.value >= knob.spec.max) continue;
      const step = Math.min(stepOf(knob), knob.spec.max - knob.value);
      let gain: number;
      if (knob.spec.kind === 'parallelism') {
        const own = stations.find((station) => station.knob === knob);
        if (own === undefined) continue;
        const others = Math.max(0, ...stations.filter((station) => station !== own).map((station) => time(station)));
        gain = bottleneck - Math.max(others, time(own, own.parallelism + step));
      } else {
        // A buffer that was full (upstream waited on it) and empty (downstream waited) in the
        // same period lost that overlap to jitter a bigger buffer absorbs.
        const stage = knob.spec.stage;
        const before = last.stages.get(stage);
        const after = now.stages.get(stage);
        if (before === undefined || after === undefined) continue;
        gain = Math.min(after.fullMs - before.fullMs, after.emptyMs - before.emptyMs) / outputs;
      }
      if (gain < bottleneck * AUTOTUNE_MARGIN) continue;
      if (held + bytesPerItem(knob) * step > this.#memoryBytes) {
        // Past the budget: a smaller step may fit; one item more never does.
        if (step > 1) knob.growth /= 2;
        else knob.reason = `held at ${knob.value}: one more item would pass the memory budget (${this.#memoryBytes} bytes)`;
        continue;
      }
      const cores = knob.spec.cpus;
      if (cores !== undefined && cpus - cores(knob.value) + cores(knob.value + step) > this.#cpus + this.#cpuStages()) {
        if (step > 1) knob.growth /= 2;
        else knob.reason = `held at ${knob.value}: the CPU budget (${this.#cpus} cores)`;
        continue;
      }
      if (best === undefined || gain > best.gain) best = { knob, gain, step };
    }
    if (best !== undefined) {
      const { knob, step } = best;
      this.#trial = { knob, baseline: rate, from: knob.value };
      this.#set(
        knob,
        knob.value + step,
        `trying ${knob.value + step}: predicted ${ms(bottleneck)} -> ${ms(bottleneck - best.gain)} ms/item`,
        false,
      );
      return;
    }
    for (const station of stations) {
      const knob = station.knob;
      if (knob === undefined || knob.spec.kind !== 'parallelism' || knob.value <= knob.spec.min) continue;
      const others = Math.max(0, ...stations.filter((other) => other !== station).map((other) => time(other)));
      if (time(station, station.parallelism - 1) * (1 + AUTOTUNE_MARGIN) <= others) {
        this.#set(knob, knob.value - 1, `lowered to ${knob.value - 1}: it kept up with a slower stage with one less`);
        return;
      }
    }
  }

  /**
   * Lower the biggest holders while the tuned stages' capacities times their bytes per item pass
   * the memory budget (items grew). Items already held stay: a lowered stage takes no more until
   * it holds less than its new capacity.
   *
   * @returns True when it lowered something.
   */
  #backOff(): boolean {
    let lowered = false;
    while (this.#predictedBytes() > this.#memoryBytes) {
      let biggest: KnobState | undefined;
      for (const knob of this.#knobs) {
        if (knob.value <= knob.spec.min) continue;
        if (biggest === undefined || knob.value * bytesPerItem(knob) > biggest.value * bytesPerItem(biggest)) biggest = knob;
      }
      if (biggest === undefined) break;
      if (this.#trial?.knob === biggest) this.#trial = undefined;
      lowered = true;
      this.#set(
        biggest,
        biggest.value - 1,
        `lowered to ${biggest.value - 1}: items of ${Math.round(bytesPerItem(biggest))} bytes held past the memory budget (${this.#memoryBytes})`,
      );
    }
    return lowered;
  }

  /** Bytes the tuned stages may hold at their capacities. */
  #predictedBytes(): number {
    let total = 0;
    for (const knob of this.#knobs) total += knob.value * bytesPerItem(knob);
    return total;
  }

  /** `'auto'` stages of worker-thread tasks: each may have one task in flight past its cores. */
  #cpuStages(): number {
    let stages = 0;
    for (const knob of this.#knobs) if (knob.spec.cpus !== undefined) stages++;
    return stages;
  }

  #cpusUsed(): number {
    let total = 0;
    for (const knob of this.#knobs) total += knob.spec.cpus?.(knob.value) ?? 0;
    return total;
  }
}

/** True when some station's work per item moved by more than {@link AUTOTUNE_CHANGE}. */
function changed(reference: ReadonlyMap<Stage | 'consumer', number>, work: ReadonlyMap<Stage | 'consumer', number>): boolean {
  for (const [key, value] of work) {
    const before = reference.get(key);
    if (before === undefined || Math.abs(value - before) > AUTOTUNE_CHANGE * before) return true;
  }
  return false;
}

function bytesPerItem(knob: KnobState): number {
  const { samples } = knob;
  if (samples.length === 0) return 0;
  return samples.reduce((sum, bytes) => sum + bytes, 0) / samples.length;
}

/** Children of a container measured; more are extrapolated from these. */
const MEASURED_CHILDREN = 64;
/** Containers nested deeper than this are not measured. */
const MEASURED_DEPTH = 4;

/**
 * An estimate of the bytes an item holds: typed arrays, Buffers, ArrayBuffers and strings (two
 * bytes a character), in plain objects and arrays up to {@link MEASURED_DEPTH} levels deep. A
 * container with more than {@link MEASURED_CHILDREN} children is extrapolated from its first ones,
 * so the estimate costs a bounded time whatever the item.
 */
function bytesOf(value: unknown, depth: number): number {
  if (typeof value === 'string') return value.length * 2;
  if (typeof value === 'number' || typeof value === 'bigint' || typeof value === 'boolean') return 8;
  if (ArrayBuffer.isView(value)) return value.byteLength;
  if (value instanceof ArrayBuffer) return value.byteLength;
  if (depth >= MEASURED_DEPTH || !isPlainContainer(value)) return 0;
  const children = Array.isArray(value) ? value : Object.values(value);
  let total = 0;
  const measured = Math.min(children.length, MEASURED_CHILDREN);
  for (let i = 0; i < measured; i++) total += bytesOf(children[i], depth + 1);
  return measured === 0 ? 0 : (total * children.length) / measured;
}

function perSecond(itemsPerMs: number): string {
  return (itemsPerMs * 1000).toFixed(1);
}

function ms(value: number): string {
  return value.toFixed(value < 10 ? 2 : 1);
}
