/**
 * When and how long the object stores retry.
 *
 * @module
 */

/**
 * How a store retries transient faults: 5xx, 429, connection resets, timeouts and bodies cut
 * mid-stream. Delays grow exponentially with full jitter (AWS's recommendation, so many clients
 * failing together do not retry in lockstep), capped at `maxDelayMs`; a server's `Retry-After`
 * is honoured up to the same cap.
 * @public
 */
export interface RetryPolicy {
  /**
   * Attempts per request, the first included (default 6). A resumed body counts its failed
   * attempts since it last received a byte, so a long download that keeps making progress is
   * never abandoned, while a server that stopped answering fails after this many tries.
   */
  readonly attempts: number;
  /** Delay before the first retry, before jitter (default 100 ms). */
  readonly baseDelayMs: number;
  /** Upper bound of any single delay (default 5000 ms). */
  readonly maxDelayMs: number;
}

/**
 * The defaults of {@link RetryPolicy}.
 * @public
 */
export const defaultRetryPolicy: RetryPolicy = Object.freeze({ attempts: 6, baseDelayMs: 100, maxDelayMs: 5000 });

/**
 * The delay before retry number `retry` (1 for the first retry): full jitter over
 * `min(maxDelayMs, baseDelayMs * 2^(retry-1))`, or the server's `Retry-After` when it asked for
 * longer (still capped).
 * @internal
 */
export function retryDelay(policy: RetryPolicy, retry: number, random: () => number = Math.random, retryAfterMs?: number): number {
  const ceiling = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** Math.max(0, retry - 1));
  const jittered = Math.floor(random() * ceiling);
  if (retryAfterMs !== undefined && retryAfterMs > jittered) return Math.min(policy.maxDelayMs, retryAfterMs);
  return jittered;
}

/**
 * Whether an HTTP status is worth retrying: 5xx (except 501 Not Implemented, which will not
 * change), 429 Too Many Requests and 408 Request Timeout.
 * @internal
 */
export function isRetryableStatus(status: number): boolean {
  return (status >= 500 && status !== 501 && status !== 505) || status === 429 || status === 408;
}

/** Error codes of network faults that a new connection may not see. */
const transientCodes = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'ECONNABORTED',
  'EPIPE',
  'ETIMEDOUT',
  'EAI_AGAIN',
  'ENETUNREACH',
  'EHOSTUNREACH',
  'UND_ERR_SOCKET',
  'UND_ERR_CLOSED',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
  'UND_ERR_RES_CONTENT_LENGTH_MISMATCH',
  'UND_ERR_REQ_RETRY',
  'ERR_STREAM_PREMATURE_CLOSE',
]);

/**
 * Whether a thrown error is a transient network fault (reset, refused, timeout, a body cut
 * short). Aborts are never transient: the consumer asked to stop.
 * @internal
 */
export function isTransientError(error: unknown): boolean {
  for (let current: unknown = error, depth = 0; current !== undefined && depth < 4; depth++) {
    if (typeof current !== 'object' || current === null) return false;
    const { code, name } = current as { code?: unknown; name?: unknown };
    if (name === 'AbortError' || code === 'UND_ERR_ABORTED' || code === 'ABORT_ERR') return false;
    if (typeof code === 'string' && transientCodes.has(code)) return true;
    // undici's HTTPParserError: bytes the connection should not hold (a body longer than its
    // Content-Length, garbage before the next answer). A fresh connection does not have them.
    if (name === 'HTTPParserError' || (typeof code === 'string' && code.startsWith('HPE_'))) return true;
    current = (current as { cause?: unknown }).cause;
  }
  return false;
}

/**
 * Milliseconds asked for by a `Retry-After` header (seconds or an HTTP date), if any.
 * @internal
 */
export function parseRetryAfter(value: string | undefined, now = Date.now()): number | undefined {
  if (value === undefined || value === '') return undefined;
  if (/^\d+$/.test(value.trim())) return Number(value.trim()) * 1000;
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}

/**
 * A delay that ends early (rejecting) when `signal` aborts, so a cancelled pipeline does not
 * sit out a backoff.
 * @internal
 */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason);
      return;
    }
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(signal!.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
