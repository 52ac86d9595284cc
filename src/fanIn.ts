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
import type { Operation } from './operate.js';
import type { Origins } from './origins.js';

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
