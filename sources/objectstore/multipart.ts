/**
 * S3 multipart upload: a body of unknown length written one part at a time, visible only once
 * CompleteMultipartUpload succeeds, and aborted (no part kept) on any failure.
 *
 * @module
 */
import { InvalidArgumentError } from '../../src/errors.js';
import { describe } from '../../src/excerpt.js';
import type { UploadOptions } from '../core/store.js';
import { excerpt, ObjectStoreError } from './errors.js';
import { concat, header, type HttpAnswer, type HttpCall } from './http.js';
import { retryDelay, sleep, type RetryPolicy } from './retry.js';
import { completeMultipartBody, parseCompleteAnswer, parseUploadId } from './xml.js';

/** Default {@link UploadOptions.partSize}: 8 MiB, as the AWS CLI and SDKs use. */
export const DEFAULT_PART_SIZE = 8 * 1024 * 1024;
/** S3's smallest part (all but the last). */
export const MIN_PART_SIZE = 5 * 1024 * 1024;
/** S3's largest part. */
export const MAX_PART_SIZE = 5 * 1024 * 1024 * 1024;
/** S3's most parts per upload. */
const MAX_PARTS = 10_000;

/** What {@link multipartUpload} needs of the store: one retried, signed request and a plain put. */
export interface MultipartClient {
  /** The object's name in errors, e.g. `s3://bucket/key`. */
  readonly object: string;
  readonly policy: RetryPolicy;
  /** One request on the object, retried per the store's policy; 2xx or a typed error. */
  fetch(
    method: HttpCall['method'],
    query: readonly (readonly [string, string])[],
    body?: Uint8Array,
    signal?: AbortSignal,
  ): Promise<HttpAnswer>;
  put(body: Uint8Array, signal?: AbortSignal): Promise<void>;
}

/** S3 error codes of a CompleteMultipartUpload answered 200 that a retry may fix. */
const TRANSIENT_COMPLETE = new Set(['InternalError', 'ServiceUnavailable', 'SlowDown', 'RequestTimeout']);

/**
 * The next part of `body`: `size` bytes, or fewer at its end (`done`). Holds at most `size`
 * bytes plus the rest of the chunk that crossed the boundary, which is kept for the next part.
 */
async function readPart(
  iterator: AsyncIterator<Uint8Array>,
  carry: { bytes: Uint8Array | undefined },
  size: number,
  object: string,
): Promise<{ bytes: Uint8Array; done: boolean }> {
  const chunks: Uint8Array[] = [];
  let length = 0;
  if (carry.bytes !== undefined) {
    chunks.push(carry.bytes);
    length = carry.bytes.byteLength;
    carry.bytes = undefined;
  }
  while (length < size) {
    const next = await iterator.next();
    if (next.done === true) return { bytes: concat(chunks, length), done: true };
    const chunk = next.value;
    if (!(chunk instanceof Uint8Array)) {
      throw new InvalidArgumentError('upload.body', `${object}: must yield Uint8Arrays, got ${describe(chunk)}`);
    }
    chunks.push(chunk);
    length += chunk.byteLength;
  }
  const whole = concat(chunks, length);
  if (length > size) carry.bytes = whole.subarray(size);
  return { bytes: whole.subarray(0, size), done: false };
}

/**
 * Check {@link UploadOptions.partSize}.
 * @internal
 */
export function checkPartSize(partSize: number | undefined): number {
  const size = partSize ?? DEFAULT_PART_SIZE;
  if (!Number.isSafeInteger(size) || size < MIN_PART_SIZE || size > MAX_PART_SIZE) {
    throw new InvalidArgumentError(
      'upload.partSize',
      `must be an integer from ${MIN_PART_SIZE} (5 MiB) to ${MAX_PART_SIZE} (5 GiB), got ${describe(partSize)}`,
    );
  }
  return size;
}

/**
 * Write `body` as one object: a single put when it is shorter than one part, else
 * CreateMultipartUpload, one UploadPart per `partSize` bytes (each retried per the store's
 * policy) and CompleteMultipartUpload. Any failure (the body throws, a request fails, `signal`
 * aborts, Complete answers an `<Error>`) sends AbortMultipartUpload, so no part lingers and
 * nothing becomes visible, and ends the body's iteration. One part is held in memory at a time.
 * @internal
 */
