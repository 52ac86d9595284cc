/**
 * The ObjectStore interface shared by the S3, AIStore and HTTP stores.
 *
 * @module
 */
import { createHash } from 'node:crypto';
import type { ByteSource } from '../core/byteSource.js';
import { excerpt, ObjectStoreError } from './errors.js';

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
 * A check that a listing's continuation tokens never repeat: a server that hands back a token it
 * gave before would page forever. Keeps a SHA-256 per page (32 bytes each, whatever the tokens'
 * size), so its memory follows the pages that arrived.
 * @param listing - Named in the error.
 * @returns A function to call with each new token; it throws `RXFEED_ERR_OBJECT_PROTOCOL` on a repeat.
 * @internal
 */
export function continuationGuard(listing: string): (token: string) => void {
  const seen = new Set<string>();
  return (token) => {
    const digest = createHash('sha256').update(token).digest('base64');
    if (seen.has(digest)) {
      throw new ObjectStoreError(
        'RXFEED_ERR_OBJECT_PROTOCOL',
        listing,
        `the listing repeated a continuation token after ${seen.size} page(s) (${excerpt(token, 64)}): it would never end`,
      );
    }
    seen.add(digest);
  };
}

/**
 * Every entry under `prefix`, page by page; only one page is held at a time. A repeated
 * continuation token fails typed (see {@link continuationGuard}).
 * @internal
 */
export async function* listAll(
  listPage: ObjectStore['listPage'],
  prefix: string,
  listing: string,
  signal?: AbortSignal,
): AsyncGenerator<ObjectEntry> {
  const guard = continuationGuard(listing);
  let continuation: string | undefined;
  do {
    const page = await listPage(prefix, continuation, signal);
    yield* page.entries;
    continuation = page.continuation;
    if (continuation !== undefined) guard(continuation);
  } while (continuation !== undefined);
}
