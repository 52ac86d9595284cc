/**
 * The HTTP layer under the three stores: retried requests and the resumable ranged GET behind
 * every {@link ByteSource} they open. The shared undici Agent and the request and answer types
 * are in `http.ts`, the per-attempt speed rule in `speedRule.ts`.
 *
 * @module
 */
import type { Dispatcher } from 'undici';
import { InvalidArgumentError, RxfeedError } from '../../src/errors.js';
import { checkOffset, type ByteSource } from '../core/byteSource.js';
import { excerpt, ObjectStoreError, statusError } from './errors.js';
import {
  concat,
  header,
  parseContentRange,
  sharedAgent,
  type HttpAnswer,
  type HttpCall,
  type TransportHooks,
  type TransportOptions,
} from './http.js';
import { defaultRetryPolicy, isRetryableStatus, isTransientError, parseRetryAfter, retryDelay, sleep, type RetryPolicy } from './retry.js';
import { SpeedRule, type AttemptGuard } from './speedRule.js';

/**
 * Default of {@link TransportOptions.readAheadBytes}: 1 MiB.
 * @internal
 */
export const BODY_READ_AHEAD = 1024 * 1024;
/**
 * Largest {@link TransportOptions.readAheadBytes}: 256 MiB.
 * @internal
 */
export const MAX_READ_AHEAD = 256 * 1024 * 1024;

/** Bytes of an error body kept for the message: enough for S3's `<Code>` and `<Message>`. */
const ERROR_BODY_LIMIT = 8 * 1024;

/**
 * The largest answer {@link Transport.fetch} holds by default (a listing page, an index, an
 * S3 error): 64 MiB, far above any real listing page, so a hostile server cannot fill memory.
 */
export const MAX_ANSWER_BYTES = 64 * 1024 * 1024;

const noop = (): void => undefined;

/** A finite number at least `min`, or an {@link InvalidArgumentError} naming the option. */
function checkNumber(name: string, value: number | undefined, fallback: number, min = 0): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isFinite(value) || value < min) {
    throw new InvalidArgumentError(name, `must be a finite number >= ${min}, got ${String(value)}`);
  }
  return value;
}

/**
 * The error a call ends with when it is not retried: RxfeedErrors and the consumer's own abort
 * as they are, anything else (a malformed answer undici refused, an invalid header value, an
 * unknown host) wrapped so it names the object.
 */
