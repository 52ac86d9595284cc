/**
 * The subscription context: what a sink hands up to sources while RxJS subscribes.
 *
 * RxJS subscribes synchronously from the sink towards the source, so a value made current for the
 * duration of `source.subscribe(...)` is seen by every operator and source on the way up. rxfeed
 * uses that to pass the {@link Flow} gauge and the epoch number, as Reactor passes its Context.
 * Operators that subscribe an inner source later (fan-in, `epochs`) capture the context when they
 * are subscribed and bind it again around each later subscription.
 *
 * @module
 */
import { Subscription, type Observable, type Observer } from 'rxjs';
import { Flow } from './flow.js';

/**
 * What a subscription of a pipeline carries from the sink to its sources.
 * @public
 */
export interface PipelineContext {
  /** The backpressure gauge of this subscription. */
  readonly flow: Flow;
  /** The epoch being read (0 for the first pass; set by `epochs`). */
  readonly epoch: number;
}

let current: PipelineContext | undefined;

/**
 * The context bound by the nearest enclosing {@link bindContext}, or a fresh one (new Flow, epoch
 * 0) when a pipeline is subscribed directly with no rxfeed sink below it.
 * @public
 */
export function currentContext(): PipelineContext {
  return current ?? { flow: new Flow(), epoch: 0 };
}

/**
 * Run `subscribe` with `context` current, so sources and operators subscribed inside see it.
 * @public
 */
export function bindContext<R>(context: PipelineContext, subscribe: () => R): R {
  const previous = current;
  current = context;
  try {
    return subscribe();
  } finally {
    current = previous;
  }
}

/**
 * An upstream observer linked to the downstream subscriber: it counts as an RxJS Subscriber (an
 * Observer that is also a Subscription), so the source is handed this object itself and sees it
 * closed as soon as the downstream unsubscribes, even while it is still emitting synchronously
 * inside `subscribe`. That is how RxJS's own operators stop a synchronous source early.
 */
class LinkedObserver<T> extends Subscription implements Observer<T> {
  readonly #observer: Partial<Observer<T>>;

  constructor(observer: Partial<Observer<T>>) {
    super();
    this.#observer = observer;
  }

  next(value: T): void {
    if (!this.closed) this.#observer.next?.(value);
  }

  error(error: unknown): void {
    if (this.closed) return;
    this.unsubscribe();
    this.#observer.error?.(error);
  }

  complete(): void {
    if (this.closed) return;
    this.unsubscribe();
    this.#observer.complete?.();
  }
}

/**
 * Subscribe to `source` with `context` bound: the usual way an rxfeed operator subscribes its
 * upstream. When `downstream` (the operator's own subscriber) is given, the upstream subscription
 * ends the moment the downstream does, so a synchronous source stops pushing at once.
 *
 * @param context - The context to bind while subscribing.
 * @param source - The upstream Observable.
 * @param observer - Callbacks for the upstream's notifications.
 * @param downstream - The subscriber whose end also ends the upstream subscription.
 * @returns The upstream subscription.
 * @public
 */
export function subscribeWithin<T>(
  context: PipelineContext,
  source: Observable<T>,
  observer: Partial<Observer<T>>,
  downstream?: Subscription,
): Subscription {
  const linked = new LinkedObserver(observer);
  downstream?.add(linked);
  return bindContext(context, () => source.subscribe(linked));
}
