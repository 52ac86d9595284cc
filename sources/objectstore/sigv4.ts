/**
 * AWS Signature Version 4: the header form (an `Authorization` header) and the presigned-query
 * form (`X-Amz-Signature` in the URL), checked against the AWS signing test suite.
 *
 * @module
 */
import { createHash, createHmac } from 'node:crypto';
import { InvalidArgumentError } from '../../src/errors.js';
import { describe } from '../../src/excerpt.js';
import { uriEncode } from './uri.js';

/**
 * Credentials that sign a request.
 * @public
 */
export interface SigV4Credentials {
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  /** Temporary credentials' token (`AWS_SESSION_TOKEN`), sent as `X-Amz-Security-Token`. */
  readonly sessionToken?: string;
}

/**
 * The parts of a request that SigV4 signs.
 * @public
 */
export interface SigV4Request {
  /** `GET`, `PUT` ... */
  readonly method: string;
  /** The path, not percent-encoded (`/bucket/my key.tar`): the signer encodes it as S3 does. */
  readonly path: string;
  /** Query parameters as decoded name/value pairs, in any order. */
  readonly query?: readonly (readonly [string, string])[];
  /** Headers to sign, `host` included; repeated names are joined with commas in order. */
  readonly headers: readonly (readonly [string, string])[];
  /**
   * Hex SHA-256 of the body, or `UNSIGNED-PAYLOAD` (S3). Default: the hash of an empty body.
   */
  readonly payloadHash?: string;
}

/**
 * Who signs, where and when.
 * @public
 */
export interface SigV4Options {
  readonly credentials: SigV4Credentials;
  readonly region: string;
  /** `s3` for S3; the test suite uses `service`. */
  readonly service: string;
  /** The signing time. */
  readonly date: Date;
  /**
   * Remove `.`/`..` segments and repeated slashes from the path before signing (default
   * false). Every AWS service but S3 does this; S3 signs keys exactly as they are.
   */
  readonly normalizePath?: boolean;
  /**
   * Include the session token in what is signed (default true). STS-style services want it
   * added after signing instead.
   */
  readonly signSessionToken?: boolean;
  /** Add and sign `x-amz-content-sha256` (header form; S3 requires it). Default false. */
  readonly contentSha256Header?: boolean;
}

/**
 * A signature and the intermediate strings that produced it (kept for diagnosis and specs).
 * @public
 */
export interface SigV4Signature {
  readonly canonicalRequest: string;
  readonly stringToSign: string;
  readonly signature: string;
}

/**
 * The result of {@link signHeaders}: the headers to add to the request.
 * @public
 */
export interface SigV4SignedHeaders extends SigV4Signature {
  /** `x-amz-date`, `x-amz-security-token`, `x-amz-content-sha256` as applicable, and `authorization`. */
  readonly headers: readonly (readonly [string, string])[];
}

/**
 * The result of {@link presignQuery}: the complete query string of the presigned URL.
 * @public
 */
export interface SigV4SignedQuery extends SigV4Signature {
  /** The request's own parameters, then the `X-Amz-*` ones, `X-Amz-Signature` last; decoded pairs. */
  readonly query: readonly (readonly [string, string])[];
  /** The same, encoded: append after `?`. */
  readonly queryString: string;
}

const ALGORITHM = 'AWS4-HMAC-SHA256';
const EMPTY_SHA256 = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';

/**
 * Sign a request with an `Authorization` header (SigV4 header form).
 *
 * @example
 * ```ts
 * import { signHeaders, type SigV4Credentials } from 'rxfeed/objectstore';
 * declare const credentials: SigV4Credentials;
 * const headers: Record<string, string> = {};
 * const signed = signHeaders(
 *   { method: 'GET', path: '/bucket/key', headers: [['host', 's3.example.com']], payloadHash: 'UNSIGNED-PAYLOAD' },
 *   { credentials, region: 'us-east-1', service: 's3', date: new Date(), contentSha256Header: true },
 * );
 * for (const [name, value] of signed.headers) headers[name] = value;
 * ```
 *
 * @param request - What to sign.
 * @param options - Credentials, region, service, time and canonicalisation choices.
 * @returns The headers to add, with the signature and its intermediate strings.
 * @public
 */