function finalError(error: unknown, object: string, method: string, signal: AbortSignal | undefined): unknown {
  if (error instanceof RxfeedError || (signal?.aborted === true && error === signal.reason)) return error;
  if (signal?.aborted === true) return signal.reason;
  const reason = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
  return new ObjectStoreError('RXFEED_ERR_OBJECT_NETWORK', object, `${method} failed: ${excerpt(reason)}`, undefined, { cause: error });
}

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
  private readonly minSpeed: number;
  private readonly speedWindow: number;
  private readonly deadline: number | undefined;
  private readonly resumeWithoutValidator: boolean;
  private readonly readAhead: number;
  private readonly hooks: TransportHooks;

  constructor(options: TransportOptions = {}, hooks: TransportHooks = {}) {
    if (typeof options !== 'object' || options === null) {
      throw new InvalidArgumentError('options', `must be an object, got ${String(options)}`);
    }
    this.policy = { ...defaultRetryPolicy, ...options.retry };
    if (!Number.isSafeInteger(this.policy.attempts) || this.policy.attempts < 1) {
      throw new InvalidArgumentError('retry.attempts', `must be a positive integer, got ${String(this.policy.attempts)}`);
    }
    checkNumber('retry.baseDelayMs', this.policy.baseDelayMs, 0);
    checkNumber('retry.maxDelayMs', this.policy.maxDelayMs, 0);
    this.dispatcher = options.dispatcher ?? sharedAgent();
    this.headersTimeout = checkNumber('headersTimeoutMs', options.headersTimeoutMs, 30_000);
    this.bodyTimeout = checkNumber('bodyTimeoutMs', options.bodyTimeoutMs, 30_000);
    this.minSpeed = checkNumber('minSpeedBytesPerSecond', options.minSpeedBytesPerSecond, 1024);
    this.speedWindow = checkNumber('minSpeedWindowMs', options.minSpeedWindowMs, 30_000, 1);
    this.deadline = options.deadlineMs === undefined ? undefined : checkNumber('deadlineMs', options.deadlineMs, 0, 1);
    this.resumeWithoutValidator = options.resumeWithoutValidator === true;
    this.readAhead = checkNumber('readAheadBytes', options.readAheadBytes, BODY_READ_AHEAD, 1);
    if (!Number.isSafeInteger(this.readAhead) || this.readAhead > MAX_READ_AHEAD) {
      throw new InvalidArgumentError('readAheadBytes', `must be an integer from 1 to ${MAX_READ_AHEAD}, got ${this.readAhead}`);
    }
    this.hooks = hooks;
  }

  /** One attempt, signed; the caller owns the body. */
  private send(call: HttpCall, signal: AbortSignal | undefined): Promise<Dispatcher.ResponseData> {
    const signed = this.hooks.sign ? this.hooks.sign(call) : call;
    return this.dispatcher.request({
      origin: signed.origin,
      path: signed.path,
      method: signed.method,
      headers: signed.headers,
      body: signed.body === undefined ? null : Buffer.from(signed.body.buffer, signed.body.byteOffset, signed.body.byteLength),
      signal,
      headersTimeout: this.headersTimeout,
      bodyTimeout: this.bodyTimeout,
      highWaterMark: this.readAhead,
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
    // An HTML error page is cut to its text; either way only a bounded excerpt reaches the message.
    return excerpt(this.hooks.describe ? this.hooks.describe(text) : text.replace(/<[^>]*>/g, ' '));
  }

  /** A whole body, failing typed past `limit` bytes (memory follows the bytes that arrive). */
  private async readBody(
    body: Dispatcher.ResponseData['body'],
    object: string,
    status: number,
    limit: number,
    speed: SpeedRule,
  ): Promise<Uint8Array> {
    const chunks: Uint8Array[] = [];
    let length = 0;
    try {
      for await (const chunk of body) {
        speed.got((chunk as Buffer).byteLength);
        length += (chunk as Buffer).byteLength;
        if (length > limit) {
          throw new ObjectStoreError('RXFEED_ERR_OBJECT_PROTOCOL', object, `answer larger than its ${limit}-byte limit`, status);
        }
        chunks.push(chunk as Buffer);
      }
    } finally {
      if (!body.destroyed) body.destroy();
    }
    return concat(chunks, length);
  }

  /**
   * One attempt's own abort, which the speed rule and the deadline pull (never the caller's
   * signal); `where` says how far the attempt got, for the message. The speed rule starts
   * waiting at once: sending the request and waiting for its headers count as network time.
   */
  private guard(object: string, signal: AbortSignal | undefined, where: () => string): AttemptGuard {
    const controller = new AbortController();
    const speed = new SpeedRule((this.minSpeed * this.speedWindow) / 1000, this.speedWindow, (bytes) =>
      controller.abort(
        new ObjectStoreError(
          'RXFEED_ERR_OBJECT_SLOW',
          object,
          `${bytes} byte(s) in ${this.speedWindow} ms ${where()}, below the minimum ${this.minSpeed} bytes/s`,
        ),
      ),
    );
    const deadline = this.deadline;
    const timer =
      deadline === undefined
        ? undefined
        : setTimeout(
            () =>
              controller.abort(
                new ObjectStoreError('RXFEED_ERR_OBJECT_DEADLINE', object, `request still running after ${deadline} ms ${where()}`),
              ),
            deadline,
          );
    speed.wait();
    return {
      signal: signal === undefined ? controller.signal : AbortSignal.any([signal, controller.signal]),
      speed,
      get cut() {
        return controller.signal.aborted && signal?.aborted !== true;
      },
      get reason() {
        return controller.signal.reason as unknown;
      },
      dispose: () => {
        speed.pause();
        clearTimeout(timer);
      },
    };
  }

  /**
   * A request whose whole answer is read, retried on transient faults; 2xx (and statuses in
   * `accept`) return, any other final status throws a typed error naming `object`. An answer
   * longer than `limit` bytes (default {@link MAX_ANSWER_BYTES}) fails typed.
   */
  async fetch(
    call: HttpCall,
    object: string,
    signal?: AbortSignal,
    accept: readonly number[] = [],
    limit = MAX_ANSWER_BYTES,
  ): Promise<HttpAnswer> {
    let lastError: unknown;
    let lastStatus: number | undefined;
    let retryAfter: number | undefined;
    for (let attempt = 1; attempt <= this.policy.attempts; attempt++) {
      if (attempt > 1) await this.pause(attempt - 1, retryAfter, signal);
      retryAfter = undefined;
      const guard = this.guard(object, signal, () => 'in the answer');
      try {
        const response = await this.send(call, guard.signal);
        // As in rangedGet: a body destroyed before its end must not crash the process.
        response.body.on('error', noop);
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
        return { status, headers, body: await this.readBody(response.body, object, status, limit, guard.speed) };
      } catch (error) {
        if (guard.cut) {
          lastError = guard.reason;
          continue;
        }
        if (error instanceof ObjectStoreError || !isTransientError(error) || signal?.aborted)
          throw finalError(error, object, call.method, signal);
        lastError = error;
      } finally {
        guard.dispose();
      }
    }
    throw retriesError(object, call.method, this.policy.attempts, lastStatus, lastError);
  }

  /**
   * The bytes `[start, end)` of an object (to its end when `end` is undefined), as chunks read
   * only as fast as the iteration pulls. A body that breaks (reset, timeout, a protocol error,
   * slower than {@link TransportOptions.minSpeedBytesPerSecond}, past
   * {@link TransportOptions.deadlineMs}) resumes with `Range: bytes=<next>-` and
   * `If-Range: <validator>`, so no byte is delivered twice; if the object changed in between,
   * it fails with `RXFEED_ERR_OBJECT_CHANGED`, and if the server gave no validator to check,
   * with `RXFEED_ERR_OBJECT_UNVERIFIABLE`. Breaking out of the iteration, or aborting `signal`,
   * destroys the body at once. The body is read up to
   * {@link TransportOptions.readAheadBytes} ahead of the consumer, no further.
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
    checkOffset(start, 'stream.start');
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
      if (signal?.aborted || error instanceof ObjectStoreError || !isTransientError(error)) throw finalError(error, object, 'GET', signal);
      lastError = error;
      failures++;
    };
    for (;;) {
      const stop = Math.min(end ?? Infinity, total ?? Infinity);
      if (position >= stop) return;
      if (failures >= this.policy.attempts) {
        throw retriesError(object, 'GET', failures, lastStatus, lastError, position);
      }
      if (failures > 0 && position > start && version === undefined && !this.resumeWithoutValidator) {
        // Nothing can tell whether the bytes after `position` belong to the version already
        // delivered: resuming could splice two versions without anyone noticing.
        throw new ObjectStoreError(
          'RXFEED_ERR_OBJECT_UNVERIFIABLE',
          object,
          `cut at byte ${position} and cannot be resumed safely: the server sent no ETag or Last-Modified to check the rest against (resumeWithoutValidator accepts the risk)`,
          lastStatus,
          { cause: lastError },
        );
      }
      if (failures > 0) await this.pause(failures, retryAfter, signal);
      retryAfter = undefined;
      const base = makeCall();
      const headers = { ...base.headers };
      if (position > 0 || end !== undefined) {
        headers.range = `bytes=${position}-${end === undefined ? '' : end - 1}`;
        if (validator !== undefined) headers['if-range'] = validator;
      }
      // Each attempt has its own guard, so the speed rule and the deadline cut only it.
      const guard = this.guard(object, signal, () => `at byte ${position}`);
      const { speed } = guard;
      const failuresBefore = failures;
      let body: Dispatcher.ResponseData['body'] | undefined;
      try {
        const response = await this.send({ ...base, headers }, guard.signal);
        body = response.body;
        // Destroying a body that was not read to its end (a 416's, or a cut one) makes undici
        // emit an abort 'error' a tick later: with no listener that would crash the process.
        // Failures while reading still reach the loop below through its iterator.
        body.on('error', noop);
        const { statusCode: status } = response;
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
            `changed while being read: was ${excerpt(version ?? '(no version)')}, now ${excerpt(tag ?? '(no version)')} at byte ${position}`,
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
              `asked for bytes ${position}- and got Content-Range ${excerpt(header(response.headers, 'content-range') ?? '(none)')}`,
              status,
            );
          }
          if (range.total !== undefined) total = range.total;
        } else {
          skip = position;
          const length = header(response.headers, 'content-length');
          if (length !== undefined && /^\d+$/.test(length)) total = Number(length);
        }
        let remaining = Math.min(end ?? Infinity, total ?? Infinity) - position;
        for await (const chunk of body) {
          let bytes = chunk as Buffer;
          speed.got(bytes.length);
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
          // The consumer's time is not the server's: the speed rule waits while it holds the chunk.
          speed.pause();
          yield new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
          if (remaining <= 0) return;
          speed.wait();
        }
        if (position < Math.min(end ?? Infinity, total ?? Infinity) && total !== undefined) {
          // The body ended early without the client noticing (no length framing): resume. The
          // plain Error is only a retry's cause, never thrown as is: retries run out as a typed
          // RXFEED_ERR_OBJECT_RETRIES with it as `cause`.
          transient(Object.assign(new Error(`body ended at byte ${position} of ${total}`), { code: 'UND_ERR_SOCKET' }));
          continue;
        }
        return;
      } catch (error) {
        if (guard.cut) {
          // Slow or past its deadline: transient, but progress made by such an attempt does not
          // earn a fresh set of attempts, or a drip would never end.
          lastError = guard.reason;
          failures = failuresBefore + 1;
        } else {
          transient(error);
        }
      } finally {
        guard.dispose();
        if (body !== undefined && !body.destroyed) body.destroy();
      }
    }
  }

  /** A {@link ByteSource} over one object, reading through {@link Transport.rangedGet}. */
  byteSource(object: string, makeCall: () => HttpCall, size: (signal?: AbortSignal) => Promise<number>): ByteSource {
    return {
      name: object,
      size,
      read: async (start, end, signal) => {
        checkOffset(start, 'read.start');
        checkOffset(end, 'read.end');
        if (end <= start) return new Uint8Array(0);
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
    `${method} failed ${attempts} time(s)${at}; last: ${excerpt(reason)}`,
    status,
    { cause },
  );
}
