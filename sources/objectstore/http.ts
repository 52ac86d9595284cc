/**
 * The HTTP vocabulary of the stores: their transport options and the shared undici Agent, one
 * request and one answer as a store sees them, and small helpers over answers and bodies.
 *
 * @module
 */
import { Agent, type Dispatcher } from 'undici';
import type { ByteSource } from '../core/byteSource.js';
import type { RetryPolicy } from './retry.js';

/**
 * How a store talks HTTP: which connection pool, how it retries, how long it waits, how far it
 * reads ahead.
 * @public
 */
export interface TransportOptions {
  /**
   * The undici dispatcher (an `Agent`, a `Pool`, a `ProxyAgent`, a `MockAgent` ...). Default: the
   * process-wide {@link sharedAgent}.
   */
  readonly dispatcher?: Dispatcher;
  /** Retry policy; unset fields take {@link defaultRetryPolicy}'s values. */
  readonly retry?: Partial<RetryPolicy>;
  /** Longest wait for response headers before the attempt counts as a timeout (default 30 s). */
  readonly headersTimeoutMs?: number;
  /** Longest silence inside a body before the attempt counts as a timeout and resumes (default 30 s). */
  readonly bodyTimeoutMs?: number;
  /**
   * The slowest body worth waiting for, in bytes per second (default 1024; 0 turns the rule
   * off). Like curl's `--speed-limit`: an attempt that receives fewer than
   * `minSpeedBytesPerSecond * minSpeedWindowMs / 1000` bytes in any window of
   * `minSpeedWindowMs` is cut and the read resumes from the next byte, as a transient fault; a
   * cut for slowness never resets the attempt count, so a server that only drips fails after
   * `retry.attempts` windows with `RXFEED_ERR_OBJECT_RETRIES` (its `cause` coded
   * `RXFEED_ERR_OBJECT_SLOW`).
   */
  readonly minSpeedBytesPerSecond?: number;
  /** The window of {@link TransportOptions.minSpeedBytesPerSecond} (default 30 s; curl's `--speed-time`). */
  readonly minSpeedWindowMs?: number;
  /**
   * Longest one request for an object may take, from sending it to its last byte (like curl's
   * `--max-time`, default: no deadline). When it passes, the body is cut and the read resumes
   * from the next byte as a transient fault that does not reset the attempt count (`cause` coded
   * `RXFEED_ERR_OBJECT_DEADLINE`).
   */
  readonly deadlineMs?: number;
  /**
   * Resume a cut body even when the server sent neither ETag nor Last-Modified (default false).
   * Without a validator a resumed read cannot be checked against the bytes already delivered,
   * so an object replaced in between would be spliced from two versions; by default such a
   * read fails with `RXFEED_ERR_OBJECT_UNVERIFIABLE` instead. Set this only for objects that
   * never change.
   */
  readonly resumeWithoutValidator?: boolean;
  /**
   * Bytes of an object's body read from the socket ahead of the chunk the consumer holds
   * (default 1 MiB, from 1 byte to 256 MiB): the network keeps flowing while that chunk is
   * parsed, and stops there until the consumer pulls. It is undici's body high-water mark (its
   * own default, 64 KiB, paused the socket while each chunk was parsed: reading WebDataset
   * shards from nginx, the main thread sat 44% idle; 14% with 1 MiB). **Bound**: one open
   * stream holds at most the consumer's chunk plus `readAheadBytes` and what the socket had
   * read when the stream paused it (measured up to 110 KiB: two 64 KiB socket reads). Breaking out of the iteration destroys the body and its connection, read-ahead and all.
   *
   * Measured (`bench/webdataset.ts --chunks`: `fromWebDataset` over 8 shards of 20,000 samples,
   * 2 cores shared with other work, median (range) of 5 per-round ratios to 1 MiB): from nginx,
   * 256 KiB 0.96 (0.59-1.62), 4 MiB 1.12 (0.93-1.45); from Ceph RGW, 256 KiB 0.95 (0.84-1.13),
   * 4 MiB 0.94 (0.91-1.15). No size wins clearly on both; 1 MiB matches the file chunk.
   */
  readonly readAheadBytes?: number;
}

