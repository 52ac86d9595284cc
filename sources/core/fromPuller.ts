import type { Observable, Subscription } from 'rxjs';
import { disposeAll } from '../../src/dispose.js';
import { RxfeedError } from '../../src/errors.js';
import type { DatasetInfo } from '../../src/info.js';
import { isPromiseLike } from '../../src/isPromiseLike.js';
import { describe } from '../../src/excerpt.js';
import { CountLedger, checkConsumedEither, type ConsumedRecord } from '../../src/ledger.js';
import { LoaderStateError } from '../../src/loaderState.js';
import { produce } from '../../src/operate.js';
import type { Chunk, Puller, PullerFactory } from './puller.js';

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
 * import { fromPuller } from 'rxfeed';
 * const numbers = fromPuller(() => {
 *   let next = 0;
 *   return { pull: () => (next < 10 ? [next++] : null) };
 * }, { size: 10 });
 * ```
 *
 * @param open - Opens a puller for one subscription.
 * @param info - What the source knows about itself (`size`, `files` ...); see {@link DatasetInfo}.
 * @param name - The source's name in metrics and `Loader.report()`, whose timer counts the time
 *   each pull was outstanding as the source's work; default `fromPuller`.
 * @returns An Observable of the pulled items; cold: each subscription opens a new puller.
 * @public
 */
export function fromPuller<T>(open: PullerFactory<T>, info: DatasetInfo<T> = {}, name = 'fromPuller'): Observable<T> {
  return produce<T>((op) => {
    const { flow, epoch, tracker } = op.context;
    const timer = op.timer(name);
    // Loader state: items are numbered in the order pulled. A resumed subscription pulls them again
    // and drops those its consumer had received, before they reach the pipeline.
    const key = tracker.keyFor('fromPuller', epoch);
    // A rank reads its own share (shard drops the others' items): it resumes from its own state.
    const { rank } = op.context.placement({}, 'fromPuller');
    const restored = restoredPart(tracker.restored(key), rank, key);
    // The bookmarks of the chunks from the one holding the first item not received (see Puller.bookmark).
    const chunks = new BookmarkQueue();
    if (restored?.at !== undefined) chunks.push(restored.at.seq, restored.at.bookmark);
    const ledger = new CountLedger(key, { kind: 'stream', rank }, restored?.consumed, {
      savesHoles: true,
      extra: () => {
        dropPassedChunks();
        return chunks.length === 0 ? {} : { at: chunks.first() };
      },
    });
    // Only the chunk holding the first item not received, and those after it, can be needed.
    const dropPassedChunks = (): void => {
      const { watermark } = ledger.received;
      chunks.dropBefore(watermark);
    };
    tracker.register(key, ledger);
    let seq = restored?.at?.seq ?? 0; // the number of the next item pulled
    // A resumed subscription drops what was received: items up to the last one received before
    // (none after it was received, so past it nothing is looked up).
    const lastReceived = restored === undefined ? -1 : Math.max(restored.consumed.watermark - 1, ...restored.consumed.extras.slice(-1));
    const abort = new AbortController();
    let puller: Puller<T> | undefined;
    let chunk: readonly T[] = [];
    let position = 0;
    let waiting = false; // an open or pull is in flight
    let exhausted = false;
    let closeStarted = false;
    let answer: Subscription | undefined;

    const close = (): void | PromiseLike<void> => {
      if (closeStarted || puller === undefined) return;
      closeStarted = true;
      return puller.close?.();
    };

    // Completion waits for the puller's close, so a loop that ends has released what it read.
    const finish = (): void => {
      pump.stop();
      const closing = close();
      if (closing === undefined) {
        op.complete();
        return;
      }
      flow.trackRelease(closing);
      closing.then(
        () => op.complete(),
        (error: unknown) => op.fail(error),
      );
    };

    const accept = (next: Chunk<T>): void => {
      exhausted = next === null;
      chunk = next ?? [];
      position = 0;
      if (next !== null && next.length > 0 && puller?.bookmark !== undefined) {
        chunks.push(seq, puller.bookmark());
        dropPassedChunks();
      }
    };

    // An answer that is a promise or an Observable. An Observable may answer synchronously, inside
    // `subscribe`: the pump is then running, so `run` only asks it for another pass.
    const awaitChunk = (pending: PromiseLike<Chunk<T>> | Observable<Chunk<T>>, started: number): void => {
      waiting = true;
      // A chunk that arrives after teardown is disposed rather than dropped.
      const arrived = (value: Chunk<T>): void => {
        waiting = false;
        timer.workedSince(started, value?.length ?? 0);
        if (op.closed) {
          if (value !== null) disposeAll(value);
          return;
        }
        accept(value);
        pump.run();
      };
      if (isPromiseLike(pending)) {
        // Not awaited on teardown: a stalled read must not hold up a `break`.
        Promise.resolve(pending).then(arrived, (error: unknown) => {
          waiting = false;
          op.fail(error);
        });
        return;
      }
      let got = false;
      answer = pending.subscribe({
        next: (value) => {
          if (got) return;
          got = true;
          answer?.unsubscribe();
          arrived(value);
        },
        error: (error: unknown) => {
          waiting = false;
          op.fail(error);
        },
        complete: () => {
          if (!got) {
            waiting = false;
            op.fail(
              new RxfeedError('RXFEED_ERR_PULLER', 'fromPuller: a puller answered with an Observable that completed without a chunk'),
            );
          }
        },
      });
      if (got) answer.unsubscribe();
    };

    // Emit the pulled chunk while the Flow allows, pulling the next one when it is spent.
    const pump = op.pump(() => {
      while (!op.closed) {
        if (position < chunk.length) {
          if (seq <= lastReceived && ledger.consumed(seq)) {
            seq++;
            disposeAll([chunk[position++]!]);
            continue;
          }
          if (!pump.ready()) return;
          op.emitFrom(chunk[position++]!, ledger, seq++);
          continue;
        }
        if (exhausted) {
          finish();
          return;
        }
        if (waiting || puller === undefined) return;
        if (!pump.ready()) return;
        const started = flow.mark();
        const next = puller.pull();
        if (next === null || Array.isArray(next)) {
          timer.workedSince(started, next?.length ?? 0);
          accept(next as Chunk<T>);
          continue;
        }
        awaitChunk(next as PromiseLike<Chunk<T>> | Observable<Chunk<T>>, started);
        if (waiting) return;
      }
    });

    op.finalize(() => {
      answer?.unsubscribe();
      abort.abort();
      disposeAll(chunk.slice(position));
      chunk = [];
      const closing = close();
      if (closing !== undefined) flow.trackRelease(closing);
    });

    const opened = open(
      restored?.at === undefined ? { signal: abort.signal, epoch } : { signal: abort.signal, epoch, resumeAt: restored.at.bookmark },
    );
    if (isPromiseLike(opened)) {
      waiting = true;
      const opening = Promise.resolve(opened).then(
        (value) => {
          puller = value;
          waiting = false;
          // Unsubscribed while opening: close what was just opened.
          if (op.closed) return close();
          pump.run();
        },
        (error: unknown) => {
          waiting = false;
          op.fail(error);
        },
      );
      // A `break` during the open waits for it and for the close that follows.
      flow.trackRelease(opening);
    } else {
      puller = opened;
    }
    pump.run();
  }, info);
}

/** What a streaming source saves: what was received and, for a puller that gives bookmarks, where to read again. */
interface StreamPart {
  readonly consumed: ConsumedRecord;
  readonly at?: { readonly seq: number; readonly bookmark: unknown };
}

/** Where a resumed subscription starts: what the state saved under `key` for this rank says. */
function restoredPart(saved: readonly unknown[], rank: number, key: string): StreamPart | undefined {
  if (saved.length === 0) return undefined;
  const parts = saved as readonly ({ kind?: unknown; rank?: unknown; consumed?: unknown; at?: unknown } | null)[];
  if (!parts.every((part) => typeof part === 'object' && part !== null && part.kind === 'stream')) {
    throw new LoaderStateError('RXFEED_ERR_STATE_MISMATCH', `${key}: the saved part is not a streaming source's`, key);
  }
  // One state: this rank's (it was saved by this rank, as streaming sources do not change world size).
  const own = parts.length === 1 ? parts[0]! : parts.find((part) => part!.rank === rank);
  if (own === undefined) {
    throw new LoaderStateError(
      'RXFEED_ERR_STATE_MISMATCH',
      `${key}: none of the ${parts.length} states given was saved by rank ${rank}; a streaming source resumes from its own rank's state`,
      key,
    );
  }
  const consumed = checkConsumedEither(own!.consumed, Number.MAX_SAFE_INTEGER, key);
  const at = own!.at as { seq?: unknown; bookmark?: unknown } | undefined;
  if (at === undefined) return { consumed };
  if (
    typeof at !== 'object' ||
    at === null ||
    !Number.isSafeInteger(at.seq) ||
    (at.seq as number) < 0 ||
    (at.seq as number) > consumed.watermark
  ) {
    throw new LoaderStateError(
      'RXFEED_ERR_STATE_INVALID',
      `${key}: 'at' ${describe(at)} is not a bookmark at or before the watermark`,
      key,
    );
  }
  return { consumed, at: { seq: at.seq as number, bookmark: at.bookmark } };
}