export function signHeaders(request: SigV4Request, options: SigV4Options): SigV4SignedHeaders {
  checkSigning(request, options, 'signHeaders');
  const amzDate = formatAmzDate(options.date);
  const payloadHash = request.payloadHash ?? EMPTY_SHA256;
  const added: [string, string][] = [['x-amz-date', amzDate]];
  const token = options.credentials.sessionToken;
  const signToken = token !== undefined && options.signSessionToken !== false;
  if (signToken) added.push(['x-amz-security-token', token]);
  if (options.contentSha256Header === true) added.push(['x-amz-content-sha256', payloadHash]);
  const { canonical, signedNames } = canonicalHeaders([...request.headers, ...added]);
  const canonicalRequest = [
    request.method.toUpperCase(),
    canonicalPath(request.path, options.normalizePath === true),
    canonicalQuery(request.query ?? []),
    canonical,
    signedNames,
    payloadHash,
  ].join('\n');
  const signature = sign(canonicalRequest, amzDate, options);
  const authorization =
    `${ALGORITHM} Credential=${options.credentials.accessKeyId}/${scope(amzDate, options)}, ` +
    `SignedHeaders=${signedNames}, Signature=${signature.signature}`;
  if (token !== undefined && !signToken) added.push(['x-amz-security-token', token]);
  return { ...signature, canonicalRequest, headers: [...added, ['authorization', authorization]] };
}

/**
 * Sign a request in its URL (SigV4 presigned-query form), as for a presigned S3 GET that anyone
 * holding the URL may use until it expires.
 *
 * @example
 * ```ts
 * import { presignQuery, type SigV4Credentials } from 'rxfeed/objectstore';
 * declare const credentials: SigV4Credentials;
 * const { queryString } = presignQuery(
 *   { method: 'GET', path: '/bucket/key', headers: [['host', 's3.example.com']], payloadHash: 'UNSIGNED-PAYLOAD' },
 *   { credentials, region: 'us-east-1', service: 's3', date: new Date() },
 *   3600,
 * );
 * const url = `https://s3.example.com/bucket/key?${queryString}`;
 * ```
 *
 * @param request - What to sign; its headers are the signed headers (at least `host`).
 * @param options - Credentials, region, service, time and canonicalisation choices.
 * @param expiresInSeconds - `X-Amz-Expires`: how long the URL stays valid (1 to 604800).
 * @returns The full query (the request's parameters plus the `X-Amz-*` ones) and the signature.
 * @public
 */
export function presignQuery(request: SigV4Request, options: SigV4Options, expiresInSeconds: number): SigV4SignedQuery {
  checkSigning(request, options, 'presignQuery');
  if (!Number.isSafeInteger(expiresInSeconds) || expiresInSeconds < 1 || expiresInSeconds > 604_800) {
    throw new InvalidArgumentError('expiresInSeconds', `presign expiry must be 1 to 604800 seconds, got ${String(expiresInSeconds)}`);
  }
  const amzDate = formatAmzDate(options.date);
  const { canonical, signedNames } = canonicalHeaders(request.headers);
  const token = options.credentials.sessionToken;
  const signToken = token !== undefined && options.signSessionToken !== false;
  const amz: [string, string][] = [
    ['X-Amz-Algorithm', ALGORITHM],
    ['X-Amz-Credential', `${options.credentials.accessKeyId}/${scope(amzDate, options)}`],
    ['X-Amz-Date', amzDate],
    ['X-Amz-SignedHeaders', signedNames],
    ['X-Amz-Expires', String(expiresInSeconds)],
  ];
  if (signToken) amz.push(['X-Amz-Security-Token', token]);
  const signedQuery = [...(request.query ?? []), ...amz];
  const canonicalRequest = [
    request.method.toUpperCase(),
    canonicalPath(request.path, options.normalizePath === true),
    canonicalQuery(signedQuery),
    canonical,
    signedNames,
    request.payloadHash ?? EMPTY_SHA256,
  ].join('\n');
  const signature = sign(canonicalRequest, amzDate, options);
  const query: (readonly [string, string])[] = [...signedQuery];
  if (token !== undefined && !signToken) query.push(['X-Amz-Security-Token', token]);
  query.push(['X-Amz-Signature', signature.signature]);
  return {
    ...signature,
    canonicalRequest,
    query,
    queryString: query.map(([name, value]) => `${uriEncode(name)}=${uriEncode(value)}`).join('&'),
  };
}

/**
 * Hex SHA-256 of a body, for {@link SigV4Request.payloadHash}.
 *
 * @example
 * ```ts
 * import { sha256Hex } from 'rxfeed/objectstore';
 * const payloadHash = sha256Hex(new TextEncoder().encode('Param1=value1'));
 * ```
 *
 * @param body - The bytes (or UTF-8 text) sent.
 * @returns Lower-case hex digest.
 * @public
 */
export function sha256Hex(body: Uint8Array | string): string {
  if (typeof body !== 'string' && !(body instanceof Uint8Array)) {
    throw new InvalidArgumentError('sha256Hex.body', `must be a string or a Uint8Array, got ${describe(body)}`);
  }
  return createHash('sha256').update(body).digest('hex');
}

