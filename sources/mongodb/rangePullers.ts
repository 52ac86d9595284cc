/**
 * The pullers of one `fromMongo` subscription over elements `[start, end)` of a view: keyset pages
 * (`_id` order, through a cursor window or one query per page) or id blocks (any other sort).
 *
 * @module
 */
import type { Document } from 'mongodb';
import type { Chunk, Puller, PullContext } from '../core/puller.js';
import { CursorWindow } from './cursorWindow.js';
import { MongoDecodeError, MongoReadError } from './errors.js';
import { openTarget, type MongoCollectionInput } from './target.js';
import { idKey, MongoView, type KeysetBound, type ViewSpec } from './view.js';

/** How one `fromMongo` dataset reads: its checked options. */
export interface Settings<T> {
  readonly spec: ViewSpec;
  readonly pageSize: number;
  readonly readAhead: boolean;
  /** 0: one drained keyset query per page. */
  readonly cursorWindowMs: number;
  readonly getItem: ((document: Document, index: number) => T) | undefined;
}

/** Open one subscription's puller: lease the client, find where the range starts. */
export async function openRangePuller<T>(
  input: MongoCollectionInput,
  settings: Settings<T>,
  start: number,
  end: number,
  context: PullContext,
): Promise<Puller<T>> {
  const opened = openTarget(input);
  const view = new MongoView(opened.collection, settings.spec, opened.namespace);
  try {
    if (end <= start) return emptyPuller(opened.release);
    if (settings.spec.sort !== undefined) {
      const ids = (await view.ids(context.signal)).slice(start, end);
      if (ids.length < end - start) throw shortRead(view, ids.at(-1), end - start, ids.length);
      return new IdBlockPuller(view, settings, ids, start, context.signal, opened.release);
    }
    let bound: KeysetBound | undefined;
    if (start > 0) {
      const first = await view.idAt(start, context.signal);
      if (first === undefined) throw shortRead(view, undefined, end - start, 0);
      bound = { id: first, inclusive: true };
    }
    return new KeysetPuller(view, settings, bound, start, end - start, context.signal, opened.release);
  } catch (error) {
    await opened.release();
    throw error;
  }
}

function emptyPuller<T>(release: () => Promise<void>): Puller<T> {
  return { pull: () => null, close: release };
}

function shortRead(view: MongoView, lastId: unknown, expected: number, got: number): MongoReadError {
  return new MongoReadError(
    view.namespace,
    lastId,
    view.query,
    1,
    `the view changed during the epoch: expected ${expected} document(s) in this range, found ${got}`,
  );
}

/**
 * Reads `_id`-ordered keyset pages, one per pull, with at most one page read ahead: from a cursor
 * window, or (`cursorWindowMs: 0`) with one drained query each.
 */
class KeysetPuller<T> implements Puller<T> {
  readonly #view: MongoView;
  readonly #settings: Settings<T>;
  readonly #signal: AbortSignal;
  readonly #release: () => Promise<void>;
  readonly #window: CursorWindow | undefined;
  #bound: KeysetBound | undefined;
  #position: number;
  #remaining: number;
  #ahead: { limit: number; page: Promise<Document[]> } | undefined;
  #lastKey: string | undefined;

  constructor(
    view: MongoView,
    settings: Settings<T>,
    bound: KeysetBound | undefined,
    position: number,
    count: number,
    signal: AbortSignal,
    release: () => Promise<void>,
  ) {
    this.#view = view;
    this.#settings = settings;
    this.#bound = bound;
    this.#position = position;
    this.#remaining = count;
    this.#signal = signal;
    this.#release = release;
    if (settings.cursorWindowMs > 0) {
      const batchSize = Math.min(settings.spec.batchSize ?? settings.pageSize, settings.pageSize);
      this.#window = new CursorWindow(view, settings.cursorWindowMs, batchSize);
    }
  }

