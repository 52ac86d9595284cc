/**
 * Loader state: what a loader's consumer has received, as a small JSON value, and the tracker
 * each loader iteration keeps to make it.
 *
 * State is counted at the loader, never at the sources: items read ahead (in a prefetch queue, a
 * partial batch, a worker's outbox) are simply read again after a resume. Each source
 * subscription and each stage whose state matters registers a *part* with the iteration's
 * {@link StateTracker} under a key made from its kind, its rank among the parts of that kind and
 * its epoch (`fromRandomAccess#0@3`), so the same pipeline gives the same keys in the process
 * that saves and in the one that resumes. `Loader.state()` saves every part; a new loader given
 * that state hands each part, when it registers, what it saved.
 *
 * @module
 */
import { RxfeedError, type RxfeedErrorCode } from './errors.js';
import { describe } from './excerpt.js';

/** The format tag of a {@link LoaderState}. */
const FORMAT = 'rxfeed.loader-state';

/**
 * What a loader's consumer has received, as plain JSON: save it next to the model's weights
 * (`JSON.stringify`) and give it back to `toLoader(pipeline, { state })` to resume.
 *
 * Its `parts` are each source's and stateful stage's own record, keyed by kind, rank and epoch
 * (`fromRandomAccess#0@3`). Treat them as opaque: a resumed loader checks that each part fits
 * the pipeline it is given to.
 * @public
 */
export interface LoaderState {
  /** Always `'rxfeed.loader-state'`. */
  readonly format: typeof FORMAT;
  /** The format's version: 1. */
  readonly version: 1;
  /** The epoch the consumer is in: the one a resumed loader's next iteration reads. */
  readonly epoch: number;
  /** Each registered part's saved state, by key. */
  readonly parts: { readonly [key: string]: unknown };
}

/**
 * A loader state could not be made, read, or applied. `code` says which:
 * `RXFEED_ERR_STATE_UNTRACKED` (the pipeline holds something no state can describe),
 * `RXFEED_ERR_STATE_INVALID` (the value is not a state `Loader.state` made) or
 * `RXFEED_ERR_STATE_MISMATCH` (the state does not fit this pipeline).
 * @public
 */
export class LoaderStateError extends RxfeedError {
  /** The part or stage concerned (`shuffleBuffer#0@2`, `mix`), when one is. */
  readonly part: string | undefined;

  constructor(code: Extract<RxfeedErrorCode, `RXFEED_ERR_STATE_${string}`>, message: string, part?: string) {
    super(code, message);
    this.part = part;
  }
}

/**
 * One registered part: a source subscription or a stage that saves its own state.
 * @internal
 */
export interface StatePart {
  /** The part's state now, as JSON-serialisable data. */
  save(): unknown;
}

/**
 * What a loader state is checked into: the states a loader resumes from, one or one per rank of
 * the run that saved them (a resume on another world size needs every rank's).
 * @internal
 */
export type RestoreStates = readonly LoaderState[];

/**
 * The parts of one loader iteration (or subscription), and why its state cannot be taken, if it
 * cannot.
 * @internal
 */
export class StateTracker {
  /** The states this iteration resumes from; empty for a fresh start. */
  readonly restoring: RestoreStates;
  readonly #shared: TrackerShared;
  /** What keys made here start with (a fan-in operator's input: `mix#0@0/1/`). */
  readonly #prefix: string;
  readonly #counts = new Map<string, number>();

  /**
   * @param restoring - The states this iteration resumes from.
   * @param onRegister - Told of every part registered (a worker part's tracker forwards them).
   * @param scope - For {@link StateTracker.scoped}: the parts and problem shared, and the key prefix.
   */
  constructor(
    restoring: RestoreStates = [],
    onRegister?: (key: string, part: StatePart) => void,
    scope?: { readonly shared: TrackerShared; readonly prefix: string },
  ) {
    this.restoring = restoring;
    this.#shared = scope?.shared ?? { parts: new Map(), problem: undefined, onRegister };
    this.#prefix = scope?.prefix ?? '';
  }

