/**
 * The subscription context: what a sink hands up to sources while RxJS subscribes.
 *
 * RxJS subscribes synchronously from the sink towards the source, so a value made current for the
 * duration of `source.subscribe(...)` is seen by every operator and source on the way up, plain
 * RxJS operators included. rxfeed uses that to pass, as Reactor passes its Context:
 * - the {@link Flow} gauge of the subscription;
 * - the epoch being read, which `epochs` advances for what lies downstream of it;
 * - the placement (rank and world size), read from the environment once per loader subscription;
 * - a way for each source and operator to announce its {@link StreamInfo} (size, split) to the
 *   nearest rxfeed operator downstream, so that information crosses plain `map`/`tap` operators,
 *   which a WeakMap keyed by Observable identity could not do.
 *
 * The current context lives in one slot on `globalThis` under a versioned `Symbol.for` key, as
 * undici keeps its global dispatcher: two installed copies of rxfeed in one process (a library
 * bringing its own) still see each other's context.
 *
 * @module
 */
import { resolvePlacementWithin, type Placement, type PlacementOptions } from './distributed.js';
import { Flow } from './flow.js';
import type { StreamInfo } from './info.js';
import { StateTracker } from './loaderState.js';

/** What a context is made from; everything but the Flow has a default. */
export interface PipelineContextInit {
  /** The backpressure gauge of this subscription. */
  readonly flow: Flow;
  /** The epoch being read; default 0. */
  readonly epoch?: number;
  /**
   * The placement of a worker pipeline's part (see `workerPipeline`): its rank and world size, as
   * the main thread resolved them, and which of the pipeline's workers this is. It takes the place
   * of the environment for every operator that resolves a placement under this context.
   */
  readonly part?: Placement;
  /** @internal The tracker of the loader iteration (see `Loader.state`); default a fresh one. */
  readonly tracker?: StateTracker;
}

/** The environment's placement values, read at most once per loader subscription. */
type EnvironmentPlacement = Partial<Record<keyof Placement, number>>;

/** The parts of a context that derived contexts share. */
interface SharedParts {
  readonly epoch: { value: number };
  readonly environment: { read?: EnvironmentPlacement };
  readonly listener: ((info: StreamInfo) => void) | undefined;
  readonly part: Placement | undefined;
  /** Set once an operator split its input by this placement (`shard`, `fromRandomAccess`). */
  readonly split: { done: boolean };
  readonly tracker: StateTracker;
}

/**
 * What a subscription of a pipeline carries from the sink to its sources.
 *
 * Operators built with the operator kit ({@link operate}) receive it; a source written by hand
 * reads it with {@link currentContext} while it is being subscribed.
 * @public
 */
export class PipelineContext {
  /** The backpressure gauge of this subscription. */
  readonly flow: Flow;
  #shared: SharedParts;