  async pull(): Promise<Chunk<T>> {
    if (this.#remaining === 0) return null;
    const ahead = this.#ahead ?? this.#fetch();
    this.#ahead = undefined;
    const page = await ahead.page;
    if (page.length < ahead.limit) {
      throw shortRead(this.#view, this.#bound?.id, this.#remaining, page.length);
    }
    this.#checkUnique(page);
    this.#remaining -= page.length;
    this.#bound = { id: page[page.length - 1]!._id, inclusive: false };
    // The range is read: give the server its cursor back now, not when the last page is consumed.
    if (this.#remaining === 0) await this.#window?.close();
    if (this.#remaining > 0 && this.#settings.readAhead) this.#ahead = this.#fetch();
    const first = this.#position;
    this.#position += page.length;
    return toItems(this.#view, this.#settings.getItem, page, first);
  }

  #fetch(): { limit: number; page: Promise<Document[]> } {
    const limit = Math.min(this.#settings.pageSize, this.#remaining);
    const page =
      this.#window === undefined
        ? this.#view.page(this.#bound, limit, this.#signal)
        : this.#window.read(this.#bound, limit, this.#remaining, this.#signal);
    // Awaited by the next pull; until then a failure must not count as unhandled.
    page.catch(() => undefined);
    return { limit, page };
  }

  /** Keyset paging silently skips repeated `_id`s; say so instead. */
  #checkUnique(page: readonly Document[]): void {
    let previous = this.#lastKey;
    for (const document of page) {
      const key = idKey(document._id);
      if (key === previous) {
        throw new MongoReadError(
          this.#view.namespace,
          document._id,
          this.#view.query,
          1,
          'the view yields this _id twice; keyset pages need unique _ids ($set a unique _id after an $unwind)',
        );
      }
      previous = key;
    }
    this.#lastKey = previous;
  }

  async close(): Promise<void> {
    const ahead = this.#ahead;
    this.#ahead = undefined;
    // The read in flight finishes first (it may be mid-getMore); then its cursor can be killed.
    if (ahead !== undefined) await ahead.page.catch(() => undefined);
    try {
      await this.#window?.close();
    } finally {
      await this.#release();
    }
  }
}

/** Reads a precomputed `_id` list in blocks, one `$in` query per pull (FiftyOne's `__getitems__`). */
class IdBlockPuller<T> implements Puller<T> {
  readonly #view: MongoView;
  readonly #settings: Settings<T>;
  readonly #ids: readonly unknown[];
  readonly #signal: AbortSignal;
  readonly #release: () => Promise<void>;
  readonly #first: number;
  #next = 0;
  #ahead: { at: number; block: Promise<Document[]> } | undefined;

  constructor(
    view: MongoView,
    settings: Settings<T>,
    ids: readonly unknown[],
    first: number,
    signal: AbortSignal,
    release: () => Promise<void>,
  ) {
    this.#view = view;
    this.#settings = settings;
    this.#ids = ids;
    this.#first = first;
    this.#signal = signal;
    this.#release = release;
  }

  async pull(): Promise<Chunk<T>> {
    if (this.#next >= this.#ids.length) return null;
    const ahead = this.#ahead ?? this.#fetch(this.#next);
    this.#ahead = undefined;
    const block = await ahead.block;
    this.#next = ahead.at + block.length;
    if (this.#next < this.#ids.length && this.#settings.readAhead) this.#ahead = this.#fetch(this.#next);
    return toItems(this.#view, this.#settings.getItem, block, this.#first + ahead.at);
  }

  #fetch(at: number): { at: number; block: Promise<Document[]> } {
    const block = this.#view.block(this.#ids.slice(at, at + this.#settings.pageSize), this.#signal);
    block.catch(() => undefined);
    return { at, block };
  }

  async close(): Promise<void> {
    const ahead = this.#ahead;
    this.#ahead = undefined;
    if (ahead !== undefined) await ahead.block.catch(() => undefined);
    await this.#release();
  }
}

/** The page's elements: documents (stripped of a dropped `_id`) or what `getItem` makes of them. */
export function toItems<T>(
  view: MongoView,
  getItem: ((document: Document, index: number) => T) | undefined,
  page: Document[],
  first: number,
): T[] {
  if (getItem === undefined) return page.map((document) => view.strip(document)) as T[];
  return page.map((document, offset) => {
    const id: unknown = document._id;
    try {
      return getItem(view.strip(document), first + offset);
    } catch (error) {
      throw new MongoDecodeError(view.namespace, view.query, { documentId: id, index: first + offset }, error);
    }
  });
}
