/**
 * Whole shards kept in memory, so a locality-aware order reads each shard from a store once.
 *
 * Read by index, a remote shard costs one request per run of neighbouring samples. A block
 * shuffle (`blockShuffle`) reads samples of a few shards at a time in random order, so its runs
 * are one sample long: one Range GET per sample, where the stream made one GET per shard. MosaicML
 * Streaming downloads whole shards into a bounded cache instead, and so does this: the first read
 * of a shard fetches it whole with one read, later reads are served from memory, and at most
 * `maxShards` shards stay once no read is using them (least recently used go first).
 *
 * @module
 * @internal
 */
import { setMaxListeners } from 'node:events';
import type { ByteSource } from './byteSource.js';

interface Entry {
  readonly bytes: Promise<Uint8Array>;
  /** Reads waiting for or slicing this shard: an entry in use is never evicted. */
  users: number;
}

/**
 * A bounded cache of whole shards.
 *
 * Memory: at most `maxShards` idle shards, plus those being read at the moment (a read in flight
 * pins its shard), each as large as the bytes fetched for it.
 * @internal
 */
export class ShardCache {
  readonly #maxShards: number;
  /** In least-recently-used order: a use moves an entry to the end. */
  readonly #entries = new Map<string, Entry>();
  #closing = new AbortController();

  /** @param maxShards - Shards kept when idle, at least 1. */
  constructor(maxShards: number) {
    this.#maxShards = maxShards;
    setMaxListeners(0, this.#closing.signal);
  }

  /**
   * A ByteSource over the first `length` bytes of `source`, fetched whole (one
   * `source.read(0, length)`) by the first read and shared by every later one until evicted.
   * Each read answers a view of the cached shard, not a copy: a caller that keeps bytes must
   * copy them, or a whole shard stays pinned (the tar parser copies each member's data).
   *
   * @param source - The shard; its `name` is the cache key.
   * @param length - Bytes of it worth keeping (the end of its last indexed sample).
   */
  over(source: ByteSource, length: number): ByteSource {
    return {
      name: source.name,
      size: () => Promise.resolve(length),
      read: async (start, end, signal) => {
        const entry = this.#acquire(source, length);
        entry.users++;
        try {
          const bytes = await untilAborted(entry.bytes, signal);
          return bytes.subarray(start, Math.min(end, bytes.byteLength));
        } finally {
          entry.users--;
          this.#evict();
        }
      },
      stream: (start, signal) => source.stream(start, signal),
    };
  }

  /** Drop every shard and abort the fetches in flight; the cache stays usable. */
  clear(): void {
    this.#closing.abort();
    this.#closing = new AbortController();
    setMaxListeners(0, this.#closing.signal);
    this.#entries.clear();
  }

  #acquire(source: ByteSource, length: number): Entry {
    const key = source.name;
    const cached = this.#entries.get(key);
    if (cached !== undefined) {
      this.#entries.delete(key);
      this.#entries.set(key, cached);
      return cached;
    }
    // The fetch is shared, so one reader's signal must not abort it: only `clear` does.
    const entry: Entry = { bytes: source.read(0, length, this.#closing.signal), users: 0 };
    this.#entries.set(key, entry);
    // A failed fetch is not kept: the next read tries again.
    entry.bytes.catch(() => {
      if (this.#entries.get(key) === entry) this.#entries.delete(key);
    });
    return entry;
  }

  // The budget counts idle shards only: evicting a shard whose reads just ended, because another
  // is still being fetched, would fetch it again for the reads about to start on it.
  #evict(): void {
    let idle = 0;
    for (const entry of this.#entries.values()) if (entry.users === 0) idle++;
    for (const [key, entry] of this.#entries) {
      if (idle <= this.#maxShards) return;
      if (entry.users === 0) {
        this.#entries.delete(key);
        idle--;
      }
    }
  }
}

/** `promise`, or a rejection with the signal's reason as soon as it aborts. */
function untilAborted<T>(promise: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (signal === undefined) return promise;
  signal.throwIfAborted();
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(error);
      },
    );
  });
}
