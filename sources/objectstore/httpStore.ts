/**
 * A plain HTTP(S) object store: static files under a base URL (nginx, a CDN, a static bucket
 * website), listed from an nginx JSON autoindex or a JSON index file.
 *
 * @module
 */
import { InvalidArgumentError } from '../../src/errors.js';
import { excerpt, ObjectStoreError } from './errors.js';
import { header, type HttpCall, type TransportOptions } from './http.js';
import { parseJsonIndex, parseNginxAutoindex } from './listings.js';
import { listAll, type ObjectEntry, type ObjectHead, type ObjectPage, type ObjectStore } from './store.js';
import { Transport } from './transport.js';
import { checkOptions, encodeKey, parseEndpoint, redactUrl } from './uri.js';

/** How deep the nginx listing walks below the listed directory: deeper is a loop (a symlink cycle). */
export const MAX_LISTING_DEPTH = 32;

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
  /**
   * Headers sent with every request to `baseUrl`'s origin, e.g. `{ authorization: 'Bearer ...' }`.
   * They are never sent to another origin: not to an allowed one in `origins`, and redirects
   * are not followed (a 3xx fails with `RXFEED_ERR_OBJECT_REQUEST`).
   */
  readonly headers?: Readonly<Record<string, string>>;
  /**
   * Other origins (`https://cdn.example.com`) whose absolute URLs a key, listing or index entry
   * may name; they are fetched without `headers`. Default: none, so an entry naming another
   * host fails with `RXFEED_ERR_OBJECT_ORIGIN` instead of sending requests (and credentials)
   * wherever a listing points.
   */
  readonly origins?: readonly string[];
}

/**
 * An {@link ObjectStore} over static HTTP(S) files. Keys are paths relative to `baseUrl`
 * (percent-encoded per segment) and cannot leave it: a key with a `.` or `..` segment fails
 * with `RXFEED_ERR_OBJECT_KEY` (web servers resolve them, even percent-encoded). A key that is
 * itself an absolute `http(s)://` URL is used as is, so brace-expanded shard URLs can be
 * opened directly, when it lies under `baseUrl` or on one of `origins`; anything else fails
 * with `RXFEED_ERR_OBJECT_ORIGIN`. `headers` go to `baseUrl`'s origin only.
 *
 * Reads use byte ranges and resume broken bodies with `If-Range` against the ETag (nginx and
 * every CDN serve both); a server that ignores ranges still works, the skipped bytes being
 * discarded. Listing is one page (a directory listing or index has no pagination);
 * `size` is -1 for index entries that give none. `put` sends a PUT and `delete` a DELETE
 * (WebDAV-enabled servers, e.g. nginx with `dav_methods PUT DELETE`; others answer 405, which
 * fails with `RXFEED_ERR_OBJECT_REQUEST`); deleting a key that is not there (404) succeeds.
 *
 * @example
 * ```ts
 * import { expandBraces, httpStore } from 'rxfeed/objectstore';
 * const store = httpStore({ baseUrl: 'http://127.0.0.1:8080/shards/', index: 'nginx-json' });
 * const shards: string[] = [];
 * for await (const entry of store.list('train-')) shards.push(entry.key); // Array.fromAsync needs Node 22
 * const urls = expandBraces('http://127.0.0.1:8080/shards/train-{000000..000007}.tar');
 * const first = store.open(urls[0]);
 * ```
 *
 * @param options - Base URL, listing method, headers; see {@link HttpStoreOptions}.
 * @returns The store, named by its base URL.
 * @public
 */
