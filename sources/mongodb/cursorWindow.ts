/**
 * A bounded cursor window: one server cursor over the rest of a keyset range, read one page per
 * pull, closed and reopened after the last page read whenever it is too old or lost.
 *
 * Why one cursor rather than a query per page: a server answers each new keyset query by filtering
 * and sorting the view again (an `_id` index makes that cheap on MongoDB; an emulator without one,
 * or an aggregation view, does it over everything for every page). A cursor sorts once and then
 * hands out batches with `getMore`.
 *
 * Why bounded: the server kills a cursor idle for 10 minutes (`cursorTimeoutMillis`) and a
 * consumer may pause longer than that (evaluation, checkpointing). So a cursor older than
 * `windowMs` when a page is asked for is closed (`killCursors`) and reopened from `_id > last`
 * before it can go stale; a cursor lost anyway (`CursorNotFound`, a network error, a cleared pool)
 * is reopened the same way by the view's bounded retries. A page is committed only once read
 * whole, so a reopen never repeats or skips a document.
 *
 * @module
 * @internal
 */
import type { AbstractCursor, Document } from 'mongodb';
import { MongoReadError } from './errors.js';
import { idKey, type KeysetBound, type MongoView } from './view.js';

/** One keyset range's server cursor, reopened from the last page's last `_id` when needed. */
export class CursorWindow {
  readonly #view: MongoView;
  readonly #windowMs: number;
  readonly #batchSize: number;
  readonly #now: () => number;
  #cursor: AbstractCursor<Document> | undefined;
  #openedAt = 0;
  /** The bound the open cursor's next document follows: where it was opened, then each page's end. */
  #position: KeysetBound | undefined;
  #closed = false;
  /** The read in flight, settled either way: close waits for it. */
  #reading: Promise<void> = Promise.resolve();

  /**
   * @param view - The view whose keyset cursor this is.
   * @param windowMs - Reopen a cursor older than this when a page is read (> 0).
   * @param batchSize - Documents per server batch; at most a page, so the driver never buffers
   *   more than part of the next page.
   * @param now - Monotonic clock in milliseconds.
   */
  constructor(view: MongoView, windowMs: number, batchSize: number, now: () => number = () => performance.now()) {
    this.#view = view;
    this.#windowMs = windowMs;
    this.#batchSize = batchSize;
    this.#now = now;
  }

  /**
   * Read the next `limit` documents after `bound` (fewer only at the end of the view), `remaining`
   * being how many documents the range still has after `bound` (the reopened cursor's limit).
   * Reads must be sequential: each one continues where the last one ended.
   */
  read(bound: KeysetBound | undefined, limit: number, remaining: number, signal: AbortSignal): Promise<Document[]> {
    const reading = this.#view.retrying(bound?.id, signal, async () => {
      const cursor = await this.#cursorAt(bound, remaining, signal);
      let page: Document[];
      try {
        page = await readPage(cursor, limit);
      } catch (error) {
        // Lost mid-page: the retry reopens from `bound` and reads the whole page again.
        await this.#discard();
        throw error;
      }
      const last = page.at(-1);
      if (last !== undefined) this.#position = { id: last._id, inclusive: false };
      return page;
    });
    this.#reading = reading.then(
      () => undefined,
      () => undefined,
    );
    return reading;
  }

  /**
   * Close the open cursor (`killCursors` unless the server already exhausted it) once the read in
   * flight has settled; idempotent. Waiting matters: a cursor closed before its first reply came
   * has no id to kill yet, and the server would keep the one the reply then names.
   */
  async close(): Promise<void> {
    this.#closed = true;
    await this.#reading;
    await this.#discard();
  }

  /** The open cursor if it is young and stands at `bound`; otherwise a new one from `bound`. */
  async #cursorAt(bound: KeysetBound | undefined, remaining: number, signal: AbortSignal): Promise<AbstractCursor<Document>> {
    if (this.#closed) {
      throw new MongoReadError(this.#view.namespace, bound?.id, this.#view.query, 1, 'read after the cursor window was closed');
    }
    if (this.#cursor !== undefined && (this.#now() - this.#openedAt > this.#windowMs || !sameBound(this.#position, bound))) {
      await this.#discard();
    }
    if (this.#cursor === undefined) {
      // Unsubscribed meanwhile: a cursor opened now would only be killed again by close.
      signal.throwIfAborted();
      this.#cursor = this.#view.keysetCursor(bound, remaining, this.#batchSize);
      this.#openedAt = this.#now();
      this.#position = bound;
    }
    return this.#cursor;
  }

  async #discard(): Promise<void> {
    const cursor = this.#cursor;
    this.#cursor = undefined;
    this.#position = undefined;
    // The driver squashes killCursors failures itself; a cursor on a dead connection is gone anyway.
    if (cursor !== undefined) await cursor.close().catch(() => undefined);
  }
}

/**
 * Up to `limit` documents from `cursor`: what the driver has buffered first, then one document
 * per `next()`, each of which sends a `getMore` only when the buffer is empty.
 */
async function readPage(cursor: AbstractCursor<Document>, limit: number): Promise<Document[]> {
  const page: Document[] = [];
  while (page.length < limit) {
    const buffered = cursor.bufferedCount();
    if (buffered > 0) {
      for (const document of cursor.readBufferedDocuments(Math.min(buffered, limit - page.length))) page.push(document);
      continue;
    }
    // Exhausted by the server (id 0) or closed: `next()` would throw rather than answer null.
    if (cursor.closed || cursor.id?.isZero() === true) break;
    const document = await cursor.next();
    if (document === null) break;
    page.push(document);
  }
  return page;
}

function sameBound(a: KeysetBound | undefined, b: KeysetBound | undefined): boolean {
  if (a === undefined || b === undefined) return a === b;
  return a.inclusive === b.inclusive && idKey(a.id) === idKey(b.id);
}