/** Connections the shared agent keeps per origin: enough for parallel shard streams, bounded. */
const CONNECTIONS_PER_ORIGIN = 32;

let shared: Agent | undefined;

/**
 * The undici Agent every store uses unless given another dispatcher: keep-alive connections
 * (idle ones close after 10 s and never hold the process open), at most 32 per origin, no
 * pipelining (a cut connection then loses one request only).
 *
 * @example
 * ```ts
 * import { sharedAgent } from 'rxfeed/objectstore';
 * process.on('beforeExit', () => void sharedAgent().close());
 * ```
 *
 * @returns The process-wide Agent, made on first use.
 * @public
 */
export function sharedAgent(): Agent {
  shared ??= new Agent({
    connections: CONNECTIONS_PER_ORIGIN,
    pipelining: 1,
    keepAliveTimeout: 10_000,
    keepAliveMaxTimeout: 60_000,
  });
  return shared;
}

/**
 * One HTTP request as a store describes it, before signing. The path is sent exactly as given:
 * it never passes through URL parsing, which would collapse `.` and `..` segments (and their
 * `%2E` forms) and so let a key name another object.
 */
export interface HttpCall {
  readonly method: 'GET' | 'HEAD' | 'PUT' | 'POST' | 'DELETE';
  /** `http://host:port`, no path. */
  readonly origin: string;
  /** The percent-encoded path and query, e.g. `/bucket/%2E%2E/k?x=1`. */
  readonly path: string;
  readonly headers: Record<string, string>;
  readonly body?: Uint8Array;
}

/** A complete (non-streamed) answer. */
export interface HttpAnswer {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly body: Uint8Array;
}

/** What a store plugs into the transport. */
export interface TransportHooks {
  /** Called for every attempt (S3 signs here: a retry needs a fresh date). */
  readonly sign?: (call: HttpCall) => HttpCall;
  /** The server's explanation in an error body, e.g. S3's `<Code>` and `<Message>`. */
  readonly describe?: (body: string) => string;
  /** Randomness for jitter; specs pin it. */
  readonly random?: () => number;
  /**
   * What identifies the version of an object in an answer's headers; a resumed read must see the
   * same. Default: ETag, else Last-Modified.
   */
  readonly version?: (headers: HttpAnswer['headers']) => string | undefined;
}

/** The first value of a header. */
export function header(headers: HttpAnswer['headers'], name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value[0] : value;
}

/** `bytes 0-9/100` (or `bytes *\/100`) as numbers. */
export function parseContentRange(value: string | undefined): { first?: number; last?: number; total?: number } | undefined {
  if (value === undefined) return undefined;
  const match = /^bytes\s+(?:(\d+)-(\d+)|\*)\/(\d+|\*)$/i.exec(value.trim());
  if (match === null) return undefined;
  return {
    first: match[1] === undefined ? undefined : Number(match[1]),
    last: match[2] === undefined ? undefined : Number(match[2]),
    total: match[3] === '*' ? undefined : Number(match[3]),
  };
}

/** Join chunks into one array (no copy when there is one chunk). */
export function concat(chunks: readonly Uint8Array[], length: number): Uint8Array {
  if (chunks.length === 1) return chunks[0]!;
  const out = new Uint8Array(length);
  let offset = 0;
  for (const chunk of chunks) {
    out.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return out;
}

/** The whole content of a ByteSource, streamed (so a size the listing did not know is no obstacle). */
export async function readAll(source: ByteSource, signal: AbortSignal | undefined): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  let length = 0;
  for await (const chunk of source.stream(0, signal)) {
    chunks.push(chunk);
    length += chunk.byteLength;
  }
  return concat(chunks, length);
}
