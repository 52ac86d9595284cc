/**
 * A bounded least-recently-used set of values loaded on demand and shared by the operations
 * using them: the open file handles of a record dataset, the whole shards a block shuffle keeps.
 *
 * Both need the same four rules, kept here once: a value is loaded by the first operation that
 * needs it and shared by every later one (a load in flight too); an operation pins its value, so a
 * value in use is never released under it; at most `maxIdle` values are kept once no operation
 * uses them, least recently used released first; and a failed load is not kept, so the next
 * operation tries again.
 *
 * @module
 * @internal
 */
import { setMaxListeners } from 'node:events';

interface Entry<V> {
  readonly value: Promise<V>;
  /** The value once loaded: an operation on it then needs no promise nor abort listener. */
  loaded?: { readonly value: V };
  /** Operations waiting for or using the value: it is released only when none is. */
  users: number;
  /** Evicted or cleared: release the value when the last user is done. */
  retired: boolean;
}

/**
 * A bounded LRU of shared, pinned values; see the module's description.
 *
 * Memory: at most `maxIdle` idle values, plus those in use at the moment.
 * @internal
 */
export class SharedLru<V> {
  readonly #maxIdle: number;
  readonly #release: ((value: V) => void | PromiseLike<void>) | undefined;
  /** In least-recently-used order: a use moves an entry to the end. */
  readonly #entries = new Map<string, Entry<V>>();
  readonly #releasing = new Set<Promise<void>>();
  #loads = new AbortController();

  /**
   * @param maxIdle - Values kept when no operation uses them, at least 1.
   * @param release - Frees a value (closes a handle) when it leaves the set; none for plain memory.
   */
  constructor(maxIdle: number, release?: (value: V) => void | PromiseLike<void>) {
    this.#maxIdle = maxIdle;
    this.#release = release;
    setMaxListeners(0, this.#loads.signal);
  }

  /** Values held now (idle or in use). */
  get size(): number {
    return this.#entries.size;
  }

  /**
   * Run `work` on the value of `key`, loading it with `load` if no operation has yet (or since it
   * was evicted). The load is shared by every operation waiting for it, so one operation's `signal`
   * does not abort it (only {@link SharedLru.clear} does); it abandons that operation's wait.
   * With a `release`, the operation answers only once the values evicted meanwhile are released.
   *
   * @param key - The value's name (a path, a shard).
   * @param load - Loads the value.
   * @param work - Uses it; the value is pinned until `work` settles.
   * @param signal - Abandons this operation's wait for a load.
   */
  async use<R>(
    key: string,
    load: (signal: AbortSignal) => Promise<V>,
    work: (value: V) => R | PromiseLike<R>,
    signal?: AbortSignal,
  ): Promise<R> {
    const entry = this.#acquire(key, load);
    entry.users++;
    try {
      if (entry.loaded !== undefined) {
        signal?.throwIfAborted();
        return await work(entry.loaded.value);
      }
      return await work(await untilAborted(entry.value, signal));
    } finally {
      entry.users--;
      if (entry.retired && entry.users === 0) this.#releaseEntry(entry);
      else this.#evict();
      if (this.#releasing.size > 0) await Promise.all(this.#releasing);
    }
  }

  /** Drop every value and abort the loads in flight: idle values are released now, those in use when their last operation ends. */
  async clear(): Promise<void> {
    this.#loads.abort();
    this.#loads = new AbortController();
    setMaxListeners(0, this.#loads.signal);
    for (const [key, entry] of this.#entries) this.#retire(key, entry);
    await Promise.all(this.#releasing);
  }

  #acquire(key: string, load: (signal: AbortSignal) => Promise<V>): Entry<V> {
    let entry = this.#entries.get(key);
    if (entry === undefined) {
      const loading: Entry<V> = { value: load(this.#loads.signal), users: 0, retired: false };
      loading.value.then(
        (value) => {
          loading.loaded = { value };
        },
        () => {
          if (this.#entries.get(key) === loading) this.#entries.delete(key);
        },
      );
      entry = loading;
    } else {
      this.#entries.delete(key);
    }
    this.#entries.set(key, entry);
    return entry;
  }

  // The budget counts idle values only: evicting a value whose operations just ended, because
  // another is still loading, would load it again for the operations about to start on it.
  #evict(): void {
    let idle = 0;
    for (const entry of this.#entries.values()) if (entry.users === 0) idle++;
    for (const [key, entry] of this.#entries) {
      if (idle <= this.#maxIdle) return;
      if (entry.users === 0) {
        this.#retire(key, entry);
        idle--;
      }
    }
  }

  #retire(key: string, entry: Entry<V>): void {
    this.#entries.delete(key);
    entry.retired = true;
    if (entry.users === 0) this.#releaseEntry(entry);
  }

  #releaseEntry(entry: Entry<V>): void {
    const release = this.#release;
    if (release === undefined) return;
    // A value that never loaded has nothing to release.
    const released = entry.value.then(
      (value) => release(value),
      () => undefined,
    );
    const settled = Promise.resolve(released)
      .catch(() => undefined)
      .finally(() => this.#releasing.delete(settled));
    this.#releasing.add(settled);
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
