/**
 * The machinery shared by the fan-in operators (`interleave`, `mix`, `zipShards`): inner sources
 * that each hold at most one item under their own gated child Flow, and a re-entrancy-safe loop
 * that hands their items downstream.
 *
 * @module
 */
import type { Observable, Subscription } from 'rxjs';
import { subscribeWithin, type PipelineContext } from './context.js';
import { disposeAll } from './dispose.js';
import { Flow } from './flow.js';

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
  /** The gated child Flow the source was subscribed under. */
  readonly flow: Flow;
  /** The source completed. */
  done = false;
  readonly #subscription: Subscription;

  /**
   * Subscribe `source` now.
   *
   * @param context - The fan-in operator's own context; its Flow becomes the child's parent.
   * @param source - The inner source.
   * @param downstream - The fan-in operator's subscriber: its end ends this subscription too.
   * @param changed - Called when an item arrives or the source completes.
   * @param failed - Called with the source's error.
   */
  constructor(
    context: PipelineContext,
    source: Observable<T>,
    downstream: Subscription,
    changed: () => void,
    failed: (error: unknown) => void,
  ) {
    const queue = this.queue;
    this.flow = new Flow({ parent: context.flow, gate: () => queue.length >= 1 });
    this.#subscription = subscribeWithin(
      { flow: this.flow, epoch: context.epoch },
      source,
      {
        next: (value) => {
          queue.push(value);
          changed();
        },
        error: failed,
        complete: () => {
          this.done = true;
          changed();
        },
      },
      downstream,
    );
  }

  /** Ended with nothing left to take. */
  get exhausted(): boolean {
    return this.done && this.queue.length === 0;
  }

  /** Take the oldest waiting item; the gate opens, so the source may read its next one. */
  take(): T {
    const value = this.queue.shift()!;
    this.flow.notify();
    return value;
  }

  /** Unsubscribe the source (closing its resources) and dispose what waited here. */
  release(): void {
    this.#subscription.unsubscribe();
    this.flow.dispose();
    disposeAll(this.queue.splice(0));
  }
}

/**
 * Runs a fan-in operator's `step` loop. Inner sources call {@link FanInDriver.drive} on every
 * arrival; a call made while the loop runs (a source answering synchronously) only asks for another
 * pass, so one loop at a time walks the sources. `step` calls {@link FanInDriver.park} and returns
 * when a stage downstream is full.
 * @internal
 */
export class FanInDriver {
  readonly #step: () => void;
  readonly #flow: Flow;
  readonly #ended: () => boolean;
  #driving = false;
  #again = false;
  #cancelPark: (() => void) | undefined;

  constructor(flow: Flow, step: () => void, ended: () => boolean) {
    this.#flow = flow;
    this.#step = step;
    this.#ended = ended;
  }

  /** Run the loop now, or ask the running loop for another pass. */
  readonly drive = (): void => {
    if (this.#driving) {
      this.#again = true;
      return;
    }
    this.#driving = true;
    try {
      do {
        this.#again = false;
        this.#cancelPark?.();
        this.#cancelPark = undefined;
        this.#step();
      } while (this.#again && !this.#ended());
    } finally {
      this.#driving = false;
    }
  };

  /** Wait until no stage downstream is full, then drive again. */
  park(): void {
    this.#cancelPark = this.#flow.whenReady(this.drive);
  }

  /** Run `open` (subscribing inner sources) without stepping in between, then drive once. */
  openThenDrive(open: () => void): void {
    this.#driving = true;
    try {
      open();
    } finally {
      this.#driving = false;
    }
    this.drive();
  }

  /** Stop waiting (on teardown). */
  stop(): void {
    this.#cancelPark?.();
    this.#cancelPark = undefined;
  }
}
