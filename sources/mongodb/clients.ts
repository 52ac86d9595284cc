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
 * A client made here waits {@link DEFAULT_SERVER_SELECTION_TIMEOUT_MS} (not the driver's 30 s) for
 * a server per operation: rxfeed retries a failed selection itself, so its `retries` decide how
 * long a dead server is waited for, not the driver.
 *
 * @module
 */
import { threadId } from 'node:worker_threads';
import { MongoClient, type MongoClientOptions } from 'mongodb';
import { InvalidArgumentError } from '../../src/errors.js';
import { describeReason, redactText, redactUri } from './describe.js';
import { MongoThreadError, MongoUriError } from './errors.js';

/**
 * `serverSelectionTimeoutMS` of the clients rxfeed creates, unless the connection string or the
 * client options set it: how long one attempt waits for a usable server. rxfeed retries a failed
 * selection like any lost read, so with `fromMongo`'s `retries` and `retryDelayMs` a dead server is
 * reported after about `(retries + 1) x 2 s + sum of min(retryDelayMs x 2^k, 5 s) for k < retries`
 * (defaults: 6 x 2 s + 1.55 s, about 14 s) as a {@link MongoUnreachableError}.
 * @public
 */
export const DEFAULT_SERVER_SELECTION_TIMEOUT_MS = 2_000;

/**
 * `connectTimeoutMS` of the clients rxfeed creates, unless the connection string or the client
 * options set it: the longest a TCP connect plus handshake, or a monitor's check of a server, may
 * take. A server that stops answering in the middle of a read is found by the monitor's next check
 * (within `heartbeatFrequencyMS` + this), which interrupts the read; rxfeed then retries it.
 * @public
 */
export const DEFAULT_CONNECT_TIMEOUT_MS = 10_000;

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
  /** The connection string the client was made for, its user name and password masked (`***@`). */
  readonly uri: string;
  /** Leases not yet released. */
  readonly refs: number;
  /** Thread that created the client. */
  readonly ownerThreadId: number;
}

/** The option names a connection string sets, lower-cased (URI options are case-insensitive). */
function uriOptionNames(uri: string): Set<string> {
  const query = uri.indexOf('?');
  if (query < 0) return new Set();
  return new Set(
    uri
      .slice(query + 1)
      .split('&')
      .map((pair) => pair.split('=')[0]!.toLowerCase()),
  );
}

/** The options a new client gets: rxfeed's timeouts where neither the URI nor `options` set one. */
function withDefaultTimeouts(uri: string, options: MongoClientOptions): MongoClientOptions {
  const named = uriOptionNames(uri);
  const defaults: MongoClientOptions = {};
  if (!named.has('serverselectiontimeoutms')) defaults.serverSelectionTimeoutMS = DEFAULT_SERVER_SELECTION_TIMEOUT_MS;
  if (!named.has('connecttimeoutms')) defaults.connectTimeoutMS = DEFAULT_CONNECT_TIMEOUT_MS;
  return { ...defaults, ...options };
}

/** A new client, or {@link MongoUriError} (credentials masked) when the driver rejects the string. */
function createClient(uri: string, options: MongoClientOptions): MongoClient {
  try {
    return new MongoClient(uri, withDefaultTimeouts(uri, options));
  } catch (error) {
    throw new MongoUriError(redactUri(uri), redactText(describeReason(error), uri), error);
  }
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
 * @returns Nothing; throws {@link MongoThreadError} on a mismatch, `InvalidArgumentError` when an
 *   id is not an integer.
 * @example
 * ```ts
 * import { threadId } from 'node:worker_threads';
 * import { assertClientThread } from 'rxfeed/mongodb';
 * const ownerThreadId = threadId; // recorded where the client is made
 * assertClientThread(ownerThreadId, 'the MongoClient'); // throws on another thread
 * ```
 * @public
 */
export function assertClientThread(ownerThreadId: number, what: string, currentThreadId: number = threadId): void {
  for (const [name, id] of [
    ['ownerThreadId', ownerThreadId],
    ['currentThreadId', currentThreadId],
  ] as const) {
    if (!Number.isSafeInteger(id)) throw new InvalidArgumentError(`assertClientThread.${name}`, 'must be a thread id (an integer)');
  }
  if (ownerThreadId !== currentThreadId) throw new MongoThreadError(what, ownerThreadId, currentThreadId);
}

/**
 * Take a lease on the shared client for `uri` and `options`, creating the client if none is open.
 *
 * The client connects lazily, on its first command. Release the lease when done; the last release
 * closes the client. Clients differing in any option are distinct (options are compared by their
 * JSON form, so pass plain data). Unless the connection string or `options` say otherwise, the
 * client gets `serverSelectionTimeoutMS` {@link DEFAULT_SERVER_SELECTION_TIMEOUT_MS} and
 * `connectTimeoutMS` {@link DEFAULT_CONNECT_TIMEOUT_MS}.
 *
 * @example
 * ```ts
 * import { acquireMongoClient } from 'rxfeed/mongodb';
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
 * @throws {@link MongoUriError} when the driver rejects the connection string or the options;
 *   {@link InvalidArgumentError} when `uri` is not a string.
 * @public
 */
export function acquireMongoClient(uri: string, options: MongoClientOptions = {}): MongoClientLease {
  if (typeof uri !== 'string') throw new InvalidArgumentError('MongoDB uri', `must be a connection string, got ${typeof uri}`);
  const key = keyOf(uri, options ?? {});
  let entry = registry.get(key);
  if (entry === undefined) {
    entry = { key, uri, client: createClient(uri, options ?? {}), ownerThreadId: threadId, refs: 0 };
    registry.set(key, entry);
  }
  entry.refs += 1;
  const held = entry;
  let released: Promise<void> | undefined;
  return {
    get client(): MongoClient {
      if (released !== undefined) throw new InvalidArgumentError('MongoClientLease.client', 'this lease was already released');
      assertClientThread(held.ownerThreadId, `the MongoClient for ${redactUri(held.uri)}`);
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
 * import { mongoClientStats } from 'rxfeed/mongodb';
 * import type { Loader } from 'rxfeed';
 * declare const loader: Loader<unknown>;
 * await loader[Symbol.asyncDispose]();
 * console.log(mongoClientStats()); // [] once every loader released its client
 * ```
 *
 * @returns One record per open shared client.
 * @public
 */
export function mongoClientStats(): MongoClientStats[] {
  return [...registry.values()].map(({ uri, refs, ownerThreadId }) => ({ uri: redactUri(uri), refs, ownerThreadId }));
}

/**
 * Resolves when every shared client whose last lease was released has finished closing.
 *
 * @example
 * ```ts
 * import { mongoClientsClosed } from 'rxfeed/mongodb';
 * await mongoClientsClosed(); // before process exit in a script
 * ```
 *
 * @returns A promise that settles once no close is pending.
 * @public
 */
export async function mongoClientsClosed(): Promise<void> {
  while (closing.size > 0) await Promise.allSettled([...closing]);
}
