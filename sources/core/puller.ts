/**
 * The Puller port: how every rxfeed source produces items.
 *
 * A source kind (files, an HTTP body, a database cursor) implements a tiny pull interface and
 * {@link fromPuller} turns it into an Observable that respects the Flow gauge: it pulls only when
 * no stage downstream is full, emits a pulled chunk item by item while checking the gauge, and on
 * unsubscribe aborts the pull in flight and closes the puller directly (never via an iterator's
 * `return()`, which RxJS would call only after a stalled `next()` settles).
 *
 * @module
 */
import type { Observable } from 'rxjs';

/**
 * One answer of {@link Puller.pull}: some items (possibly none, meaning "nothing yet, pull again"),
 * or `null` when the source is exhausted.
 * @public
 */
export type Chunk<T> = readonly T[] | null;

/**
 * A source of items pulled on demand.
 * @public
 */
export interface Puller<T> {
  /**
   * Produce the next chunk. May answer synchronously (in-memory data), with a promise (I/O), or
   * with an Observable whose first value is the chunk (marble tests feed `cold('--a|')` here).
   * A thrown error or rejection ends the source with that error.
   */
  pull(): Chunk<T> | PromiseLike<Chunk<T>> | Observable<Chunk<T>>;
  /**
   * Release every resource (file handle, HTTP body, cursor). Called exactly once: after
   * exhaustion, on error, or on unsubscribe, even while a pull is in flight.
   */
  close?(): void | PromiseLike<void>;
  /**
   * Where the chunk the last pull answered begins, as plain JSON (a file index and byte offset,
   * say): given back as {@link PullContext.resumeAt}, a new puller starts at that chunk's first
   * item. Called once per chunk, after it arrived. A loader state saves the bookmark of the chunk
   * holding the first item its consumer has not received, so a resume reads from there instead
   * of from the start (see `Loader.state`). Without it, a resume reads the source from its start
   * and drops what was received.
   */
  bookmark?(): unknown;
}

/**
 * What a source gets when it is opened for one subscription.
 * @public
 */
export interface PullContext {
  /** Aborted when the subscription ends: pass it to fetches so a pending read stops at once. */
  readonly signal: AbortSignal;
  /** The epoch being read (0 unless `epochs` re-reads the source). */
  readonly epoch: number;
  /**
   * A bookmark an earlier puller of the same source gave (see {@link Puller.bookmark}): start
   * reading at the item it marks. Set only for factories whose pullers give bookmarks.
   */
  readonly resumeAt?: unknown;
}

/**
 * Opens a {@link Puller} for one subscription; called once per subscribe.
 * @public
 */
export type PullerFactory<T> = (context: PullContext) => Puller<T> | PromiseLike<Puller<T>>;
