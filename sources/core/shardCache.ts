/**
 * Whole shards kept in memory, so a locality-aware order reads each shard from a store once.
 *
 * Read by index, a remote shard costs one request per run of neighbouring samples. A block
 * shuffle (`blockShuffle`) reads samples of a few shards at a time in random order, so its runs
 * are one sample long: one Range GET per sample, where the stream made one GET per shard. MosaicML
 * Streaming downloads whole shards into a bounded cache instead, and so does this: the first read
 * of a shard loads it whole (one streamed GET, parsed as the stream parses it), later reads are
 * served from memory, and at most `maxShards` shards stay once no read is using them (least
 * recently used go first).
 *
 * @module
 * @internal
 */
import { setMaxListeners } from 'node:events';

interface Entry<V> {
  readonly value: Promise<V>;
  /** The value once loaded: a read of a loaded shard then needs no promise nor abort listener. */
  loaded?: { readonly value: V };
  /** Reads waiting for or using this shard: an entry in use is never evicted. */
  users: number;
}

/**
 * A bounded cache of whole shards, each loaded once (by one streamed read) into a value: the
 * shard's samples, parsed.
 *
 * Memory: at most `maxShards` idle shards, plus those being read at the moment (a read in flight
 * pins its shard), each as large as its value.
 * @internal
 */
export class ShardCache<V> {
  readonly #maxShards: number;
  /** In least-recently-used order: a use moves an entry to the end. */
  readonly #entries = new Map<string, Entry<V>>();
  #closing = new AbortController();

  /** @param maxShards - Shards kept when idle, at least 1. */
  constructor(maxShards: number) {
    this.#maxShards = maxShards;
    setMaxListeners(0, this.#closing.signal);
  }

  /**
   * Run `work` on shard `key`'s value, loading it with `load` if no read has yet (or since it was
   * evicted). The load is shared by every read waiting for it, so one reader's `signal` does not
   * abort it (only `clear` does); it abandons that reader's wait.
   *
   * @param key - The shard's name.
   * @param load - Loads the whole shard; a failed load is not kept, the next read tries again.
   * @param signal - Abandons this read's wait.
   * @param work - Takes what this read needs from the value (while the shard is pinned).
   */
  async use<R>(key: string, load: (signal: AbortSignal) => Promise<V>, signal: AbortSignal | undefined, work: (value: V) => R): Promise<R> {
    const entry = this.#acquire(key, load);
    if (entry.loaded !== undefined) {
      signal?.throwIfAborted();
      const result = work(entry.loaded.value);
      this.#evict();
      return result;
    }
    entry.users++;
    try {
      return work(await untilAborted(entry.value, signal));
    } finally {
      entry.users--;
      this.#evict();
    }
  }

  /** Drop every shard and abort the loads in flight; the cache stays usable. */
  clear(): void {
    this.#closing.abort();
    this.#closing = new AbortController();
    setMaxListeners(0, this.#closing.signal);
    this.#entries.clear();
  }

  #acquire(key: string, load: (signal: AbortSignal) => Promise<V>): Entry<V> {
    const cached = this.#entries.get(key);
    if (cached !== undefined) {
      this.#entries.delete(key);
      this.#entries.set(key, cached);
      return cached;
    }
    const entry: Entry<V> = { value: load(this.#closing.signal), users: 0 };
    this.#entries.set(key, entry);
    entry.value.then(
      (value) => {
        entry.loaded = { value };
      },
      () => {
        // A failed load is not kept: the next read tries again.
        if (this.#entries.get(key) === entry) this.#entries.delete(key);
      },
    );
    return entry;
  }

  // The budget counts idle shards only: evicting a shard whose reads just ended, because another
  // is still loading, would load it again for the reads about to start on it.
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
