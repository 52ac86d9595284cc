/**
 * The HTTP layer under the three stores: a shared undici Agent, retried requests, and the
 * resumable ranged GET behind every {@link ByteSource} they open.
 *
 * @module
 */
import { Agent, request, type Dispatcher } from 'undici';
import type { ByteSource } from '../core/byteSource.js';
import { ObjectStoreError, statusError } from './errors.js';
import {
  defaultRetryPolicy,
  isRetryableStatus,
  isTransientError,
  parseRetryAfter,
  retryDelay,
  sleep,
  type RetryPolicy,
} from './retry.js';

/**
 * How a store talks HTTP: which connection pool, how it retries, how long it waits.
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

/** One HTTP request as a store describes it, before signing. */
export interface HttpCall {
  readonly method: 'GET' | 'HEAD' | 'PUT' | 'POST' | 'DELETE';
  readonly url: URL;
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

/** Bytes of an error body kept for the message: enough for S3's `<Code>` and `<Message>`. */
const ERROR_BODY_LIMIT = 8 * 1024;

/**
 * Sends requests for one store: retries transient faults per {@link RetryPolicy}, turns final
 * statuses into {@link ObjectStoreError}s, and streams ranged bodies that resume where they broke.
 * @internal
 */
export class Transport {
  readonly policy: RetryPolicy;
  private readonly dispatcher: Dispatcher;
  private readonly headersTimeout: number;
  private readonly bodyTimeout: number;
  private readonly hooks: TransportHooks;

  constructor(options: TransportOptions = {}, hooks: TransportHooks = {}) {
    this.policy = { ...defaultRetryPolicy, ...options.retry };
    if (!Number.isSafeInteger(this.policy.attempts) || this.policy.attempts < 1) {
      throw new RangeError(`retry.attempts must be a positive integer, got ${this.policy.attempts}`);
    }
    this.dispatcher = options.dispatcher ?? sharedAgent();
    this.headersTimeout = options.headersTimeoutMs ?? 30_000;
    this.bodyTimeout = options.bodyTimeoutMs ?? 30_000;
    this.hooks = hooks;
  }

  /** One attempt, signed; the caller owns the body. */
  private send(call: HttpCall, signal: AbortSignal | undefined): Promise<Dispatcher.ResponseData> {
    const signed = this.hooks.sign ? this.hooks.sign(call) : call;
    return request(signed.url, {
      method: signed.method,
      headers: signed.headers,
      body: signed.body === undefined ? null : Buffer.from(signed.body.buffer, signed.body.byteOffset, signed.body.byteLength),
      dispatcher: this.dispatcher,
      signal,
      headersTimeout: this.headersTimeout,
      bodyTimeout: this.bodyTimeout,
    });
  }

  private async pause(retry: number, retryAfterMs: number | undefined, signal: AbortSignal | undefined): Promise<void> {
    await sleep(retryDelay(this.policy, retry, this.hooks.random, retryAfterMs), signal);
  }

  private async explain(body: Dispatcher.ResponseData['body']): Promise<string> {
    let text = '';
    try {
      for await (const chunk of body) {
        text += Buffer.from(chunk as Uint8Array).toString('utf8');
        if (text.length >= ERROR_BODY_LIMIT) break;
      }
    } catch {
      // The explanation is a courtesy: the status already says what failed.
    } finally {
      body.destroy();
    }
    return this.hooks.describe ? this.hooks.describe(text) : text.slice(0, 200).trim();
  }

  /**
   * A request whose whole answer is read, retried on transient faults; 2xx (and statuses in
   * `accept`) return, any other final status throws a typed error naming `object`.
   */
  async fetch(call: HttpCall, object: string, signal?: AbortSignal, accept: readonly number[] = []): Promise<HttpAnswer> {
    let lastError: unknown;
    let lastStatus: number | undefined;
    let retryAfter: number | undefined;
    for (let attempt = 1; attempt <= this.policy.attempts; attempt++) {
      if (attempt > 1) await this.pause(attempt - 1, retryAfter, signal);
      retryAfter = undefined;
      let response: Dispatcher.ResponseData;
      try {
        response = await this.send(call, signal);
      } catch (error) {
        if (!isTransientError(error) || signal?.aborted) throw error;
        lastError = error;
        continue;
      }
      const { statusCode: status, headers } = response;
      if (isRetryableStatus(status)) {
        lastStatus = status;
        retryAfter = parseRetryAfter(header(headers, 'retry-after'));
        lastError = statusError(object, call.method, status, await this.explain(response.body));
        continue;
      }
      if ((status < 200 || status > 299) && !accept.includes(status)) {
        throw statusError(object, call.method, status, call.method === 'HEAD' ? '' : await this.explain(response.body));
      }
      try {
        const body = new Uint8Array(await response.body.arrayBuffer());
        return { status, headers, body };
      } catch (error) {
        if (!isTransientError(error) || signal?.aborted) throw error;
        lastError = error;
      }
    }
    throw retriesError(object, call.method, this.policy.attempts, lastStatus, lastError);
  }