  /** @param init - The Flow, and the epoch (default 0). */
  constructor(init: PipelineContextInit) {
    this.flow = init.flow;
    this.#shared = {
      epoch: { value: init.epoch ?? 0 },
      environment: {},
      listener: undefined,
      part: init.part,
      split: { done: false },
      tracker: init.tracker ?? new StateTracker(),
    };
  }

  /** A context over `flow` sharing `shared` (the epoch cell, environment reading, listener). */
  static #derive(flow: Flow, shared: SharedParts): PipelineContext {
    const context = new PipelineContext({ flow });
    context.#shared = shared;
    return context;
  }

  /**
   * The epoch of the items passing here now: fixed for a source's subscription, and advanced by
   * `epochs` for the stages downstream of it, so a stage that reads it when an item arrives sees
   * that item's epoch.
   */
  get epoch(): number {
    return this.#shared.epoch.value;
  }

  /**
   * The placement for `where` (e.g. `shard`): explicit `options` win, then `RANK` and
   * `WORLD_SIZE`, read from the environment once for this subscription, then rank 0 of 1.
   * Errors name each value's origin: `shard.rank: 3 (from RANK) is not below worldSize 2 (from
   * WORLD_SIZE)`.
   */
  placement(options: PlacementOptions, where: string): Placement {
    return resolvePlacementWithin(options, where, this.#shared.environment, this.#shared.part);
  }

  /**
   * {@link PipelineContext.placement}, for an operator that splits its input by it (`shard`,
   * `fromRandomAccess`): a worker pipeline checks that one did, since otherwise every worker
   * would read the whole input.
   */
  splitPlacement(options: PlacementOptions, where: string): Placement {
    const placement = this.placement(options, where);
    this.#shared.split.done = true;
    return placement;
  }

  /** @internal True once an operator under this context split its input ({@link PipelineContext.splitPlacement}). */
  get split(): boolean {
    return this.#shared.split.done;
  }

  /**
   * @internal The tracker of the loader iteration: sources and stateful stages register their
   * state parts with it (see `Loader.state`).
   */
  get tracker(): StateTracker {
    return this.#shared.tracker;
  }

  /**
   * Tell the nearest rxfeed operator downstream what this subscription will emit. Sources and
   * operators call it when subscribed, before their first item; a later call replaces an earlier
   * one.
   */
  announce(info: StreamInfo): void {
    this.#shared.listener?.(info);
  }

  /** @internal A context for an upstream subscription whose announcements go to `listener`. */
  listening(listener: (info: StreamInfo) => void): PipelineContext {
    return PipelineContext.#derive(this.flow, { ...this.#shared, listener });
  }

  /** @internal The same context gauged by `flow` instead (a fan-in operator's child Flow). */
  withFlow(flow: Flow): PipelineContext {
    return PipelineContext.#derive(flow, this.#shared);
  }

  /** @internal The same context with its parts registered through `tracker` (a fan-in input's scope). */
  withTracker(tracker: StateTracker): PipelineContext {
    return PipelineContext.#derive(this.flow, { ...this.#shared, tracker });
  }

  /** @internal A context for a subscription reading epoch `epoch` (what `epochs` subscribes). */
  forEpoch(epoch: number): PipelineContext {
    return PipelineContext.#derive(this.flow, { ...this.#shared, epoch: { value: epoch } });
  }

  /** @internal Advance the epoch seen by every stage sharing this context (`epochs` does). */
  enterEpoch(epoch: number): void {
    this.#shared.epoch.value = epoch;
  }
}

/** The slot's key: versioned, so a future incompatible context gets a slot of its own. */
const SLOT = Symbol.for('rxfeed.context.v1');
interface ContextSlot {
  current: PipelineContext | undefined;
}
const slot: ContextSlot =
  ((globalThis as Record<symbol, unknown>)[SLOT] as ContextSlot | undefined) ??
  ((globalThis as Record<symbol, unknown>)[SLOT] = { current: undefined } as ContextSlot);

/**
 * The context bound by the nearest enclosing {@link bindContext}, or a fresh one (new Flow, epoch
 * 0) when a pipeline is subscribed directly with no rxfeed sink below it.
 * @public
 */
export function currentContext(): PipelineContext {
  return slot.current ?? new PipelineContext({ flow: new Flow() });
}

/**
 * Run `subscribe` with `context` current, so sources and operators subscribed inside see it.
 *
 * @param context - A context, or the Flow and epoch to make one from.
 * @param subscribe - Subscribes the pipeline.
 * @returns What `subscribe` returns.
 * @public
 */
export function bindContext<R>(context: PipelineContext | PipelineContextInit, subscribe: () => R): R {
  const previous = slot.current;
  slot.current = isContext(context) ? context : new PipelineContext(context);
  try {
    return subscribe();
  } finally {
    slot.current = previous;
  }
}

/** A context, possibly made by another installed copy of rxfeed (so not by `instanceof`). */
function isContext(value: PipelineContext | PipelineContextInit): value is PipelineContext {
  return typeof (value as Partial<PipelineContext>).announce === 'function';
}