/**
 * The bookmarks of the chunks in flight, from the one holding the first item not received: two
 * parallel arrays and a head index, not an object per chunk nor a `shift` per chunk (which moves
 * the whole array while hundreds of chunks are in flight).
 */
class BookmarkQueue {
  #seqs: number[] = [];
  #bookmarks: unknown[] = [];
  #head = 0;

  get length(): number {
    return this.#seqs.length - this.#head;
  }

  push(seq: number, bookmark: unknown): void {
    this.#seqs.push(seq);
    this.#bookmarks.push(bookmark);
  }

  /** Drop the entries wholly before item `watermark`: keep the one holding it. */
  dropBefore(watermark: number): void {
    const seqs = this.#seqs;
    let head = this.#head;
    while (seqs.length - head > 1 && seqs[head + 1]! <= watermark) this.#bookmarks[head++] = undefined;
    this.#head = head;
    // Compact once the dropped part is most of the arrays: amortised, they stay about as long as
    // the chunks in flight.
    if (head > 256 && head * 2 > seqs.length) {
      this.#seqs = seqs.slice(head);
      this.#bookmarks = this.#bookmarks.slice(head);
      this.#head = 0;
    }
  }

  /** The first entry, as saved in a state. */
  first(): { seq: number; bookmark: unknown } {
    return { seq: this.#seqs[this.#head]!, bookmark: this.#bookmarks[this.#head] };
  }
}
