/**
 * The ObjectStore port: list, head, ranged get, put and delete over a bucket or a base URL. The S3,
 * AIStore and HTTP stores of `rxfeed/objectstore` implement it; any source kind that reads
 * objects (WebDataset's `{ store, keys }`) depends only on this port, never on a store.
 *
 * @module
 */
import { InvalidArgumentError } from '../../src/errors.js';
import { describe } from '../../src/excerpt.js';
import type { ByteSource } from './byteSource.js';

/**
 * One entry of a listing.
 * @public
 */
export interface ObjectEntry {
  readonly key: string;
  /** Bytes; -1 when the listing does not say (a JSON index without sizes). */
  readonly size: number;
  readonly etag?: string;
}

/**
 * One page of a listing; pass `continuation` back to get the next.
 * @public
 */
export interface ObjectPage {
  readonly entries: readonly ObjectEntry[];
  readonly continuation?: string;
}

/**
 * Metadata of one object.
 * @public
 */
export interface ObjectHead {
  readonly key: string;
  readonly size: number;
  readonly etag?: string;
  readonly lastModified?: Date;
}

/**
 * Options of {@link ObjectStore.upload}.
 * @public
 */
export interface UploadOptions {
  /**
   * Bytes per part of a multipart upload (default 8 MiB; at least 5 MiB, S3's smallest part
   * but the last, and at most 5 GiB): the one part held in memory at a time. A body shorter than
   * one part is sent as a single put.
   */
  readonly partSize?: number;
  /** Aborts the upload; nothing becomes visible and no uploaded part is kept. */
  readonly signal?: AbortSignal;
}

/**
 * An object store: list, head, ranged get, put, delete, and (where the service has one) a
 * streamed upload.
 * @public
 */
export interface ObjectStore {
  /** Scheme-like name used in error messages and `__url__`, e.g. `s3://bucket`. */
  readonly name: string;
  /** One page of keys under `prefix`. */
  listPage(prefix: string, continuation?: string, signal?: AbortSignal): Promise<ObjectPage>;
  /** Every key under `prefix`, page after page. */
  list(prefix: string, signal?: AbortSignal): AsyncIterable<ObjectEntry>;
  head(key: string, signal?: AbortSignal): Promise<ObjectHead>;
  /** A ByteSource over one object: ranged reads and a resumable stream. */
  open(key: string): ByteSource;
  put(key: string, body: Uint8Array, signal?: AbortSignal): Promise<void>;
  /**
   * Remove one object. A key that does not exist is not an error (S3 answers 204 to it too), so
   * a retried or repeated delete succeeds.
   */
  delete(key: string, signal?: AbortSignal): Promise<void>;
  /**
   * Write one object from a body of unknown length, holding one part in memory at a time (S3
   * multipart upload). The object becomes visible whole once the body has ended, or not at all:
   * a failing body, request or abort leaves nothing behind. Optional: stores without it (HTTP,
   * AIStore's native API) are written with one {@link ObjectStore.put}, and writers such as
   * `toWebDataset` then buffer the whole object.
   */
  upload?(key: string, body: AsyncIterable<Uint8Array>, options?: UploadOptions): Promise<void>;
}

/**
 * Check that a value given as an object store has the methods a caller is about to use.
 * @param store - The value given.
 * @param argument - The argument named in the error, e.g. `fromObjects.store`.
 * @param methods - The methods the caller uses.
 * @throws InvalidArgumentError when one is missing.
 * @internal
 */
export function checkObjectStore(
  store: unknown,
  argument: string,
  methods: readonly ('listPage' | 'list' | 'head' | 'open' | 'put' | 'delete')[],
): asserts store is ObjectStore {
  const missing = methods.find((method) => typeof (store as Partial<Record<string, unknown>> | null)?.[method] !== 'function');
  if (typeof store !== 'object' || store === null || missing !== undefined) {
    throw new InvalidArgumentError(argument, `expected an ObjectStore (with ${methods.join(', ')}), got ${describe(store)}`);
  }
}