/** The shapes a signer reads, checked before any of it is: a wrong type fails typed, naming the field. */
function checkSigning(request: SigV4Request, options: SigV4Options, caller: string): void {
  const pairs = (value: unknown): boolean =>
    Array.isArray(value) && value.every((pair) => Array.isArray(pair) && typeof pair[0] === 'string' && typeof pair[1] === 'string');
  if (
    typeof request !== 'object' ||
    request === null ||
    typeof request.method !== 'string' ||
    typeof request.path !== 'string' ||
    !pairs(request.headers) ||
    (request.query !== undefined && !pairs(request.query)) ||
    (request.payloadHash !== undefined && typeof request.payloadHash !== 'string')
  ) {
    throw new InvalidArgumentError(
      `${caller}.request`,
      'must be { method, path, headers: [name, value][], query?, payloadHash? } of strings',
    );
  }
  if (typeof options !== 'object' || options === null) throw new InvalidArgumentError(`${caller}.options`, 'must be an object');
  const { credentials } = options;
  if (
    typeof credentials !== 'object' ||
    credentials === null ||
    typeof credentials.accessKeyId !== 'string' ||
    typeof credentials.secretAccessKey !== 'string' ||
    (credentials.sessionToken !== undefined && typeof credentials.sessionToken !== 'string')
  ) {
    // Never quoted: it holds a secret.
    throw new InvalidArgumentError(`${caller}.options.credentials`, 'must be { accessKeyId, secretAccessKey, sessionToken? } of strings');
  }
  if (typeof options.region !== 'string') throw new InvalidArgumentError(`${caller}.options.region`, 'must be a string');
  if (typeof options.service !== 'string') throw new InvalidArgumentError(`${caller}.options.service`, 'must be a string');
  if (!(options.date instanceof Date) || Number.isNaN(options.date.getTime())) {
    throw new InvalidArgumentError(`${caller}.options.date`, 'must be a valid Date');
  }
}

function sign(canonicalRequest: string, amzDate: string, options: SigV4Options): SigV4Signature {
  const stringToSign = [ALGORITHM, amzDate, scope(amzDate, options), sha256Hex(canonicalRequest)].join('\n');
  const key = signingKey(options.credentials.secretAccessKey, amzDate.slice(0, 8), options.region, options.service);
  const signature = createHmac('sha256', key).update(stringToSign).digest('hex');
  return { canonicalRequest, stringToSign, signature };
}

function scope(amzDate: string, options: SigV4Options): string {
  return `${amzDate.slice(0, 8)}/${options.region}/${options.service}/aws4_request`;
}

// The signing key changes once a day per secret/region/service: remember the last few.
const keys = new Map<string, Buffer>();
function signingKey(secret: string, day: string, region: string, service: string): Buffer {
  const id = `${secret}\n${day}\n${region}\n${service}`;
  let key = keys.get(id);
  if (key === undefined) {
    const hmac = (k: string | Buffer, data: string): Buffer => createHmac('sha256', k).update(data).digest();
    key = hmac(hmac(hmac(hmac(`AWS4${secret}`, day), region), service), 'aws4_request');
    if (keys.size >= 16) keys.delete(keys.keys().next().value!);
    keys.set(id, key);
  }
  return key;
}

/** `20150830T123600Z`. */
function formatAmzDate(date: Date): string {
  return date
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d{3}/, '');
}

/** The path with each segment percent-encoded; optionally with dot segments and empty segments removed. */
function canonicalPath(path: string, normalize: boolean): string {
  if (path === '') return '/';
  if (!normalize) return path.split('/').map(uriEncode).join('/');
  const segments: string[] = [];
  for (const segment of path.split('/')) {
    if (segment === '' || segment === '.') continue;
    if (segment === '..') segments.pop();
    else segments.push(segment);
  }
  const trailing = /\/(\.{0,2})$/.test(path) && segments.length > 0;
  return `/${segments.map(uriEncode).join('/')}${trailing ? '/' : ''}`;
}

/** Parameters encoded, then sorted by name and value (byte order of the encoded strings). */
function canonicalQuery(query: readonly (readonly [string, string])[]): string {
  return query
    .map(([name, value]) => [uriEncode(name), uriEncode(value)] as const)
    .sort(([a, av], [b, bv]) => (a < b ? -1 : a > b ? 1 : av < bv ? -1 : av > bv ? 1 : 0))
    .map(([name, value]) => `${name}=${value}`)
    .join('&');
}

/** Lower-case names, sorted; values trimmed with inner whitespace runs collapsed; repeats joined by commas. */
function canonicalHeaders(headers: readonly (readonly [string, string])[]): { canonical: string; signedNames: string } {
  const byName = new Map<string, string[]>();
  for (const [name, value] of headers) {
    const key = name.trim().toLowerCase();
    const values = byName.get(key) ?? [];
    values.push(value.trim().replace(/\s+/g, ' '));
    byName.set(key, values);
  }
  const names = [...byName.keys()].sort();
  return {
    canonical: names.map((name) => `${name}:${byName.get(name)!.join(',')}\n`).join(''),
    signedNames: names.join(';'),
  };
}
