/**
 * An S3-compatible object store (AWS S3, Ceph RGW, MinIO, AIStore's S3 API) over undici, signed
 * with rxfeed's own SigV4 signer.
 *
 * @module
 */
import { InvalidArgumentError } from '../../src/errors.js';
import { quoted } from '../../src/excerpt.js';
import type { ByteSource } from '../core/byteSource.js';
import { ObjectStoreError } from './errors.js';
import { header, type HttpCall, type TransportOptions } from './http.js';
import { presignQuery, sha256Hex, signHeaders, type SigV4Credentials } from './sigv4.js';
import type { UploadOptions } from '../core/store.js';
import { multipartUpload } from './multipart.js';
import { listAll, type ObjectHead, type ObjectPage, type ObjectStore } from './store.js';
import { Transport } from './transport.js';
import { checkOptions, encodeKey, parseEndpoint, uriEncode } from './uri.js';
import { describeS3Error, parseListObjectsV2 } from './xml.js';

/**
 * Options of {@link s3Store}. Every unset field falls back to the AWS environment variables.
 * @public
 */
export interface S3StoreOptions extends TransportOptions {
  /** The bucket. */
  readonly bucket: string;
  /**
   * Base URL of the service, e.g. `http://127.0.0.1:7480`. Default: `AWS_ENDPOINT_URL`, else
   * `https://s3.<region>.amazonaws.com`.
   */
  readonly endpoint?: string;
  /** Signing region. Default: `AWS_REGION`, else `AWS_DEFAULT_REGION`, else `us-east-1`. */
  readonly region?: string;
  /**
   * Default: `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY` and `AWS_SESSION_TOKEN`; `null` (or no
   * credentials anywhere) sends unsigned requests, for public buckets.
   */
  readonly credentials?: SigV4Credentials | null;
  /**
   * Address the bucket in the path (`endpoint/bucket/key`) rather than the host name
   * (`bucket.endpoint/key`). Default: true for a custom endpoint (RGW, MinIO, AIStore need it),
   * false for AWS. In the host name the bucket must be a DNS name (letters, digits, hyphens and
   * dots between labels); any other name fails with an `InvalidArgumentError` rather than address
   * another host.
   */
  readonly forcePathStyle?: boolean;
  /** Keys per ListObjectsV2 page (`max-keys`, 1 to 1000; default 1000). */
  readonly pageSize?: number;
  /** Where the defaults are read from (default `process.env`). */
  readonly env?: Readonly<Record<string, string | undefined>>;
}

/**
 * An {@link ObjectStore} over an S3 bucket, which can also presign URLs.
 * @public
 */
export interface S3Store extends ObjectStore {
  /**
   * A presigned URL (SigV4 query form) that lets anyone holding it read the object until it expires.
   * @param key - The object.
   * @param expiresInSeconds - Validity (default 3600, at most 604800).
   */
  presign(key: string, expiresInSeconds?: number): string;
  /**
   * Create the bucket (CreateBucket); succeeds when it already exists and is yours.
   * @param signal - Aborts the request.
   */
  createBucket(signal?: AbortSignal): Promise<void>;
  /**
   * Write one object from a body of unknown length with S3's multipart upload: a body shorter
   * than one part is a single PutObject; a longer one is CreateMultipartUpload, one UploadPart per
   * `partSize` bytes (each signed and retried per the store's retry policy) and
   * CompleteMultipartUpload, after which the object appears whole. On any failure (the body
   * throws, a request fails for good, `signal` aborts, or Complete answers 200 with an `<Error>`
   * that retries do not clear) it sends AbortMultipartUpload, so nothing becomes visible and no
   * part is left stored, and fails with that error.
   *
   * Memory: one part (`partSize`, default 8 MiB, at least 5 MiB and at most 5 GiB as S3 requires;
   * briefly two while a part is joined from the body's chunks). At most 10,000 parts.
   *
   * @example
   * ```ts
   * import { createReadStream } from 'node:fs';
   * const store = s3Store({ endpoint: 'http://127.0.0.1:7480', bucket: 'shards' });
   * await store.upload('train/shard-000000.tar', createReadStream('out/train-000000.tar'), { partSize: 16 * 1024 * 1024 });
   * ```
   * @param key - The object.
   * @param body - Its bytes, read one part ahead of what has been uploaded.
   * @param options - `partSize`, `signal`; see {@link UploadOptions}.
   */
  upload(key: string, body: AsyncIterable<Uint8Array>, options?: UploadOptions): Promise<void>;
}

const EMPTY_SHA256 = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';