  /**
   * The bytes `[start, end)` of an object (to its end when `end` is undefined), as chunks read
   * only as fast as the iteration pulls. A body that breaks resumes with
   * `Range: bytes=<next>-` and `If-Range: <validator>`, so no byte is delivered twice; if the
   * object changed in between, it fails with `RXFEED_ERR_OBJECT_CHANGED`. Breaking out of the
   * iteration, or aborting `signal`, destroys the body at once.
   *
   * @param object - Named in errors.
   * @param makeCall - The plain GET of the object; range headers are added here.
   */
  async *rangedGet(
    object: string,
    makeCall: () => HttpCall,
    start: number,
    end: number | undefined,
    signal?: AbortSignal,
  ): AsyncGenerator<Uint8Array> {
    let position = start;
    let version: string | undefined; // identifies the object version of the first answer
    let validator: string | undefined; // ETag (or Last-Modified) of the first answer, for If-Range
    let total: number | undefined;
    let failures = 0;
    let lastError: unknown;
    let lastStatus: number | undefined;
    let retryAfter: number | undefined;
    let answered = false;
    const transient = (error: unknown): void => {
      if (signal?.aborted || error instanceof ObjectStoreError || !isTransientError(error)) throw error;
      lastError = error;
      failures++;
    };
    for (;;) {
      const stop = Math.min(end ?? Infinity, total ?? Infinity);
      if (position >= stop) return;
      if (failures >= this.policy.attempts) {
        throw retriesError(object, 'GET', failures, lastStatus, lastError, position);
      }
      if (failures > 0) await this.pause(failures, retryAfter, signal);
      retryAfter = undefined;
      const base = makeCall();
      const headers = { ...base.headers };
      if (position > 0 || end !== undefined) {
        headers.range = `bytes=${position}-${end === undefined ? '' : end - 1}`;
        if (validator !== undefined) headers['if-range'] = validator;
      }
      let response: Dispatcher.ResponseData;
      try {
        response = await this.send({ ...base, headers }, signal);
      } catch (error) {
        transient(error);
        continue;
      }
      const { statusCode: status, body } = response;
      try {
        if (status === 416) {
          // Asked from at or past the end: nothing left (an empty object, or a cut after the last byte).
          const size = parseContentRange(header(response.headers, 'content-range'))?.total;
          if (size === undefined || position >= size) return;
          throw new ObjectStoreError('RXFEED_ERR_OBJECT_PROTOCOL', object, `416 for bytes ${position}- of a ${size}-byte object`, status);
        }
        if (isRetryableStatus(status)) {
          lastStatus = status;
          retryAfter = parseRetryAfter(header(response.headers, 'retry-after'));
          lastError = statusError(object, 'GET', status, await this.explain(body));
          failures++;
          continue;
        }
        if (status !== 200 && status !== 206) throw statusError(object, 'GET', status, await this.explain(body));
        const tag = this.hooks.version
          ? this.hooks.version(response.headers)
          : (header(response.headers, 'etag') ?? header(response.headers, 'last-modified'));
        if (!answered) {
          version = tag;
          validator = header(response.headers, 'etag') ?? header(response.headers, 'last-modified');
          answered = true;
        } else if (tag !== version) {
          // If-Range made the server send the whole (new) object, or it ignores If-Range: either
          // way its bytes must not be spliced onto the old version's.
          throw new ObjectStoreError(
            'RXFEED_ERR_OBJECT_CHANGED',
            object,
            `changed while being read: was ${version ?? '(no version)'}, now ${tag ?? '(no version)'} at byte ${position}`,
            status,
          );
        }
        // A 200 carries the whole object (the server ignored the range): skip what was delivered.
        let skip = 0;
        if (status === 206) {
          const range = parseContentRange(header(response.headers, 'content-range'));
          if (range === undefined || range.first !== position) {
            throw new ObjectStoreError(
              'RXFEED_ERR_OBJECT_PROTOCOL',
              object,
              `asked for bytes ${position}- and got Content-Range ${header(response.headers, 'content-range') ?? '(none)'}`,
              status,
            );
          }
          if (range.total !== undefined) total = range.total;
        } else {
          skip = position;
          const length = header(response.headers, 'content-length');
          if (length !== undefined) total = Number(length);
        }
        let remaining = Math.min(end ?? Infinity, total ?? Infinity) - position;
        for await (const chunk of body) {
          let bytes = chunk as Buffer;
          if (skip > 0) {
            if (bytes.length <= skip) {
              skip -= bytes.length;
              continue;
            }
            bytes = bytes.subarray(skip);
            skip = 0;
          }
          if (bytes.length > remaining) bytes = bytes.subarray(0, remaining);
          if (bytes.length === 0) continue;
          position += bytes.length;
          remaining -= bytes.length;
          failures = 0;
          yield new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
          if (remaining <= 0) return;
        }
        if (position < Math.min(end ?? Infinity, total ?? Infinity) && total !== undefined) {
          // The body ended early without the client noticing (no length framing): resume.
          transient(Object.assign(new Error(`body ended at byte ${position} of ${total}`), { code: 'UND_ERR_SOCKET' }));
          continue;
        }
        return;
      } catch (error) {
        transient(error);
      } finally {
        if (!body.destroyed) body.destroy();
      }
    }
  }

  /** A {@link ByteSource} over one object, reading through {@link Transport.rangedGet}. */
  byteSource(object: string, makeCall: () => HttpCall, size: (signal?: AbortSignal) => Promise<number>): ByteSource {
    return {
      name: object,
      size,
      read: async (start, end, signal) => {
        if (!(end > start)) return new Uint8Array(0);
        const chunks: Uint8Array[] = [];
        let length = 0;
        for await (const chunk of this.rangedGet(object, makeCall, start, end, signal)) {
          chunks.push(chunk);
          length += chunk.byteLength;
        }
        return concat(chunks, length);
      },
      stream: (start = 0, signal) => this.rangedGet(object, makeCall, start, undefined, signal),
    };
  }
}

function retriesError(
  object: string,
  method: string,
  attempts: number,
  status: number | undefined,
  cause: unknown,
  position?: number,
): ObjectStoreError {
  const reason = cause instanceof Error ? cause.message : String(cause);
  const at = position === undefined ? '' : ` at byte ${position}`;
  return new ObjectStoreError(
    'RXFEED_ERR_OBJECT_RETRIES',
    object,
    `${method} failed ${attempts} time(s)${at}; last: ${reason}`,
    status,
    { cause },
  );
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
