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
import { SharedLru } from './sharedLru.js';

/**
 * A least-recently-used set of open file handles, at most `maxOpen` of them idle; a handle in use
 * by a read is never closed under it, so while reads are in flight the pool may briefly hold
 * `maxOpen` plus the reads in flight. `close()` closes them all (those in use as their read ends).
 * @internal
 */
export class FileHandlePool {
  /** The handles, shared by the reads of a file; closed when evicted and no read uses them. */
  readonly #handles: SharedLru<{ handle: FileHandle; size: number }>;
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
    this.#handles = new SharedLru(maxOpen, ({ handle }) => handle.close());
    this.#closedError = closedError;
    this.#syncReadBytes = syncReadBytes;
  }

  /** Handles open now (in use or idle). */
  get open(): number {
    return this.#handles.size;
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
    await this.#handles.clear();
  }

  // Answers once the handles evicted meanwhile are closed: when no read is in flight, at most
  // `maxOpen` handles are open.
  #use<R>(path: string, work: (file: { handle: FileHandle; size: number }) => Promise<R>): Promise<R> {
    if (this.#closed) return Promise.reject(this.#closedError());
    return this.#handles.use(path, () => openRegular(path), work);
  }
}