/**
 * An S3-compatible store: ListObjectsV2 with continuation tokens, GetObject with byte ranges
 * (resumed with `If-Range` when a body breaks), HeadObject, PutObject, DeleteObject (a missing
 * key is not an error: S3 answers 204) and multipart upload ({@link S3Store.upload}), every
 * request signed with SigV4 (a fresh signature per attempt).
 *
 * A listing page holds at most `pageSize` entries; `open(key).stream()` reads the body only as
 * fast as it is iterated, at most 1 MiB ahead of the chunk the consumer holds (see
 * {@link TransportOptions}).
 *
 * @example
 * ```ts
 * import { s3Store } from 'rxfeed/objectstore';
 * const store = s3Store({ endpoint: 'http://127.0.0.1:7480', bucket: 'shards' });
 * for await (const entry of store.list('train/')) console.log(entry.key, entry.size);
 * const header = await store.open('train/shard-000000.tar').read(0, 512);
 * ```
 *
 * @param options - Bucket, endpoint, region, credentials; see {@link S3StoreOptions}.
 * @returns The store, named `s3://<bucket>`.
 * @public
 */
export function s3Store(options: S3StoreOptions): S3Store {
  checkOptions('s3Store', options);
  const env = options.env ?? process.env;
  const { bucket } = options;
  if (typeof bucket !== 'string' || bucket === '' || bucket.includes('/')) {
    throw new InvalidArgumentError('s3Store.bucket', `must be a bucket name, got ${JSON.stringify(bucket)}`);
  }
  const region = options.region ?? env.AWS_REGION ?? env.AWS_DEFAULT_REGION ?? 'us-east-1';
  const customEndpoint = options.endpoint ?? env.AWS_ENDPOINT_URL;
  const endpoint = parseEndpoint('s3Store.endpoint', customEndpoint ?? `https://s3.${region}.amazonaws.com`);
  const pathStyle = options.forcePathStyle ?? customEndpoint !== undefined;
  const pageSize = options.pageSize ?? 1000;
  if (!Number.isSafeInteger(pageSize) || pageSize < 1 || pageSize > 1000) {
    throw new InvalidArgumentError('s3Store.pageSize', `must be 1 to 1000, got ${pageSize}`);
  }
  const credentials = resolveCredentials(options.credentials, env);
  const name = `s3://${bucket}`;

  // Virtual-hosted style puts the bucket in the host name: only DNS labels may go there, or a
  // bucket like `evil.example?x` would send the signed request to another host.
  if (!pathStyle && !DNS_NAME.test(bucket)) {
    throw new InvalidArgumentError(
      's3Store.bucket',
      `${quoted(bucket, 80)} is not a DNS name, so it cannot be a virtual host; set forcePathStyle`,
    );
  }
  // Path under the endpoint's own path (an endpoint may be mounted below /), already encoded by URL.
  const basePath = endpoint.pathname.replace(/\/+$/, '');
  if (!decodes(basePath)) {
    throw new InvalidArgumentError('s3Store.endpoint', `its path ${quoted(basePath, 80)} is not valid percent-encoding`);
  }
  const origin = pathStyle ? endpoint.origin : `${endpoint.protocol}//${bucket}.${endpoint.host}`;
  const host = new URL(origin).host;
  const bucketPath = `${basePath}${pathStyle ? `/${uriEncode(bucket)}` : ''}`;
  // The key is a literal name: every segment encoded, dot segments as %2E, and the path is never
  // normalised (no URL object), so `../b/k` stays a key of this bucket.
  const objectPath = (key: string): string => (key === '' && pathStyle ? bucketPath : `${bucketPath}/${encodeKey(key)}`);

  const call = (
    method: HttpCall['method'],
    key: string,
    query: readonly (readonly [string, string])[] = [],
    body?: Uint8Array,
  ): HttpCall => {
    // Encoded here (not by URLSearchParams, which writes spaces as '+') so the server decodes
    // exactly the values that were signed.
    const search = query.map(([k, v]) => `${uriEncode(k)}=${uriEncode(v)}`).join('&');
    return { method, origin, path: search === '' ? objectPath(key) : `${objectPath(key)}?${search}`, headers: {}, body };
  };

  const sign = (request: HttpCall): HttpCall => {
    if (credentials === null) return request;
    const payloadHash = request.body === undefined ? EMPTY_SHA256 : sha256Hex(request.body);
    const question = request.path.indexOf('?');
    const path = question < 0 ? request.path : request.path.slice(0, question);
    const search = question < 0 ? '' : request.path.slice(question);
    // SigV4 canonicalises the decoded path with its own encoding, under which `.` is unreserved:
    // RGW (and S3) decode the %2E we send and sign `..` the same way.
    const signed = signHeaders(
      { method: request.method, path: decodePath(path), query: decodeQuery(search), headers: [['host', host]], payloadHash },
      { credentials, region, service: 's3', date: new Date(), contentSha256Header: true },
    );
    const headers = { ...request.headers };
    for (const [key, value] of signed.headers) headers[key] = value;
    return { ...request, headers };
  };

  const transport = new Transport(options, { sign, describe: describeS3Error });
  const objectName = (key: string): string => `${name}/${key}`;

  const head = async (key: string, signal?: AbortSignal): Promise<ObjectHead> => {
    const answer = await transport.fetch(call('HEAD', key), objectName(key), signal);
    const lastModified = header(answer.headers, 'last-modified');
    return {
      key,
      size: Number(header(answer.headers, 'content-length') ?? Number.NaN),
      etag: header(answer.headers, 'etag'),
      lastModified: lastModified === undefined ? undefined : new Date(lastModified),
    };
  };

  const listPage = async (prefix: string, continuation?: string, signal?: AbortSignal): Promise<ObjectPage> => {
    const query: [string, string][] = [
      ['list-type', '2'],
      ['max-keys', String(pageSize)],
      ['prefix', prefix],
    ];
    if (continuation !== undefined) query.push(['continuation-token', continuation]);
    const listing = `${name}/${prefix}*`;
    const answer = await transport.fetch(call('GET', '', query), listing, signal);
    return parseListObjectsV2(Buffer.from(answer.body).toString('utf8'), listing);
  };

  const put = async (key: string, body: Uint8Array, signal?: AbortSignal): Promise<void> => {
    await transport.fetch(call('PUT', key, [], body), objectName(key), signal);
  };

  return {
    name,
    listPage,
    list: (prefix, signal) => listAll(listPage, prefix, `${name}/${prefix}*`, signal),
    head,
    open: (key: string): ByteSource =>
      transport.byteSource(
        objectName(key),
        () => call('GET', key),
        async (signal) => (await head(key, signal)).size,
      ),
    put,
    delete: async (key, signal) => {
      // S3 answers 204 whether or not the key existed.
      await transport.fetch(call('DELETE', key), objectName(key), signal);
    },
    upload: (key, body, uploadOptions) =>
      multipartUpload(
        {
          object: objectName(key),
          policy: transport.policy,
          fetch: (method, query, payload, signal) => transport.fetch(call(method, key, query, payload), objectName(key), signal),
          put: (payload, signal) => put(key, payload, signal),
        },
        body,
        uploadOptions,
      ),
    createBucket: async (signal) => {
      const answer = await transport.fetch(call('PUT', ''), name, signal, [409]);
      if (answer.status === 409 && !Buffer.from(answer.body).toString('utf8').includes('BucketAlreadyOwnedByYou')) {
        throw new ObjectStoreError(
          'RXFEED_ERR_OBJECT_REQUEST',
          name,
          `CreateBucket answered 409: ${describeS3Error(Buffer.from(answer.body).toString('utf8'))}`,
          409,
        );
      }
    },
    presign: (key, expiresInSeconds = 3600) => {
      // A string, not a URL object: the %2E of dot segments must survive.
      const target = `${origin}${objectPath(key)}`;
      if (credentials === null) return target;
      const { queryString } = presignQuery(
        { method: 'GET', path: decodePath(objectPath(key)), headers: [['host', host]], payloadHash: 'UNSIGNED-PAYLOAD' },
        { credentials, region, service: 's3', date: new Date() },
        expiresInSeconds,
      );
      return `${target}?${queryString}`;
    },
  };
}

