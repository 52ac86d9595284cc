/**
 * The inner source shared by the fan-in operators (`interleave`, `mix`, `zipShards`): each holds
 * at most one item under its own gated child Flow, and the operator's {@link Pump} hands the
 * items downstream.
 *
 * @module
 */
import type { Observable, Subscription } from 'rxjs';
import { disposeAll } from './dispose.js';
import { Flow } from './flow.js';
import { EmittedLog, originId, originRef, refId, type OriginRef } from './emittedLog.js';
import { LoaderStateError } from './loaderState.js';
import type { Operation } from './operate.js';
import type { Pump } from './pump.js';
import { OriginList, type Origin, type Origins } from './origins.js';

/**
 * One open inner source of a fan-in operator.
 *
 * It is subscribed under a child of the pipeline's Flow whose gate closes while an item waits here,
 * so a flow-aware source (built on `fromPuller`) pauses with one item waiting: at most one item is
 * held per inner source, and a slow source never stalls the others. A plain Observable that
 * ignores the Flow may push more; they queue here.
 * @internal
 */
export class InnerSource<T> {
  /** Items received and not yet taken (one, for a flow-aware source). */
  readonly queue: T[] = [];
  /** The origins of each item in `queue` (see `Loader.state`). */
  readonly #origins: Origins[] = [];
  /** The gated child Flow the source was subscribed under. */
  readonly flow: Flow;
  /** The source completed. */
  done = false;
  readonly #subscription: Subscription;

  /**
   * Subscribe `source` now, through the fan-in operator's operation: its error ends the stream.
   *
   * @param op - The fan-in operator's operation; its Flow becomes the child's parent.
   * @param source - The inner source.
   * @param changed - Called when an item arrives or the source completes (the operator's pump).
   * @param scope - A key prefix for the loader-state parts registered under it (see `mix`), so they
   *   keep their keys whichever inputs are open.
   */
  constructor(
    op: Pick<Operation<unknown>, 'context' | 'subscribe' | 'takeOrigins'>,
    source: Observable<T>,
    changed: () => void,
    scope?: string,
  ) {
    const queue = this.queue;
    const origins = this.#origins;
    this.flow = new Flow({ parent: op.context.flow, gate: () => queue.length >= 1 });
    // Its own epoch cell: an `epochs` inside one input advances that input only.
    const inner = op.context.forEpoch(op.context.epoch).withFlow(this.flow);
    const context = scope === undefined ? inner : inner.withTracker(op.context.tracker.scoped(scope));
    this.#subscription = op.subscribe(
      source,
      {
        next: (value) => {
          queue.push(value);
          origins.push(op.takeOrigins('a fan-in operator'));
          changed();
        },
        complete: () => {
          this.done = true;
          changed();
        },
      },
      { context, describe: false },
    );
  }

  /** Ended with nothing left to take. */
  get exhausted(): boolean {
    return this.done && this.queue.length === 0;
  }

  /** Take the oldest waiting item; the gate opens, so the source may read its next one. */
  take(): T {
    return this.takeWithOrigins()[0];
  }

  /** The origins of the oldest waiting item. */
  headOrigins(): Origins {
    return this.#origins[0];
  }

  /** {@link InnerSource.take}, with the item's origins. */
  takeWithOrigins(): [T, Origins] {
    const value = this.queue.shift()!;
    const origins = this.#origins.shift();
    this.flow.notify();
    return [value, origins];
  }

  /** Unsubscribe the source (closing its resources) and dispose what waited here. */
  release(): void {
    this.#subscription.unsubscribe();
    this.flow.dispose();
    this.#origins.length = 0;
    disposeAll(this.queue.splice(0));
  }
}

/**
 * A resumed fan-in operator (`mix`, `interleave`) getting back the items it had emitted and the
 * consumer had not received: the inputs read every such item again, first in each input (an input
 * emits in order), so each is taken from the head of its input into its place, and once all are
 * back they are emitted again in their order, before anything new.
 * @internal
 */
export class EmittedReplay<T> {
  /** Where each awaited item goes, by origin. */
  readonly #places = new Map<string, number>();
  /** How many items are awaited from each source ledger. */
  readonly #awaitedFrom = new Map<string, number>();
  readonly #items: ([T, Origins] | undefined)[];
  #next = 0;
  /** Inputs opened only to read their emitted items again (an interleave's finished inputs). */
  readonly #extra: InnerSource<T>[] = [];
  readonly #key: string;
  readonly #what: string;

  /**
   * @param emitted - The saved references of the items emitted and not received, in order.
   * @param key - The operator's part key, for errors.
   * @param what - The operator, for errors (`mix`).
   */
  constructor(emitted: readonly OriginRef[], key: string, what: string) {
    emitted.forEach((ref, index) => {
      this.#places.set(refId(ref), index);
      this.#awaitedFrom.set(ref[0], (this.#awaitedFrom.get(ref[0]) ?? 0) + 1);
    });
    this.#items = new Array<[T, Origins] | undefined>(emitted.length);
    this.#key = key;
    this.#what = what;
  }

  /** Every awaited item is back. */
  get gathered(): boolean {
    return this.#places.size === 0;
  }

