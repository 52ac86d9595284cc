/**
 * Paths and `http(s)://` URLs as ByteSources: the one opener behind every source that takes a
 * list of shard or file names.
 *
 * Local paths read through {@link fileByteSource}. URLs read through the HTTP object store of
 * `rxfeed/objectstore`, one store per origin that the list names, created on first use: it is
 * imported lazily (so reading local files never loads undici), which is why this opener lives
 * in the core beside `fileByteSource` rather than in one source kind, and why a kind reading URL
 * lists never imports `objectstore` itself. This module is the one place in `sources/core` that
 * names another folder of `sources/` (the lint configuration says so).
 *
 * @module
 * @internal
 */
import { InvalidArgumentError } from '../../src/errors.js';
import { quoted } from '../../src/excerpt.js';
import type { HttpStoreOptions } from '../objectstore/httpStore.js';
import type { ByteSource } from './byteSource.js';
import { fileByteSource } from './fileByteSource.js';
import type { ObjectStore } from './store.js';

/**
 * Options of the HTTP store that reads `http(s)://` names (headers, dispatcher, retry policy,
 * timeouts), as `httpStore` of `rxfeed/objectstore` takes them; the base URL is each name's
 * origin.
 * @public
 */
export type HttpUrlOptions = Omit<HttpStoreOptions, 'baseUrl' | 'index'>;

const HTTP_URL = /^https?:\/\//i;

/** Whether `name` is read over HTTP rather than from the local file system. */
export function isHttpUrl(name: string): boolean {
  return HTTP_URL.test(name);
}

/**
 * Check a path or URL before anything is opened: an `http(s)://` name must parse as a URL.
 * @param name - The path or URL.
 * @param argument - The argument named in the error, e.g. `fromWebDataset.input[3]`.
 * @throws InvalidArgumentError for a URL that does not parse.
 */
export function checkPathOrUrl(name: string, argument: string): void {
  if (isHttpUrl(name) && !URL.canParse(name)) {
    throw new InvalidArgumentError(argument, `${quoted(name, 80)} is not a valid URL`);
  }
}

/**
 * An opener of paths and URLs for one source (one call of `fromWebDataset`, say): it keeps one
 * HTTP store per origin, so connections and retry state are shared by the shards of an origin.
 * An HTTP store sends nothing to, and opens nothing on, an origin other than its own, and these
 * names are the user's own list, not a server's answer: so one store per origin is safe.
 *
 * @param chunkBytes - Bytes per read of a local file.
 * @param http - Options of the HTTP stores.
 * @returns `open(name)`, resolving to the name's ByteSource; names must have passed
 *   {@link checkPathOrUrl}.
 */
export function pathOrUrlOpener(chunkBytes: number, http: HttpUrlOptions | undefined): (name: string) => Promise<ByteSource> {
  const stores = new Map<string, Promise<ObjectStore>>();
  return async (name) => {
    if (!isHttpUrl(name)) return fileByteSource(name, chunkBytes);
    const origin = new URL(name).origin;
    let store = stores.get(origin);
    if (store === undefined) {
      store = import('../objectstore/httpStore.js').then(({ httpStore }) => httpStore({ ...http, baseUrl: `${origin}/` }));
      stores.set(origin, store);
    }
    return (await store).open(name);
  };
}
