/**
 * The ByteSource port: random and streaming access to the bytes of one file or object.
 *
 * Record readers (TFRecord, tar) take a ByteSource, so a local file, an HTTP URL, an S3 or AIStore
 * object all plug into the same reading code with no copy of it.
 *
 * @module
 */
import { InvalidArgumentError } from '../../src/errors.js';

/**
 * The bytes of one file or object.
 * @public
 */
export interface ByteSource {
  /** Where the bytes come from (a path, URL or `s3://bucket/key`): named in every error. */
  readonly name: string;
  /** Total length in bytes. */
  size(signal?: AbortSignal): Promise<number>;
  /**
   * Bytes `[start, end)`; `end` is clamped to the size. Offsets are non-negative integers: any
   * other rejects with an `InvalidArgumentError` before anything is read.
   */
  read(start: number, end: number, signal?: AbortSignal): Promise<Uint8Array>;
  /**
   * The bytes from `start` to the end as a stream of chunks, read only as fast as the iteration
   * pulls. Breaking out of the iteration (or aborting `signal`) releases the underlying handle or
   * connection at once.
   */
  stream(start?: number, signal?: AbortSignal): AsyncIterable<Uint8Array>;
}

/**
 * The check every ByteSource makes of a `start` or `end` argument: a non-negative safe integer.
 * @param value - The offset given.
 * @param name - The argument named in the error, e.g. `read.start`.
 * @throws InvalidArgumentError otherwise.
 * @internal
 */
export function checkOffset(value: number, name: string): void {
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new InvalidArgumentError(name, `must be a non-negative integer, got ${typeof value === 'number' ? value : typeof value}`);
  }
}
