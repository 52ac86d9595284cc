/**
 * The ObjectStore port: list, head, ranged get and put over a bucket or a base URL. The S3,
 * AIStore and HTTP stores of `rxfeed/objectstore` implement it; any source kind that reads
 * objects (WebDataset's `{ store, keys }`) depends only on this port, never on a store.
 *
 * @module
 */
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
