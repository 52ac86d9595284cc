/**
 * The operator kit: the one way rxfeed's operators and sources are written.
 *
 * It does for rxfeed what RxJS's internal `OperatorSubscriber` does for RxJS's operators, and a
 * little more:
 * - it binds the subscription's {@link PipelineContext} (Flow, epoch, placement) and hands it to
 *   the operator;
 * - every callback path (an upstream `next`, `error` or `complete`, a promise or scheduler
 *   callback wrapped with {@link Operation.guard}, a {@link Pump} step) catches a throw and ends
 *   the stream with it, so a user's exception reaches the `for await` loop instead of becoming an
 *   unhandled rejection that leaves the loop waiting forever;
 * - upstream errors are forwarded, and completion is forwarded unless the operator handles it;
 * - stages, pumps and finalizers registered through it are released on teardown, whatever ended
 *   the stream;
 * - dataset information (size, split) is announced downstream at subscribe time and recorded
 *   beside the Observable at pipe time (see `info.ts`).
 *
 * It is written over the public `new Observable(subscriber => ...)`, as the RxJS guide says,
 * not over `rxjs/internal`.
 *
 * @module
 */
import { Observable, Subscription, type Observer, type Subscriber } from 'rxjs';
import { bindContext, currentContext, type PipelineContext } from './context.js';
import type { Stage, StageHandle, StageTimer } from './flow.js';
import { infoOf, streamInfoOf, withInfo, type DatasetInfo, type StreamInfo } from './info.js';
import {
  consumeOrigins,
  slot,
  takeOrigins,
  takeOriginsInto,
  UNKNOWN_ORIGINS,
  type Ledger,
  type OriginList,
  type Origins,
} from './origins.js';
import { Pump } from './pump.js';

/**
 * Callbacks for an upstream subscription made through {@link Operation.subscribe}. A throw in any
 * of them ends the stream with that error.
 * @public
 */
export interface UpstreamObserver<T> {
  /** Each item. */
  next(value: T): void;
  /** The upstream failed; default: end the stream with the same error. */
  error?(error: unknown): void;
  /** The upstream completed; default: complete the stream. */
  complete?(): void;
}

/**
 * Options of {@link Operation.subscribe}.
 * @public
 */
export interface SubscribeOptions {
  /** The context to subscribe under; default the operation's own. */
  readonly context?: PipelineContext;
  /**
   * What this operator emits, given what the upstream announces: announced downstream at once
   * (from the input's pipe-time info) and again on each announcement of the upstream. Default:
   * the upstream's info, unchanged. `false`: an inner source whose info is not this operator's
   * (fan-in operators describe their output themselves).
   */
  readonly describe?: ((input: StreamInfo) => StreamInfo) | false;
}

/**
 * One subscription of an rxfeed operator or source: its context, its downstream, and the kit's
 * guarded ways to subscribe upstream, emit, and release.
 * @public
 */
export class Operation<R> {
  /** The subscription's context (Flow, epoch, placement). */
  readonly context: PipelineContext;
  readonly #subscriber: Subscriber<R>;
  readonly #finalizers: (() => void)[] = [];
  #input: StreamInfo = {};

  /** @internal use {@link operate} or {@link produce} */
  constructor(subscriber: Subscriber<R>, context: PipelineContext) {
    this.#subscriber = subscriber;
    this.context = context;
  }

  /** True once the stream has ended (completed, failed, or unsubscribed downstream). */
  get closed(): boolean {
    return this.#subscriber.closed;
  }

  /**
   * What the upstream announced about itself, or its pipe-time info when it announced nothing
   * (a plain Observable); `{}` when nothing is known.
   */
  get input(): StreamInfo {
    return this.#input;
  }

  /**
   * Emit one item downstream. Inside an upstream `next` this passes on the origins of the item
   * being delivered (a `map`-like step); an operator that emits items it held uses
   * {@link Operation.emit}.
   */
  next(value: R): void {
    this.#subscriber.next(value);
  }

  /**
   * Emit one item downstream with its origins (what {@link Operation.takeOrigins} took when its
   * inputs arrived): how an operator that holds items (`batch`, `prefetch`, a source) emits, so
   * the loader can count what its consumer received (see `Loader.state`).
   */
  emit(value: R, origins: Origins): void {
    this.#emitWith(value, origins, undefined, 0);
  }

  /**
   * {@link Operation.emit} for an item of one source item, `seq` of `ledger`: how a source emits,
   * with no origin object made unless a stage holding the item asks for one.
   */
  emitFrom(value: R, ledger: Ledger, seq: number): void {
    this.#emitWith(value, undefined, ledger, seq);
  }