  /** Read `source` too for the awaited items; it is released once they are all back. */
  alsoFrom(source: InnerSource<T>): void {
    this.#extra.push(source);
  }

  /**
   * Take the awaited items at the head of each of `inputs` (and of the extra sources).
   *
   * @returns Whether all are back.
   * @throws {@link LoaderStateError} `RXFEED_ERR_STATE_MISMATCH` when every input ended first.
   */
  gather(inputs: readonly (InnerSource<T> | undefined)[]): boolean {
    const sources = [...inputs, ...this.#extra];
    for (const source of sources) {
      while (source !== undefined && source.queue.length > 0) {
        const head = source.headOrigins();
        const id = originId(head);
        const at = id === undefined ? undefined : this.#places.get(id);
        if (at === undefined) {
          // An input reads its emitted items again before any other: one read first means the
          // state does not fit, and the items awaited behind it would never come.
          const ledger = head !== undefined && !(head instanceof OriginList) ? head.ledger.key : undefined;
          if (ledger !== undefined && (this.#awaitedFrom.get(ledger) ?? 0) > 0) throw this.#mismatch();
          break;
        }
        this.#places.delete(id!);
        const ledger = (head as Origin).ledger.key;
        this.#awaitedFrom.set(ledger, this.#awaitedFrom.get(ledger)! - 1);
        this.#items[at] = source.takeWithOrigins();
      }
    }
    if (this.gathered) {
      this.#releaseExtra();
      return true;
    }
    // Stuck: every input has ended or holds an item it is not asked for (its gate keeps it there).
    if (sources.every((source) => source === undefined || source.done || source.queue.length > 0)) throw this.#mismatch();
    return false;
  }

  #mismatch(): LoaderStateError {
    return new LoaderStateError(
      'RXFEED_ERR_STATE_MISMATCH',
      `${this.#key}: the inputs did not read again, first, the ${this.#places.size} item(s) the ${this.#what} had emitted; ` +
        'was the state saved with other inputs?',
      this.#key,
    );
  }

  /** Items still to emit again. */
  get remaining(): number {
    return this.#items.length - this.#next;
  }

  /** The next item to emit again, once all are back (while {@link EmittedReplay.remaining}). */
  shift(): [T, Origins] {
    const item = this.#items[this.#next]!;
    this.#items[this.#next++] = undefined;
    return item;
  }

  /** The items not yet emitted again, as references (a state taken meanwhile). */
  refs(key: string): OriginRef[] {
    return this.#items.slice(this.#next).map((item) => originRef(item?.[1], key));
  }

  /** Release the extra sources and dispose what was not emitted again. */
  release(): void {
    this.#releaseExtra();
    disposeAll(this.#items.splice(this.#next).map((item) => item?.[0]));
  }

  #releaseExtra(): void {
    for (const source of this.#extra.splice(0)) source.release();
  }
}

/**
 * What a fan-in operator (`interleave`, `mix`) emitted that the consumer has not received, and,
 * after a resume, the replay of the items it had emitted before: the part of their state both keep
 * alike. The operator keeps its own numbers (its cycle, its generator) beside it.
 * @internal
 */
export class FanInEmissions<T> {
  readonly #op: Operation<T>;
  readonly #key: string;
  readonly #log = new EmittedLog();
  #replay: EmittedReplay<T> | undefined;

  /** @param key - The operator's part key in the loader state. */
  constructor(op: Operation<T>, key: string) {
    this.#op = op;
    this.#key = key;
  }

  /**
   * A resume is gathering the items emitted before: until every one is back, nothing was emitted,
   * and the restored part is still what to save.
   */
  get restoring(): boolean {
    return this.#replay !== undefined && !this.#replay.gathered;
  }

  /** The items emitted and not received, as references: the log's, then the replay's not yet emitted again. */
  refs(): OriginRef[] {
    return [...this.#log.refs(this.#key), ...(this.#replay?.refs(this.#key) ?? [])];
  }

  /** Start the replay of `emitted` (a restored state's); `what` names the operator in errors. */
  resume(emitted: readonly OriginRef[], what: string): EmittedReplay<T> {
    this.#replay = new EmittedReplay(emitted, this.#key, what);
    return this.#replay;
  }

  /** Emit an item, recorded until the consumer receives it. */
  emit(value: T, origins: Origins): void {
    this.#log.emit(this.#op, value, origins);
  }

  /**
   * Emit again the items of a resume, once gathered from `inputs`, while `pump` may: the start of
   * each pump step. False while it must wait (items not all back, or the Flow full).
   */
  replayed(inputs: readonly (InnerSource<T> | undefined)[], pump: Pump): boolean {
    const replay = this.#replay;
    if (replay === undefined) return true;
    if (!replay.gather(inputs)) return false;
    while (replay.remaining > 0) {
      if (!pump.ready()) return false;
      const [value, origins] = replay.shift();
      this.emit(value, origins);
    }
    this.#replay = undefined;
    return true;
  }

  /** Release the replay's extra sources and its items not emitted again. */
  release(): void {
    this.#replay?.release();
  }
}