  /**
   * A tracker whose keys start with `prefix` and are counted apart, sharing everything else: each
   * input of a fan-in operator gets one, so its parts keep their keys whichever inputs are opened.
   */
  scoped(prefix: string): StateTracker {
    return new StateTracker(this.restoring, undefined, { shared: this.#shared, prefix: `${this.#prefix}${prefix}/` });
  }

  /**
   * The key for the next part of `kind` read at `epoch`: `kind#n@epoch`, `n` counting the parts of
   * that kind and epoch registered before it.
   */
  keyFor(kind: string, epoch: number): string {
    const base = `${kind}@${epoch}`;
    const n = this.#counts.get(base) ?? 0;
    this.#counts.set(base, n + 1);
    return `${this.#prefix}${kind}#${n}@${epoch}`;
  }

  /**
   * Register `part` under `key`.
   *
   * @returns What each state being resumed from saved under `key` (none: a fresh start, or a part
   *   that had not started when they were saved).
   */
  register(key: string, part: StatePart): readonly unknown[] {
    this.#shared.parts.set(key, part);
    this.#shared.onRegister?.(key, part);
    return this.restored(key);
  }

  /** How many parts were registered so far: a mark for {@link StateTracker.forgetSince}. */
  get registered(): number {
    return this.#shared.parts.size;
  }

  /**
   * Forget the parts registered after `mark` (`epochs` forgets a finished epoch's sources, whose
   * items were all consumed, so a long run's state does not grow with its epochs).
   */
  forgetSince(mark: number): void {
    let index = 0;
    for (const key of [...this.#shared.parts.keys()]) if (index++ >= mark) this.#shared.parts.delete(key);
  }

  /** What each state being resumed from saved under `key`. */
  restored(key: string): readonly unknown[] {
    const found: unknown[] = [];
    for (const state of this.restoring) {
      const saved = state.parts[key];
      if (saved !== undefined) found.push(saved);
    }
    return found;
  }

  /**
   * Record that the state cannot be taken: `where` is the stage or source concerned. The first
   * problem is the one reported.
   */
  untracked(where: string, why: string): void {
    this.#shared.problem ??= new LoaderStateError('RXFEED_ERR_STATE_UNTRACKED', `Loader.state: ${where}: ${why}`, where);
  }

  /**
   * The state of every part, for a consumer in `epoch`.
   *
   * @throws {@link LoaderStateError} `RXFEED_ERR_STATE_UNTRACKED` when a problem was recorded.
   */
  save(epoch: number): LoaderState {
    if (this.#shared.problem !== undefined) throw this.#shared.problem;
    const parts: Record<string, unknown> = {};
    for (const [key, part] of this.#shared.parts) parts[key] = part.save();
    return { format: FORMAT, version: 1, epoch, parts };
  }
}

/** What a tracker and its scopes share. */
interface TrackerShared {
  readonly parts: Map<string, StatePart>;
  problem: LoaderStateError | undefined;
  readonly onRegister: ((key: string, part: StatePart) => void) | undefined;
}

/**
 * A state that starts epoch `epoch` afresh: what a loader says between epochs.
 * @internal
 */
export function freshState(epoch: number): LoaderState {
  return { format: FORMAT, version: 1, epoch, parts: {} };
}

/**
 * Check what was given as `toLoader`'s `state`: one state, or one per rank of the run that saved
 * them, all at the same epoch.
 *
 * @throws {@link LoaderStateError} `RXFEED_ERR_STATE_INVALID` naming what is wrong.
 * @internal
 */
export function checkRestoreStates(given: LoaderState | readonly LoaderState[]): RestoreStates {
  const states = Array.isArray(given) ? (given as readonly LoaderState[]) : [given as LoaderState];
  if (states.length === 0) invalid('toLoader.state: an empty list of states');
  states.forEach((state, index) => {
    const where = Array.isArray(given) ? `toLoader.state[${index}]` : 'toLoader.state';
    if (typeof state !== 'object' || state === null || Array.isArray(state))
      invalid(`${where}: expected a loader state, got ${describe(state)}`);
    if (state.format !== FORMAT) invalid(`${where}: format ${describe(state.format)} is not '${FORMAT}'`);
    if (state.version !== 1) invalid(`${where}: version ${describe(state.version)} is not 1`);
    if (!Number.isSafeInteger(state.epoch) || state.epoch < 0)
      invalid(`${where}: epoch ${describe(state.epoch)} is not a non-negative integer`);
    if (typeof state.parts !== 'object' || state.parts === null || Array.isArray(state.parts)) {
      invalid(`${where}: parts ${describe(state.parts)} is not an object`);
    }
    if (state.epoch !== states[0]!.epoch) {
      invalid(`${where}: epoch ${state.epoch} differs from the first state's ${states[0]!.epoch}; give states saved at the same step`);
    }
  });
  return states;
}

function invalid(message: string): never {
  throw new LoaderStateError('RXFEED_ERR_STATE_INVALID', message);
}
