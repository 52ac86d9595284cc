import { Observable, type Subscription } from 'rxjs';
import { currentContext } from '../../src/context.js';
import { disposeAll } from '../../src/dispose.js';
import { withInfo, type DatasetInfo } from '../../src/info.js';
import type { Chunk, Puller, PullerFactory } from './puller.js';
import { isPromiseLike } from '../../src/isPromiseLike.js';

/**
 * Turn a {@link Puller} into an Observable that pulls only as fast as the pipeline consumes.
 *
 * Before each pull, and between the items of a pulled chunk, the source asks the subscription's
 * Flow whether a stage downstream is full; if so it parks until one shrinks. So at most one chunk
 * per source is held here. On unsubscribe (a `break`, `take(n)`, an error downstream) it aborts
 * `context.signal`, disposes the items of the chunk it had not emitted, and calls `close()` at
 * once, even while a pull is in flight; a close that returns a promise is tracked so the loader's
 * `break` waits for it.
 *
 * @example
 * ```ts
 * const numbers = fromPuller(() => {
 *   let next = 0;
 *   return { pull: () => (next < 10 ? [next++] : null) };
 * }, { size: 10 });
 * ```
 *
 * @param open - Opens a puller for one subscription.
 * @param info - What the source knows about itself (`size`, `files` ...); see {@link DatasetInfo}.
 * @returns An Observable of the pulled items; cold: each subscription opens a new puller.
 * @public
 */
export function fromPuller<T>(open: PullerFactory<T>, info: DatasetInfo<T> = {}): Observable<T> {
  const source = new Observable<T>((subscriber) => {
    const { flow, epoch } = currentContext();
    const abort = new AbortController();
    let puller: Puller<T> | undefined;
    let chunk: readonly T[] = [];
    let position = 0;
    let waiting = false; // an open or pull is in flight
    let exhausted = false;
    let ended = false; // completed, errored or unsubscribed: emit nothing more
    let closeStarted = false;
    let cancelPark: (() => void) | undefined;
    let answer: Subscription | undefined;

    const close = (): void | PromiseLike<void> => {
      if (closeStarted || puller === undefined) return;
      closeStarted = true;
      return puller.close?.();
    };

    const fail = (error: unknown): void => {
      if (ended) return;
      ended = true;
      subscriber.error(error);
    };

    const finish = (): void => {
      ended = true;
      let closing: void | PromiseLike<void>;
      try {
        closing = close();
      } catch (error) {
        subscriber.error(error);
        return;
      }
      if (closing === undefined) {
        subscriber.complete();
        return;
      }
      flow.trackRelease(closing);
      closing.then(
        () => subscriber.complete(),
        (error: unknown) => subscriber.error(error),
      );
    };

    const accept = (next: Chunk<T>): void => {
      exhausted = next === null;
      chunk = next ?? [];
      position = 0;
    };

    // An answer that is a promise or an Observable. An Observable may answer synchronously, inside
    // `subscribe`: then `pump` takes the chunk inline instead of recursing into itself.
    let inlineChunk: { chunk: Chunk<T> } | undefined;
    let subscribing = false;
    const awaitChunk = (pending: PromiseLike<Chunk<T>> | Observable<Chunk<T>>): void => {
      waiting = true;
      if (isPromiseLike(pending)) {
        // Not awaited on teardown (a stalled read must not hold up a `break`), but a chunk that
        // arrives after it is disposed rather than dropped.
        Promise.resolve(pending).then(
          (value) => {
            waiting = false;
            if (ended) {
              if (value !== null) disposeAll(value);
              return;
            }
            accept(value);
            pump();
          },
          (error: unknown) => {
            waiting = false;
            fail(error);
          },
        );
        return;
      }
      let got = false;
      subscribing = true;
      answer = pending.subscribe({
        next: (value) => {
          if (got) return;
          got = true;
          waiting = false;
          if (subscribing) {
            inlineChunk = { chunk: value };
            return;
          }
          answer?.unsubscribe();
          accept(value);
          pump();
        },
        error: (error: unknown) => {
          waiting = false;
          fail(error);
        },
        complete: () => {
          if (!got) {
            waiting = false;
            fail(new Error('rxfeed: a puller answered with an Observable that completed without a chunk'));
          }
        },
      });
      subscribing = false;
      if (got) answer.unsubscribe();
    };

    const pump = (): void => {
      cancelPark = undefined;
      // `subscriber.closed`: a downstream operator may end the subscription from inside `next`.
      while (!ended && !subscriber.closed) {
        if (position < chunk.length) {
          if (flow.saturated()) {
            cancelPark = flow.whenReady(pump);
            return;
          }
          subscriber.next(chunk[position++]!);
          continue;
        }
        if (inlineChunk !== undefined) {
          accept(inlineChunk.chunk);
          inlineChunk = undefined;
          continue;
        }
        if (exhausted) {
          finish();
          return;
        }
        if (waiting || puller === undefined) return;
        if (flow.saturated()) {
          cancelPark = flow.whenReady(pump);
          return;
        }
        let next: ReturnType<Puller<T>['pull']>;
        try {
          next = puller.pull();
        } catch (error) {
          fail(error);
          return;
        }
        if (next === null || Array.isArray(next)) {
          accept(next as Chunk<T>);
          continue;
        }
        awaitChunk(next as PromiseLike<Chunk<T>> | Observable<Chunk<T>>);
        if (waiting) return;
      }
    };

    let opened: Puller<T> | PromiseLike<Puller<T>>;
    try {
      opened = open({ signal: abort.signal, epoch });
    } catch (error) {
      subscriber.error(error);
      return;
    }
    if (isPromiseLike(opened)) {
      waiting = true;
      const opening = Promise.resolve(opened).then(
        (value) => {
          puller = value;
          waiting = false;
          // Unsubscribed while opening: close what was just opened.
          if (ended) return close();
          pump();
        },
        (error: unknown) => {
          waiting = false;
          fail(error);
        },
      );
      // A `break` during the open waits for it and for the close that follows.
      flow.trackRelease(opening);
    } else {
      puller = opened;
    }
    pump();

    return () => {
      ended = true;
      cancelPark?.();
      answer?.unsubscribe();
      abort.abort();
      disposeAll(chunk.slice(position));
      chunk = [];
      try {
        const closing = close();
        if (closing !== undefined) flow.trackRelease(closing);
      } catch {
        // Errors after the consumer left are nobody's concern.
      }
    };
  });
  return withInfo(source, info);
}
