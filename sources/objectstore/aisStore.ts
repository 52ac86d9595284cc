/**
 * An AIStore bucket through AIStore's native HTTP API.
 *
 * @module
 */
import { InvalidArgumentError } from '../../src/errors.js';
import type { ByteSource } from '../core/byteSource.js';
import { excerpt, ObjectStoreError } from './errors.js';
import { header, type HttpAnswer, type HttpCall, type TransportOptions } from './http.js';
import { listAll, type ObjectEntry, type ObjectHead, type ObjectPage, type ObjectStore } from './store.js';
import { Transport } from './transport.js';
import { checkOptions, encodeKey, parseEndpoint, uriEncode } from './uri.js';

/**
 * Options of {@link aisStore}.
 * @public
 */
export interface AisStoreOptions extends TransportOptions {
  /** The bucket. */
  readonly bucket: string;
  /** AIStore's proxy (gateway) URL. Default: `AIS_ENDPOINT`. */
  readonly endpoint?: string;
  /** Backend provider of the bucket: `ais` (default), `s3`, `gcp`, `azure`, `ht`. */
  readonly provider?: string;
  /** Bucket namespace (`namespace` query parameter), for remote or namespaced buckets. */
  readonly namespace?: string;
  /**
   * Name of an ETL already running in the cluster: every object read is transformed by it on
   * the way out (`etl_name` query parameter). Sizes and ranges then refer to the transformed bytes.
   */
  readonly etl?: string;
  /** Entries per listing page (`pagesize`; 0, the default, lets the cluster choose). */
  readonly pageSize?: number;
  /** Where `AIS_ENDPOINT` is read from (default `process.env`). */
  readonly env?: Readonly<Record<string, string | undefined>>;
}

/**
 * An {@link ObjectStore} over an AIStore bucket, which can also read one member of a shard.
 * @public
 */
export interface AisStore extends ObjectStore {
  /**
   * One member of an archive object (tar, tgz, zip), extracted by the cluster (`archpath`): no
   * byte of the other members crosses the network.
   * @param key - The shard object, e.g. `train/shard-000042.tar`.
   * @param member - The member's path inside it, e.g. `sample-000123.jpg`.
   * @param signal - Aborts the request.
   * @returns The member's bytes.
   */
  getMember(key: string, member: string, signal?: AbortSignal): Promise<Uint8Array>;
}

/** One entry of AIStore's `LsoResult.entries`. */
interface AisListEntry {
  readonly name?: unknown;
  readonly size?: unknown;
  readonly checksum?: unknown;
  readonly version?: unknown;
}

/**
 * A store over AIStore's native HTTP API, with the request shapes of AIStore's HTTP API
 * documentation and Python SDK:
 *
 * - list: `GET /v1/buckets/<bucket>?provider=<p>` with the JSON body
 *   `{"action":"list","value":{"prefix","props":"name,size,checksum,version","continuation_token","uuid","pagesize"}}`,
 *   answered by `{"uuid","continuation_token","entries":[{"name","size",...}],"flags"}`; a
 *   non-empty `continuation_token` means more pages;
 * - read: `GET /v1/objects/<bucket>/<object>?provider=<p>` with `Range` (and `etl_name=` when an
 *   ETL is set; `archpath=` for {@link AisStore.getMember});
 * - head: `HEAD /v1/objects/<bucket>/<object>?provider=<p>` (size from `ais-size`, else
 *   `Content-Length`); put: `PUT /v1/objects/<bucket>/<object>?provider=<p>`; delete:
 *   `DELETE /v1/objects/<bucket>/<object>?provider=<p>` (a missing object, 404, is not an error).
 *
 * Reads resume broken bodies with `Range` from the last byte received, and verify the object
 * version (`ETag`, else `ais-version`, else `ais-checksum-value`) is unchanged. For AIStore's
 * S3-compatible API use {@link s3Store} with `endpoint: '<AIS_ENDPOINT>/s3'`.
 *
 * @example
 * ```ts
 * import { aisStore } from 'rxfeed/objectstore';
 * const store = aisStore({ bucket: 'imagenet' }); // AIS_ENDPOINT=http://ais-proxy:51080
 * const first = await store.listPage('train/');
 * const jpeg = await store.getMember('train/shard-000000.tar', 'n01440764_10026.jpg');
 * ```
 *
 * @param options - Bucket, endpoint, provider, ETL; see {@link AisStoreOptions}.
 * @returns The store, named `ais://<bucket>` (or `<provider>://<bucket>`).
 * @public
 */
