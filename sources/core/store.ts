/**
 * The ObjectStore port: list, head, ranged get and put over a bucket or a base URL. The S3,
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
 * An object store: list, head, ranged get, put.
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
  methods: readonly ('listPage' | 'list' | 'head' | 'open' | 'put')[],
): asserts store is ObjectStore {
  const missing = methods.find((method) => typeof (store as Partial<Record<string, unknown>> | null)?.[method] !== 'function');
  if (typeof store !== 'object' || store === null || missing !== undefined) {
    throw new InvalidArgumentError(argument, `expected an ObjectStore (with ${methods.join(', ')}), got ${describe(store)}`);
  }
}
