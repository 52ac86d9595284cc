/**
 * The error every object store raises.
 *
 * @module
 */
import { RxfeedError } from '../../src/errors.js';

/**
 * The stable codes of {@link ObjectStoreError}.
 *
 * - `RXFEED_ERR_OBJECT_NOT_FOUND`: 404 (or an S3 `NoSuchKey` / `NoSuchBucket`).
 * - `RXFEED_ERR_OBJECT_ACCESS`: 401 or 403: missing or wrong credentials, a bad signature.
 * - `RXFEED_ERR_OBJECT_REQUEST`: any other 4xx except 429: the request itself is wrong; not retried.
 * - `RXFEED_ERR_OBJECT_CHANGED`: the object changed while it was being read (its ETag or
 *   Last-Modified differs on a resumed request), so its bytes would mix two versions.
 * - `RXFEED_ERR_OBJECT_RETRIES`: every attempt failed with a transient fault (5xx, 429, reset,
 *   timeout); `cause` holds the last one.
 * - `RXFEED_ERR_OBJECT_PROTOCOL`: the server answered something malformed (unparsable listing,
 *   a `Content-Range` that does not match the request, a listing whose continuation token
 *   repeats or whose directories nest deeper than 32 levels, an answer over its size limit).
 * - `RXFEED_ERR_OBJECT_UNVERIFIABLE`: a read broke after delivering bytes and the server sent
 *   no ETag or Last-Modified, so a resumed read could splice two versions of the object.
 * - `RXFEED_ERR_OBJECT_SLOW`: an attempt received less than the store's minimum speed
 *   (`minSpeedBytesPerSecond`); retried, and found as the `cause` of `RXFEED_ERR_OBJECT_RETRIES`.
 * - `RXFEED_ERR_OBJECT_DEADLINE`: an attempt ran past the store's `deadlineMs`; retried, and
 *   found as the `cause` of `RXFEED_ERR_OBJECT_RETRIES`.
 * - `RXFEED_ERR_OBJECT_KEY`: a key is not a literal name inside the store: it would leave the
 *   store's base path (a `.` or `..` segment where the server normalises paths, a same-origin
 *   URL outside the base path).
 * - `RXFEED_ERR_OBJECT_ORIGIN`: a key or listing entry names a URL on an origin the store was
 *   not given (`httpStore`'s `origins`): refused, so the store's headers and network reach stay
 *   where they were configured.
 * - `RXFEED_ERR_OBJECT_NETWORK`: the request failed below HTTP in a way a retry would not fix
 *   (an unknown host, a header value undici refuses); `cause` holds the underlying error.
 * @public
 */
export type ObjectStoreErrorCode =
  | 'RXFEED_ERR_OBJECT_NOT_FOUND'
  | 'RXFEED_ERR_OBJECT_ACCESS'
  | 'RXFEED_ERR_OBJECT_REQUEST'
  | 'RXFEED_ERR_OBJECT_CHANGED'
  | 'RXFEED_ERR_OBJECT_RETRIES'
  | 'RXFEED_ERR_OBJECT_PROTOCOL'
  | 'RXFEED_ERR_OBJECT_UNVERIFIABLE'
  | 'RXFEED_ERR_OBJECT_SLOW'
  | 'RXFEED_ERR_OBJECT_DEADLINE'
  | 'RXFEED_ERR_OBJECT_KEY'
  | 'RXFEED_ERR_OBJECT_ORIGIN'
  | 'RXFEED_ERR_OBJECT_NETWORK';

/**
 * A request to an object store failed; names the object (or listing) and the HTTP status.
 *
 * @example
 * ```ts
 * import { ObjectStoreError, type ObjectStore } from 'rxfeed/objectstore';
 * declare const store: ObjectStore;
 * declare function skip(): void;
 * try {
 *   await store.head('missing.tar');
 * } catch (error) {
 *   if (error instanceof ObjectStoreError && error.code === 'RXFEED_ERR_OBJECT_NOT_FOUND') skip();
 *   else throw error;
 * }
 * ```
 * @public
 */
export class ObjectStoreError extends RxfeedError {
  declare readonly code: ObjectStoreErrorCode;
  /** What was requested: `s3://bucket/key`, `ais://bucket/key`, a URL, or `s3://bucket/prefix*` for a listing. */
  readonly object: string;
  /** The HTTP status of the failing answer, when there was one. */
  readonly status: number | undefined;

  /**
   * @param code - One of {@link ObjectStoreErrorCode}.
   * @param object - The object or listing that failed.
   * @param message - What went wrong.
   * @param status - The HTTP status, if any.
   * @param options - `cause`: the underlying error.
   */
  constructor(code: ObjectStoreErrorCode, object: string, message: string, status?: number, options?: ErrorOptions) {
    super(code, `${object}: ${message}`, options);
    this.object = object;
    this.status = status;
  }
}

export { EXCERPT_LIMIT, excerpt } from '../../src/excerpt.js';

/**
 * The typed error for a final (non-retried) HTTP status, with the server's own explanation.
 * @internal
 */
export function statusError(object: string, method: string, status: number, detail = ''): ObjectStoreError {
  const explain = detail === '' ? '' : `: ${detail}`;
  if (status === 404) {
    return new ObjectStoreError('RXFEED_ERR_OBJECT_NOT_FOUND', object, `${method} answered 404 Not Found${explain}`, status);
  }
  if (status === 401 || status === 403) {
    return new ObjectStoreError('RXFEED_ERR_OBJECT_ACCESS', object, `${method} answered ${status}: access denied${explain}`, status);
  }
  return new ObjectStoreError('RXFEED_ERR_OBJECT_REQUEST', object, `${method} answered ${status}${explain}`, status);
}