function resolveCredentials(
  given: SigV4Credentials | null | undefined,
  env: Readonly<Record<string, string | undefined>>,
): SigV4Credentials | null {
  if (given !== undefined) return given;
  const accessKeyId = env.AWS_ACCESS_KEY_ID;
  const secretAccessKey = env.AWS_SECRET_ACCESS_KEY;
  if (accessKeyId === undefined || secretAccessKey === undefined) return null;
  const sessionToken = env.AWS_SESSION_TOKEN;
  return sessionToken === undefined || sessionToken === ''
    ? { accessKeyId, secretAccessKey }
    : { accessKeyId, secretAccessKey, sessionToken };
}

/** Dot-separated DNS labels (letters, digits, inner hyphens): what a virtual-hosted bucket may be. */
const DNS_NAME = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*$/i;

/** Whether every segment of an encoded path decodes (so signing it cannot throw). */
function decodes(pathname: string): boolean {
  try {
    decodePath(pathname);
    return true;
  } catch {
    return false;
  }
}

function decodePath(pathname: string): string {
  return pathname.split('/').map(decodeURIComponent).join('/');
}

function decodeQuery(search: string): [string, string][] {
  const query = search.startsWith('?') ? search.slice(1) : search;
  if (query === '') return [];
  return query.split('&').map((pair) => {
    const equals = pair.indexOf('=');
    return equals < 0
      ? [decodeURIComponent(pair), '']
      : [decodeURIComponent(pair.slice(0, equals)), decodeURIComponent(pair.slice(equals + 1))];
  });
}
