/**
 * A plain HTTP(S) object store: static files under a base URL (nginx, a CDN, a static bucket
 * website), listed from an nginx JSON autoindex or a JSON index file.
 *
 * @module
 */
import { InvalidArgumentError } from '../../src/errors.js';
import { ObjectStoreError } from './errors.js';
import { listAll, type ObjectEntry, type ObjectHead, type ObjectPage, type ObjectStore } from './store.js';
import { header, Transport, type HttpCall, type TransportOptions } from './transport.js';
import { encodeKey } from './uri.js';

/**
 * Options of {@link httpStore}.
 * @public
 */
export interface HttpStoreOptions extends TransportOptions {
  /** URL the keys are relative to, e.g. `http://127.0.0.1:8080/shards/` (a missing final `/` is added). */
  readonly baseUrl: string;
  /**
   * How to list: `'nginx-json'` reads nginx's `autoindex_format json` pages (walking into
   * sub-directories under the prefix); any other string is the URL of a JSON index (relative
   * to `baseUrl`), one of: an array of keys, an array of `{ key | name | url | path, size? }`, or
   * an object holding such an array under `files`, `keys`, `objects` or `shardlist`
   * (WebDataset's shard lists). Unset: the store cannot list.
   */
  readonly index?: 'nginx-json' | (string & {});
  /** Headers sent with every request, e.g. `{ authorization: 'Bearer ...' }`. */
  readonly headers?: Readonly<Record<string, string>>;
}

/**
 * An {@link ObjectStore} over static HTTP(S) files. Keys are paths relative to `baseUrl`
 * (percent-encoded per segment); a key that is itself an absolute `http(s)://` URL is used as
 * is, so brace-expanded shard URLs can be opened directly.
 *
 * Reads use byte ranges and resume broken bodies with `If-Range` against the ETag (nginx and
 * every CDN serve both); a server that ignores ranges still works, the skipped bytes being
 * discarded. Listing is one page (a directory listing or index has no pagination);
 * `size` is -1 for index entries that give none. `put` sends a PUT (WebDAV-enabled servers).
 *
 * @example
 * ```ts
 * const store = httpStore({ baseUrl: 'http://127.0.0.1:8080/shards/', index: 'nginx-json' });
 * const shards = await Array.fromAsync(store.list('train-'));
 * const urls = expandBraces('http://127.0.0.1:8080/shards/train-{000000..000007}.tar');
 * const first = store.open(urls[0]);
 * ```
 *
 * @param options - Base URL, listing method, headers; see {@link HttpStoreOptions}.
 * @returns The store, named by its base URL.
 * @public
 */