export async function multipartUpload(
  client: MultipartClient,
  body: AsyncIterable<Uint8Array>,
  options: UploadOptions = {},
): Promise<void> {
  if (typeof options !== 'object' || options === null) throw new InvalidArgumentError('upload.options', 'must be an object');
  const size = checkPartSize(options.partSize);
  const { signal } = options;
  if (typeof (body as Partial<AsyncIterable<Uint8Array>> | null)?.[Symbol.asyncIterator] !== 'function') {
    throw new InvalidArgumentError('upload.body', `${client.object}: must be an AsyncIterable of Uint8Arrays, got ${describe(body)}`);
  }
  const { object } = client;
  const iterator = body[Symbol.asyncIterator]();
  let ended = false;
  let uploadId: string | undefined;
  try {
    signal?.throwIfAborted();
    const carry: { bytes: Uint8Array | undefined } = { bytes: undefined };
    let part = await readPart(iterator, carry, size, object);
    ended = part.done;
    if (part.done) {
      await client.put(part.bytes, signal);
      return;
    }
    uploadId = parseUploadId(Buffer.from((await client.fetch('POST', [['uploads', '']], undefined, signal)).body).toString('utf8'), object);
    const etags: string[] = [];
    for (;;) {
      signal?.throwIfAborted();
      if (etags.length >= MAX_PARTS) {
        throw new InvalidArgumentError(
          'upload.partSize',
          `${object}: more than ${MAX_PARTS} parts of ${size} bytes; use a larger partSize`,
        );
      }
      const answer = await client.fetch(
        'PUT',
        [
          ['partNumber', String(etags.length + 1)],
          ['uploadId', uploadId],
        ],
        part.bytes,
        signal,
      );
      const etag = header(answer.headers, 'etag');
      if (etag === undefined || etag === '') {
        throw new ObjectStoreError(
          'RXFEED_ERR_OBJECT_PROTOCOL',
          object,
          `UploadPart ${etags.length + 1} answered without an ETag`,
          answer.status,
        );
      }
      etags.push(etag);
      if (part.done) break;
      part = await readPart(iterator, carry, size, object);
      ended = part.done;
      // A body that ends on a part boundary leaves an empty last part: not sent.
      if (part.done && part.bytes.byteLength === 0) break;
    }
    await complete(client, uploadId, etags, signal);
    uploadId = undefined;
  } catch (error) {
    if (uploadId !== undefined) {
      // Not under `signal`: an abort is the usual reason to get here, and the parts must still go.
      await client.fetch('DELETE', [['uploadId', uploadId]]).catch(() => undefined);
    }
    throw error;
  } finally {
    // Release the producer of a body we stopped reading (as a `for await` that breaks does).
    if (!ended) await iterator.return?.().catch(() => undefined);
  }
}

/** CompleteMultipartUpload, retried while it answers 200 with a transient `<Error>`. */
async function complete(
  client: MultipartClient,
  uploadId: string,
  etags: readonly string[],
  signal: AbortSignal | undefined,
): Promise<void> {
  const body = new TextEncoder().encode(completeMultipartBody(etags));
  for (let attempt = 1; ; attempt++) {
    const answer = await client.fetch('POST', [['uploadId', uploadId]], body, signal);
    const error = parseCompleteAnswer(Buffer.from(answer.body).toString('utf8'), client.object);
    if (error === undefined) return;
    if (!TRANSIENT_COMPLETE.has(error.code) || attempt >= client.policy.attempts) {
      throw new ObjectStoreError(
        TRANSIENT_COMPLETE.has(error.code) ? 'RXFEED_ERR_OBJECT_RETRIES' : 'RXFEED_ERR_OBJECT_REQUEST',
        client.object,
        `CompleteMultipartUpload answered ${answer.status} with an error after ${attempt} attempt(s): ${excerpt(error.description)}`,
        answer.status,
      );
    }
    await sleep(retryDelay(client.policy, attempt), signal);
  }
}
