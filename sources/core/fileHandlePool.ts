/**
 * Open file handles kept between reads, for long-lived random-access datasets: a map-style
 * dataset reads a few records of a file at a time, many times over, and opening the file for each
 * read would cost more than the read.
 *
 * @module
 * @internal
 */
import type { FileHandle } from 'node:fs/promises';
import { checkOffset, type ByteSource } from './byteSource.js';
import { fileByteSource, openRegular, readRange } from './fileByteSource.js';

interface Entry {
  readonly opened: Promise<{ handle: FileHandle; size: number }>;
  /** Reads using the handle now: it is closed only when none is. */
  users: number;
  /** Evicted or the pool closed: close the handle when the last user is done. */
  retired: boolean;
}

/**
 * A least-recently-used set of open file handles, at most `maxOpen` of them idle; a handle in use
 * by a read is never closed under it, so while reads are in flight the pool may briefly hold
 * `maxOpen` plus the reads in flight. `close()` closes them all (those in use as their read ends).
 * @internal
 */
export class FileHandlePool {
  readonly #maxOpen: number;
  /** In least-recently-used order (a use moves an entry to the end). */
  readonly #entries = new Map<string, Entry>();
  readonly #closing = new Set<Promise<void>>();
  readonly #closedError: () => Error;
  readonly #syncReadBytes: number;
  #closed = false;

  /**
   * @param maxOpen - Most idle handles kept open.
   * @param closedError - The error of a read after `close()` (a handle opened then would leak).
   * @param syncReadBytes - Reads of at most this many bytes are synchronous preads on this
   *   thread (0: none). A read served by the page cache takes a few microseconds; a trip through
   *   libuv's thread pool costs tens, which dominates a dataset read one small record at a time.
   *   A read the disk must serve blocks the event loop for its duration.
   */
  constructor(maxOpen: number, closedError: () => Error, syncReadBytes = 0) {
    this.#maxOpen = maxOpen;
    this.#closedError = closedError;
    this.#syncReadBytes = syncReadBytes;
  }

  /** Handles open now (in use or idle). */
  get open(): number {
    return this.#entries.size;
  }

  /**
   * A ByteSource over `path` whose `size` and `read` go through the pool's handles (a `stream`
   * opens its own handle, as {@link fileByteSource}'s does). Errors are `FileReadError`s.
   */
  source(path: string): ByteSource {
    const plain = fileByteSource(path);
    return {
      name: path,
      size: () => this.#use(path, async ({ size }) => size),
      read: (start, end, signal) => {
        checkOffset(start, 'read.start');
        checkOffset(end, 'read.end');
        signal?.throwIfAborted();
        return this.#use(path, (opened) => readRange(path, opened, start, end, end - start <= this.#syncReadBytes));
      },
      stream: (start, signal) => plain.stream(start, signal),
    };
  }

  /** Close every handle; a handle in use is closed when its read ends. */
  async close(): Promise<void> {
    this.#closed = true;
    for (const [path, entry] of this.#entries) this.#retire(path, entry);
    await Promise.all(this.#closing);
  }

  async #use<R>(path: string, work: (file: { handle: FileHandle; size: number }) => Promise<R>): Promise<R> {
    if (this.#closed) throw this.#closedError();
    let entry = this.#entries.get(path);
    if (entry === undefined) {
      entry = { opened: openRegular(path), users: 0, retired: false };
      // A failed open leaves nothing to close: forget it so that the next read tries again.
      entry.opened.catch(() => {
        if (this.#entries.get(path) === entry) this.#entries.delete(path);
      });
    } else {
      this.#entries.delete(path);
    }
    this.#entries.set(path, entry);
    entry.users++;
    try {
      this.#evict();
      return await work(await entry.opened);
    } finally {
      entry.users--;
      if (entry.retired && entry.users === 0) this.#closeHandle(entry);
      else this.#evict();
      // Closed before the read answers: when no read is in flight, at most `maxOpen` handles are open.
      await Promise.all(this.#closing);
    }
  }

  /** Retire idle handles, least recently used first, while more than `maxOpen` are open. */
  #evict(): void {
    for (const [path, entry] of this.#entries) {
      if (this.#entries.size <= this.#maxOpen) return;
      if (entry.users === 0) this.#retire(path, entry);
    }
  }

  #retire(path: string, entry: Entry): void {
    this.#entries.delete(path);
    entry.retired = true;
    if (entry.users === 0) this.#closeHandle(entry);
  }

  #closeHandle(entry: Entry): void {
    const closing: Promise<void> = entry.opened.then(
      ({ handle }) => handle.close(),
      () => undefined,
    );
    const settled = closing.catch(() => undefined).finally(() => this.#closing.delete(settled));
    this.#closing.add(settled);
  }
}
