/**
 * One MongoDB client per (uri, options) per thread, opened lazily and closed with its last user.
 *
 * Loaders open and close often (every epoch, every `take(n)`), and a MongoClient is expensive: a
 * connection pool plus a monitor per server. So every dataset reading from the same `uri` with the
 * same client options shares one client, counted by leases; the client is created (and connects on
 * its first command) when the first lease is taken and closed when the last lease is released.
 * Module state is per thread, so every worker thread gets its own registry and clients; a lease
 * checks it is used on the thread that took it (see {@link MongoThreadError}).
 *
 * @module
 */
import { threadId } from 'node:worker_threads';
import { MongoClient, type MongoClientOptions } from 'mongodb';
import { MongoThreadError } from './errors.js';

interface Entry {
  readonly key: string;
  readonly uri: string;
  readonly client: MongoClient;
  readonly ownerThreadId: number;
  refs: number;
}

const registry = new Map<string, Entry>();
/** Clients being closed; a lease taken meanwhile makes a new client, this one still finishes closing. */
const closing = new Set<Promise<void>>();

/**
 * A counted use of a shared client; release it exactly once.
 * @public
 */
export interface MongoClientLease {
  /** The shared client; throws {@link MongoThreadError} when read on another thread. */
  readonly client: MongoClient;
  /** Give the lease back; the last release closes the client (the promise settles when closed). */
  release(): Promise<void>;
}

/**
 * How many leases each shared client has, for diagnostics and specs.
 * @public
 */
export interface MongoClientStats {
  /** The connection string the client was made for, its password masked. */
  readonly uri: string;
  /** Leases not yet released. */
  readonly refs: number;
  /** Thread that created the client. */
  readonly ownerThreadId: number;
}

function keyOf(uri: string, options: MongoClientOptions): string {
  const entries = Object.entries(options).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `${uri}\u0000${JSON.stringify(entries)}`;
}

/**
 * Check that the caller runs on the thread that created a client.
 *
 * @param ownerThreadId - `worker_threads.threadId` recorded when the client was created.
 * @param what - What is being used, for the message (e.g. `the MongoClient for mongodb://...`).
 * @param currentThreadId - The thread using it; the current one unless given.
 * @returns Nothing; throws {@link MongoThreadError} on a mismatch.
 * @example
 * ```ts
 * assertClientThread(lease.ownerThreadId, 'the MongoClient'); // throws on another thread
 * ```
 * @public
 */
export function assertClientThread(ownerThreadId: number, what: string, currentThreadId: number = threadId): void {
  if (ownerThreadId !== currentThreadId) throw new MongoThreadError(what, ownerThreadId, currentThreadId);
}

/**
 * Take a lease on the shared client for `uri` and `options`, creating the client if none is open.
 *
 * The client connects lazily, on its first command. Release the lease when done; the last release
 * closes the client. Clients differing in any option are distinct (options are compared by their
 * JSON form, so pass plain data).
 *
 * @example
 * ```ts
 * const lease = acquireMongoClient('mongodb://127.0.0.1:27017', { monitorCommands: true });
 * try {
 *   await lease.client.db('ml').collection('samples').countDocuments();
 * } finally {
 *   await lease.release();
 * }
 * ```
 *
 * @param uri - MongoDB connection string.
 * @param options - Client options; part of the sharing key.
 * @returns A lease whose `client` is the shared client.
 * @public
 */
export function acquireMongoClient(uri: string, options: MongoClientOptions = {}): MongoClientLease {
  const key = keyOf(uri, options);
  let entry = registry.get(key);
  if (entry === undefined) {
    entry = { key, uri, client: new MongoClient(uri, options), ownerThreadId: threadId, refs: 0 };
    registry.set(key, entry);
  }
  entry.refs += 1;
  const held = entry;
  let released: Promise<void> | undefined;
  return {
    get client(): MongoClient {
      if (released !== undefined) throw new Error('rxfeed: this MongoDB client lease was already released');
      assertClientThread(held.ownerThreadId, `the MongoClient for ${redact(held.uri)}`);
      return held.client;
    },
    release(): Promise<void> {
      if (released !== undefined) return released;
      held.refs -= 1;
      if (held.refs > 0) {
        released = Promise.resolve();
        return released;
      }
      if (registry.get(held.key) === held) registry.delete(held.key);
      const closed = held.client.close().finally(() => closing.delete(closed));
      closing.add(closed);
      released = closed;
      return released;
    },
  };
}

/**
 * The shared clients open on this thread and their lease counts.
 *
 * @example
 * ```ts
 * await loader[Symbol.asyncDispose]();
 * console.log(mongoClientStats()); // [] once every loader released its client
 * ```
 *
 * @returns One record per open shared client.
 * @public
 */
export function mongoClientStats(): MongoClientStats[] {
  return [...registry.values()].map(({ uri, refs, ownerThreadId }) => ({ uri: redact(uri), refs, ownerThreadId }));
}

/**
 * Resolves when every shared client whose last lease was released has finished closing.
 *
 * @example
 * ```ts
 * await mongoClientsClosed(); // before process exit in a script
 * ```
 *
 * @returns A promise that settles once no close is pending.
 * @public
 */
export async function mongoClientsClosed(): Promise<void> {
  while (closing.size > 0) await Promise.allSettled([...closing]);
}

/** Drop the password from a connection string, for messages. */
function redact(uri: string): string {
  return uri.replace(/\/\/([^:/@]+):[^@/]*@/, '//$1:***@');
}
