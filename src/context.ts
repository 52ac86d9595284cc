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
import type { Observable, Subscriber, Subscription } from 'rxjs';
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
 * Subscribe `subscriber` to `source` with `context` bound. The usual way an rxfeed operator
 * subscribes its upstream.
 * @internal
 */
export function subscribeWithin<T>(
  context: PipelineContext,
  source: Observable<T>,
  subscriber: Partial<import('rxjs').Observer<T>> | Subscriber<T>,
): Subscription {
  return bindContext(context, () => source.subscribe(subscriber));
}