  /**
   * Emit `value` with its origins in the slot: `origins`, or the one origin `seq` of `ledger`.
   * No closure: this runs once per item in every stage that holds items. An item no stage took
   * while it was emitted was dropped (a filter): its origins count as received.
   */
  #emitWith(value: R, origins: Origins, ledger: Ledger | undefined, seq: number): void {
    const previous = slot.current;
    const previousLedger = slot.ledger;
    const previousSeq = slot.seq;
    const takes = slot.takes;
    slot.current = origins;
    slot.ledger = ledger;
    slot.seq = seq;
    try {
      this.#subscriber.next(value);
    } finally {
      slot.current = previous;
      slot.ledger = previousLedger;
      slot.seq = previousSeq;
      if (slot.takes === takes) {
        if (ledger === undefined) consumeOrigins(origins);
        else ledger.consume(seq);
      }
    }
  }

  /**
   * In an upstream `next`: the origins of the item being delivered, which this operator now holds
   * and will emit with {@link Operation.emit} (alone, or with others in a batch). An item with no
   * origins (from a plain Observable, or emitted late by a plain operator) is recorded against
   * `where`, so `Loader.state` fails naming it.
   */
  takeOrigins(where: string): Origins {
    const origins = takeOrigins();
    if (origins === undefined) this.context.tracker.untracked(where, UNKNOWN_ORIGINS);
    return origins;
  }

  /**
   * {@link Operation.takeOrigins} for an operator that combines items (`batch`): the origins are
   * appended to `list`; `false` when they are unknown (recorded against `where`).
   */
  takeOriginsInto(list: OriginList, where: string): boolean {
    const known = takeOriginsInto(list);
    if (!known) this.context.tracker.untracked(where, UNKNOWN_ORIGINS);
    return known;
  }

  /** Complete the stream (once; later calls and calls after an error do nothing). */
  complete(): void {
    this.#subscriber.complete();
  }

  /** End the stream with `error` (once; later calls do nothing). */
  fail(error: unknown): void {
    this.#subscriber.error(error);
  }

  /**
   * Wrap a callback that runs later (a promise's `then`, a scheduled task) so that a throw in it
   * ends the stream instead of being lost.
   */
  guard<A extends unknown[]>(callback: (...args: A) => void): (...args: A) => void {
    return (...args: A) => {
      try {
        callback(...args);
      } catch (error) {
        this.fail(error);
      }
    };
  }

  /**
   * Subscribe `source` under this operation's context. Its callbacks are guarded; its
   * subscription ends when this stream does, so a synchronous source stops at once; its
   * announcements are received (see {@link Operation.input}) and described downstream.
   *
   * @returns The upstream subscription (unsubscribed with this stream in any case).
   */
  subscribe<T>(source: Observable<T>, observer: UpstreamObserver<T>, options: SubscribeOptions = {}): Subscription {
    const within = this.#listeningContext(source, options);
    const upstream = new GuardedObserver(observer, this);
    this.#subscriber.add(upstream);
    return bindContext(within, () => source.subscribe(upstream));
  }

  /**
   * Hand this stream over to `source`: its items, error and completion go straight downstream,
   * with no step per item (as `shard` does with the range it re-opens). Its announcements are
   * received and described as {@link Operation.subscribe}'s are.
   */
  delegate(source: Observable<R>, options: SubscribeOptions = {}): void {
    const within = this.#listeningContext(source, options);
    bindContext(within, () => source.subscribe(this.#subscriber));
  }

  /** The context to subscribe `source` under, receiving and describing its announcements. */
  #listeningContext(source: Observable<unknown>, options: SubscribeOptions): PipelineContext {
    const describe = options.describe ?? ((input: StreamInfo) => input);
    const context = options.context ?? this.context;
    // An inner source's announcements are not this operator's output: they go no further.
    if (describe === false) return context.listening(() => undefined);
    const received = (input: StreamInfo): void => {
      this.#input = input;
      this.context.announce(describe(input));
    };
    received(streamInfoOf(infoOf(source)));
    return context.listening(this.guard(received));
  }

  /**
   * A {@link Pump} running `step` under this stream's Flow: throws end the stream, and it stops
   * on teardown.
   */
  pump(step: () => void): Pump {
    const pump = new Pump(
      this.context.flow,
      step,
      (error) => this.fail(error),
      () => this.closed,
    );
    this.finalize(() => pump.stop());
    return pump;
  }

  /** Register a stage of the Flow gauge; it is unregistered on teardown. */
  register(stage: Stage): StageHandle {
    const handle = this.context.flow.register(stage);
    this.finalize(() => handle.unregister());
    return handle;
  }

  /**
   * Register a timer of the Flow (work that holds no item, such as a source's reads or a
   * synchronous `collate`); it is unregistered on teardown. See `Flow.timer`.
   */
  timer(name: string, parallelism?: number): StageTimer {
    const timer = this.context.flow.timer(name, parallelism);
    this.finalize(() => timer.unregister());
    return timer;
  }

  /**
   * Run `release` on teardown (after the upstream was unsubscribed), whatever ended the stream.
   * Finalizers run in the order they were added; a throw in one does not stop the others.
   */
  finalize(release: () => void): void {
    this.#finalizers.push(release);
  }

  /** @internal */
  teardown(): void {
    for (const release of this.#finalizers.splice(0)) {
      try {
        release();
      } catch {
        // A failure while releasing after the consumer left is nobody's concern.
      }
    }
  }
}

