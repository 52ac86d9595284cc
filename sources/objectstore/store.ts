/**
 * Listing helpers shared by the S3, AIStore and HTTP stores. The port they implement,
 * {@link ObjectStore}, lives in `sources/core/store.ts` (every source kind may depend on it);
 * it is re-exported here so that `rxfeed/objectstore` keeps exporting it.
 *
 * @module
 */
import { createHash } from 'node:crypto';
import type { ObjectEntry, ObjectStore } from '../core/store.js';
import { excerpt, ObjectStoreError } from './errors.js';

export type { ObjectEntry, ObjectHead, ObjectPage, ObjectStore, UploadOptions } from '../core/store.js';

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