export function httpStore(options: HttpStoreOptions): ObjectStore {
  let base: URL;
  try {
    base = new URL(options.baseUrl.endsWith('/') ? options.baseUrl : `${options.baseUrl}/`);
  } catch (error) {
    throw new InvalidArgumentError('httpStore.baseUrl', `not a URL: ${JSON.stringify(options.baseUrl)} (${(error as Error).message})`);
  }
  if (base.protocol !== 'http:' && base.protocol !== 'https:') {
    throw new InvalidArgumentError('httpStore.baseUrl', `must be http(s), got ${base.protocol}`);
  }
  const extraHeaders = { ...options.headers };
  const transport = new Transport(options);
  const urlOf = (key: string): URL => (/^https?:\/\//i.test(key) ? new URL(key) : new URL(encodeKey(key), base));
  const call = (method: HttpCall['method'], key: string, body?: Uint8Array): HttpCall => ({
    method,
    url: urlOf(key),
    headers: { ...extraHeaders },
    body,
  });

  const head = async (key: string, signal?: AbortSignal): Promise<ObjectHead> => {
    const answer = await transport.fetch(call('HEAD', key), urlOf(key).href, signal);
    const length = header(answer.headers, 'content-length');
    const lastModified = header(answer.headers, 'last-modified');
    return {
      key,
      size: length === undefined ? -1 : Number(length),
      etag: header(answer.headers, 'etag'),
      lastModified: lastModified === undefined ? undefined : new Date(lastModified),
    };
  };

  const getJson = async (url: URL, signal?: AbortSignal): Promise<unknown> => {
    const answer = await transport.fetch({ method: 'GET', url, headers: { ...extraHeaders, accept: 'application/json' } }, url.href, signal);
    try {
      return JSON.parse(Buffer.from(answer.body).toString('utf8'));
    } catch (error) {
      throw new ObjectStoreError('RXFEED_ERR_OBJECT_PROTOCOL', url.href, `not a JSON listing: ${(error as Error).message}`, answer.status, { cause: error });
    }
  };

  // nginx `autoindex_format json`: [{ "name", "type": "file" | "directory", "mtime", "size" }].
  const listNginx = async (directory: string, prefix: string, out: ObjectEntry[], signal?: AbortSignal): Promise<void> => {
    const url = new URL(encodeKey(directory), base);
    const listing = await getJson(url, signal);
    if (!Array.isArray(listing)) {
      throw new ObjectStoreError('RXFEED_ERR_OBJECT_PROTOCOL', url.href, 'an nginx JSON autoindex must be an array');
    }
    for (const item of listing as { name?: unknown; type?: unknown; size?: unknown }[]) {
      if (typeof item?.name !== 'string') continue;
      const key = `${directory}${item.name}`;
      if (item.type === 'directory') {
        const child = `${key}/`;
        if (child.startsWith(prefix) || prefix.startsWith(child)) await listNginx(child, prefix, out, signal);
      } else if (item.type === 'file' && key.startsWith(prefix)) {
        out.push({ key, size: typeof item.size === 'number' ? item.size : -1 });
      }
    }
  };

  const listIndex = async (indexUrl: string, prefix: string, signal?: AbortSignal): Promise<ObjectEntry[]> => {
    const url = new URL(indexUrl, base);
    const document = await getJson(url, signal);
    const list = Array.isArray(document)
      ? document
      : ['files', 'keys', 'objects', 'shardlist']
          .map((field) => (document as Record<string, unknown> | null)?.[field])
          .find(Array.isArray);
    if (!Array.isArray(list)) {
      throw new ObjectStoreError('RXFEED_ERR_OBJECT_PROTOCOL', url.href, 'a JSON index must be an array, or hold one under files, keys, objects or shardlist');
    }
    const entries: ObjectEntry[] = [];
    for (const item of list as unknown[]) {
      const record = (typeof item === 'object' && item !== null ? item : {}) as Record<string, unknown>;
      const key = typeof item === 'string' ? item : [record.key, record.name, record.url, record.path].find((v) => typeof v === 'string');
      if (typeof key !== 'string') {
        throw new ObjectStoreError('RXFEED_ERR_OBJECT_PROTOCOL', url.href, `index entry without a key: ${JSON.stringify(item)}`);
      }
      if (!key.startsWith(prefix)) continue;
      entries.push({ key, size: typeof record.size === 'number' ? record.size : -1 });
    }
    return entries;
  };

  const listPage = async (prefix: string, _continuation?: string, signal?: AbortSignal): Promise<ObjectPage> => {
    const { index } = options;
    if (index === undefined) {
      throw new InvalidArgumentError('httpStore.index', `${base.href} cannot be listed without an index ('nginx-json' or the URL of a JSON index)`);
    }
    if (index !== 'nginx-json') return { entries: await listIndex(index, prefix, signal) };
    const entries: ObjectEntry[] = [];
    await listNginx(prefix.slice(0, prefix.lastIndexOf('/') + 1), prefix, entries, signal);
    entries.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
    return { entries };
  };

  return {
    name: base.href,
    listPage,
    list: (prefix, signal) => listAll(listPage, prefix, signal),
    head,
    open: (key) => transport.byteSource(urlOf(key).href, () => call('GET', key), async (signal) => (await head(key, signal)).size),
    put: async (key, body, signal) => {
      await transport.fetch(call('PUT', key, body), urlOf(key).href, signal);
    },
  };
}