/**
 * The observer an operation hands its upstream: RxJS's `OperatorSubscriber` in small. It is a
 * Subscription too, so RxJS hands the source this very object (no wrapper per item) and the
 * source sees it closed as soon as the downstream ends, even while it is still emitting inside
 * `subscribe`. Each notification is guarded: a throw ends the operation's stream with it.
 */
class GuardedObserver<T> extends Subscription implements Observer<T> {
  readonly #observer: UpstreamObserver<T>;
  readonly #operation: Operation<unknown>;

  constructor(observer: UpstreamObserver<T>, operation: Operation<unknown>) {
    super();
    this.#observer = observer;
    this.#operation = operation;
  }

  next(value: T): void {
    if (this.closed) return;
    try {
      this.#observer.next(value);
    } catch (error) {
      this.#operation.fail(error);
    }
  }

  error(error: unknown): void {
    if (this.closed) return;
    this.unsubscribe();
    try {
      if (this.#observer.error) this.#observer.error(error);
      else this.#operation.fail(error);
    } catch (thrown) {
      this.#operation.fail(thrown);
    }
  }

  complete(): void {
    if (this.closed) return;
    this.unsubscribe();
    try {
      if (this.#observer.complete) this.#observer.complete();
      else this.#operation.complete();
    } catch (error) {
      this.#operation.fail(error);
    }
  }
}

/**
 * Build an rxfeed operator's output: each subscription runs `setup` with a fresh
 * {@link Operation}; a throw in `setup` ends that subscription with the error.
 *
 * `describe` says what the output is, given what the input is: it runs at pipe time on the
 * input's recorded info (for `sizeOf`) and, with {@link Operation.subscribe}'s default, at
 * subscribe time on what the upstream announces.
 *
 * @example
 * ```ts
 * import { operate } from 'rxfeed';
 * import { Observable } from 'rxjs';
 * const double = (source: Observable<number>) =>
 *   operate<number, number>(source, (op) => {
 *     op.subscribe(source, { next: (n) => op.next(n * 2) });
 *   });
 * ```
 *
 * @param source - The input (used for its pipe-time info; `setup` subscribes it).
 * @param setup - Sets up one subscription.
 * @param describe - The output's info from the input's; default the input's size and split.
 * @returns The output Observable.
 * @public
 */
export function operate<T, R>(
  source: Observable<T>,
  setup: (op: Operation<R>) => void,
  describe: (input: StreamInfo) => StreamInfo = (input) => input,
): Observable<R> {
  return withInfo(subscribeOperation(setup), describe(streamInfoOf(infoOf(source))));
}

/**
 * Build an rxfeed source (or a fan-in operator, which has no single input): like
 * {@link operate}, and each subscription announces `info` before `setup` runs.
 *
 * @param setup - Sets up one subscription; it emits through the {@link Operation}.
 * @param info - What the source knows about itself (size, files, re-openers); see
 * {@link DatasetInfo}.
 * @returns The source Observable.
 * @public
 */
export function produce<R>(setup: (op: Operation<R>) => void, info: DatasetInfo<R> = {}): Observable<R> {
  const announced = streamInfoOf(info);
  return withInfo(
    subscribeOperation<R>((op) => {
      op.context.announce(announced);
      setup(op);
    }),
    info,
  );
}

function subscribeOperation<R>(setup: (op: Operation<R>) => void): Observable<R> {
  return new Observable<R>((subscriber) => {
    const op = new Operation(subscriber, currentContext());
    try {
      setup(op);
    } catch (error) {
      op.fail(error);
    }
    return () => op.teardown();
  });
}