export function httpStore(options: HttpStoreOptions): ObjectStore {
  checkOptions('httpStore', options);
  const { baseUrl } = options;
  const base = parseEndpoint('httpStore.baseUrl', typeof baseUrl === 'string' && !baseUrl.endsWith('/') ? `${baseUrl}/` : baseUrl);
  const origins = new Set<string>();
  if (options.origins !== undefined && !Array.isArray(options.origins)) {
    throw new InvalidArgumentError('httpStore.origins', 'must be an array of origins');
  }
  for (const origin of options.origins ?? []) {
    let parsed: URL | undefined;
    try {
      parsed = new URL(origin);
    } catch {
      parsed = undefined;
    }
    if (parsed === undefined || (parsed.protocol !== 'http:' && parsed.protocol !== 'https:')) {
      throw new InvalidArgumentError('httpStore.origins', `not an http(s) origin: ${excerpt(String(origin))}`);
    }
    origins.add(parsed.origin);
  }
  const extraHeaders = { ...options.headers };
  const transport = new Transport(options);
  const name = redactUrl(base.href);

  /** Where a key is fetched: origin, raw path, whether the store's headers go along, and its name in errors. */
  interface Target {
    readonly origin: string;
    readonly path: string;
    readonly trusted: boolean;
    readonly name: string;
  }
  const targetOf = (key: string): Target => {
    if (typeof key !== 'string') throw new InvalidArgumentError('key', `must be a string, got ${typeof key}`);
    if (/^https?:\/\//i.test(key)) {
      // WHATWG URL parsing resolves dot segments (and %2E forms, and backslashes): look first.
      const raw = key.replace(/^https?:\/\/[^/?#\\]*/i, '');
      if (/(?:^|[/\\])(?:\.|%2e){1,2}(?=[/\\?#]|$)/i.test(raw)) {
        throw new ObjectStoreError('RXFEED_ERR_OBJECT_KEY', redactUrl(key), 'a URL with a . or .. segment is not a literal name');
      }
      let url: URL;
      try {
        url = new URL(key);
      } catch {
        throw new ObjectStoreError('RXFEED_ERR_OBJECT_KEY', redactUrl(key), 'not a URL');
      }
      const path = `${url.pathname}${url.search}`;
      const named = redactUrl(url.href);
      if (url.origin === base.origin) {
        if (!url.pathname.startsWith(base.pathname)) {
          throw new ObjectStoreError('RXFEED_ERR_OBJECT_KEY', named, `outside the store's base path ${base.pathname}`);
        }
        return { origin: url.origin, path, trusted: true, name: named };
      }
      if (origins.has(url.origin)) return { origin: url.origin, path, trusted: false, name: named };
      throw new ObjectStoreError(
        'RXFEED_ERR_OBJECT_ORIGIN',
        named,
        `on ${url.origin}, not the store's origin ${base.origin}; list it in httpStore's origins to allow it (its requests never carry the store's headers)`,
      );
    }
    if (key.split('/').some((segment) => segment === '.' || segment === '..')) {
      throw new ObjectStoreError(
        'RXFEED_ERR_OBJECT_KEY',
        `${name}${excerpt(key)}`,
        'a key with a . or .. segment would leave the base path',
      );
    }
    // Appended to the base path as a string: a URL reference would let `/x` or `//host/x` escape.
    const path = `${base.pathname}${encodeKey(key)}`;
    return { origin: base.origin, path, trusted: true, name: redactUrl(`${base.origin}${path}`) };
  };
  const call = (method: HttpCall['method'], target: Target, body?: Uint8Array, accept?: string): HttpCall => {
    const headers: Record<string, string> = target.trusted ? { ...extraHeaders } : {};
    if (accept !== undefined) headers.accept = accept;
    return { method, origin: target.origin, path: target.path, headers, body };
  };

  const head = async (key: string, signal?: AbortSignal): Promise<ObjectHead> => {
    const target = targetOf(key);
    const answer = await transport.fetch(call('HEAD', target), target.name, signal);
    const length = header(answer.headers, 'content-length');
    const lastModified = header(answer.headers, 'last-modified');
    return {
      key,
      size: length === undefined || !/^\d+$/.test(length) ? -1 : Number(length),
      etag: header(answer.headers, 'etag'),
      lastModified: lastModified === undefined ? undefined : new Date(lastModified),
    };
  };

  const getText = async (target: Target, signal?: AbortSignal): Promise<string> => {
    const answer = await transport.fetch(call('GET', target, undefined, 'application/json'), target.name, signal);
    return Buffer.from(answer.body).toString('utf8');
  };

  // nginx `autoindex_format json`, walked depth-first into sub-directories under the prefix.
  const listNginx = async (directory: string, prefix: string, depth: number, out: ObjectEntry[], signal?: AbortSignal): Promise<void> => {
    const target = targetOf(directory);
    if (depth > MAX_LISTING_DEPTH) {
      throw new ObjectStoreError(
        'RXFEED_ERR_OBJECT_PROTOCOL',
        target.name,
        `directories nest deeper than ${MAX_LISTING_DEPTH} levels below the listed one (a loop?)`,
      );
    }
    for (const item of parseNginxAutoindex(await getText(target, signal), target.name)) {
      const key = `${directory}${item.name}`;
      if (item.type === 'directory') {
        const child = `${key}/`;
        if (child.startsWith(prefix) || prefix.startsWith(child)) await listNginx(child, prefix, depth + 1, out, signal);
      } else if (key.startsWith(prefix)) {
        out.push({ key, size: item.size });
      }
    }
  };

  const listPage = async (prefix: string, _continuation?: string, signal?: AbortSignal): Promise<ObjectPage> => {
    const { index } = options;
    if (index === undefined) {
      throw new InvalidArgumentError(
        'httpStore.index',
        `${name} cannot be listed without an index ('nginx-json' or the URL of a JSON index)`,
      );
    }
    if (index !== 'nginx-json') {
      const target = targetOf(index);
      return { entries: parseJsonIndex(await getText(target, signal), target.name).filter((entry) => entry.key.startsWith(prefix)) };
    }
    const entries: ObjectEntry[] = [];
    await listNginx(prefix.slice(0, prefix.lastIndexOf('/') + 1), prefix, 0, entries, signal);
    entries.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
    return { entries };
  };

  return {
    name,
    listPage,
    list: (prefix, signal) => listAll(listPage, prefix, `${name}${prefix}*`, signal),
    head,
    open: (key) => {
      const target = targetOf(key);
      return transport.byteSource(
        target.name,
        () => call('GET', target),
        async (signal) => (await head(key, signal)).size,
      );
    },
    put: async (key, body, signal) => {
      const target = targetOf(key);
      await transport.fetch(call('PUT', target, body), target.name, signal);
    },
    delete: async (key, signal) => {
      const target = targetOf(key);
      // 404: already gone, which is what a delete asks for (as S3's 204 for a missing key).
      await transport.fetch(call('DELETE', target), target.name, signal, [404]);
    },
  };
}