export function aisStore(options: AisStoreOptions): AisStore {
  checkOptions('aisStore', options);
  const env = options.env ?? process.env;
  const endpointText = options.endpoint ?? env.AIS_ENDPOINT;
  if (endpointText === undefined || endpointText === '') {
    throw new InvalidArgumentError('aisStore.endpoint', 'no endpoint given and AIS_ENDPOINT is not set');
  }
  const { bucket } = options;
  if (typeof bucket !== 'string' || bucket === '' || bucket.includes('/')) {
    throw new InvalidArgumentError('aisStore.bucket', `must be a bucket name, got ${JSON.stringify(bucket)}`);
  }
  const provider = options.provider ?? 'ais';
  const pageSize = options.pageSize ?? 0;
  if (!Number.isSafeInteger(pageSize) || pageSize < 0) {
    throw new InvalidArgumentError('aisStore.pageSize', `must be a non-negative integer, got ${pageSize}`);
  }
  const endpoint = parseEndpoint('aisStore.endpoint', endpointText);
  const basePath = endpoint.pathname.replace(/\/+$/, '');
  const name = `${provider}://${bucket}`;
  const transport = new Transport(options, {
    version: (headers: HttpAnswer['headers']) =>
      header(headers, 'etag') ?? header(headers, 'ais-version') ?? header(headers, 'ais-checksum-value'),
  });

  // Paths are built as strings and sent as they are: a URL object would resolve the dot segments
  // of a key like `../other-bucket/k` and read another bucket.
  const call = (
    method: HttpCall['method'],
    path: string,
    extra: readonly (readonly [string, string])[] = [],
    headers: Record<string, string> = {},
    body?: Uint8Array,
  ): HttpCall => {
    const query: (readonly [string, string])[] = [['provider', provider]];
    if (options.namespace !== undefined) query.push(['namespace', options.namespace]);
    query.push(...extra);
    const search = query.map(([k, v]) => `${uriEncode(k)}=${uriEncode(v)}`).join('&');
    return { method, origin: endpoint.origin, path: `${basePath}${path}?${search}`, headers, body };
  };
  const objectPath = (key: string): string => `/v1/objects/${uriEncode(bucket)}/${encodeKey(key)}`;
  const etlQuery: (readonly [string, string])[] = options.etl === undefined ? [] : [['etl_name', options.etl]];
  const objectName = (key: string): string => `${name}/${key}`;

  const head = async (key: string, signal?: AbortSignal): Promise<ObjectHead> => {
    const answer = await transport.fetch(call('HEAD', objectPath(key)), objectName(key), signal);
    const size = header(answer.headers, 'ais-size') ?? header(answer.headers, 'content-length');
    const atime = header(answer.headers, 'ais-atime') ?? header(answer.headers, 'last-modified');
    const parsed = atime === undefined ? undefined : /^\d+$/.test(atime) ? new Date(Number(atime) / 1e6) : new Date(atime);
    return {
      key,
      size: size === undefined ? -1 : Number(size),
      etag: header(answer.headers, 'etag') ?? header(answer.headers, 'ais-version') ?? header(answer.headers, 'ais-checksum-value'),
      lastModified: parsed,
    };
  };

  const listPage = async (prefix: string, continuation?: string, signal?: AbortSignal): Promise<ObjectPage> => {
    // Our continuation carries AIStore's listing uuid too: the cluster resumes a listing by both.
    const listing = `${name}/${prefix}*`;
    const [uuid, token] = continuation === undefined ? ['', ''] : parseContinuation(continuation, listing);
    const value: Record<string, unknown> = { prefix, props: 'name,size,checksum,version', uuid, continuation_token: token };
    if (pageSize > 0) value.pagesize = pageSize;
    const answer = await transport.fetch(
      call(
        'GET',
        `/v1/buckets/${uriEncode(bucket)}`,
        [],
        { 'content-type': 'application/json', accept: 'application/json' },
        new TextEncoder().encode(JSON.stringify({ action: 'list', value })),
      ),
      listing,
      signal,
    );
    let result: { uuid?: unknown; continuation_token?: unknown; entries?: unknown };
    try {
      result = JSON.parse(Buffer.from(answer.body).toString('utf8')) as typeof result;
    } catch (error) {
      throw new ObjectStoreError(
        'RXFEED_ERR_OBJECT_PROTOCOL',
        listing,
        `unreadable listing: ${excerpt((error as Error).message)}`,
        answer.status,
        { cause: error },
      );
    }
    if (typeof result !== 'object' || result === null) {
      throw new ObjectStoreError('RXFEED_ERR_OBJECT_PROTOCOL', listing, 'a listing must be a JSON object', answer.status);
    }
    const entries: ObjectEntry[] = [];
    for (const entry of (Array.isArray(result.entries) ? result.entries : []) as AisListEntry[]) {
      if (typeof entry?.name !== 'string') {
        throw new ObjectStoreError(
          'RXFEED_ERR_OBJECT_PROTOCOL',
          listing,
          `listing entry without a name: ${excerpt(String(JSON.stringify(entry)))}`,
        );
      }
      const size = typeof entry.size === 'number' ? entry.size : -1;
      const etag =
        typeof entry.version === 'string' && entry.version !== ''
          ? entry.version
          : typeof entry.checksum === 'string'
            ? entry.checksum
            : undefined;
      entries.push(etag === undefined ? { key: entry.name, size } : { key: entry.name, size, etag });
    }
    const next = typeof result.continuation_token === 'string' ? result.continuation_token : '';
    if (next === '') return { entries };
    return { entries, continuation: JSON.stringify([typeof result.uuid === 'string' ? result.uuid : '', next]) };
  };

  const getCall = (key: string): HttpCall => call('GET', objectPath(key), etlQuery);

  return {
    name,
    listPage,
    list: (prefix, signal) => listAll(listPage, prefix, `${name}/${prefix}*`, signal),
    head,
    open: (key): ByteSource =>
      transport.byteSource(
        objectName(key),
        () => getCall(key),
        async (signal) => (await head(key, signal)).size,
      ),
    put: async (key, body, signal) => {
      await transport.fetch(call('PUT', objectPath(key), [], {}, body), objectName(key), signal);
    },
    delete: async (key, signal) => {
      // 404: already gone, which is what a delete asks for (as S3's 204 for a missing key).
      await transport.fetch(call('DELETE', objectPath(key)), objectName(key), signal, [404]);
    },
    getMember: async (key, member, signal) => {
      const answer = await transport.fetch(
        call('GET', objectPath(key), [['archpath', member], ...etlQuery]),
        `${objectName(key)}/${member}`,
        signal,
      );
      return answer.body;
    },
  };
}

/** Our continuation string back into AIStore's listing uuid and token, or a typed error. */
function parseContinuation(continuation: string, listing: string): [string, string] {
  try {
    const parsed: unknown = JSON.parse(continuation);
    if (Array.isArray(parsed) && parsed.length === 2 && typeof parsed[0] === 'string' && typeof parsed[1] === 'string') {
      return [parsed[0], parsed[1]];
    }
  } catch {
    // Reported below, with the other malformed shapes.
  }
  throw new InvalidArgumentError('continuation', `${listing}: not a continuation this store returned: ${excerpt(continuation)}`);
}
