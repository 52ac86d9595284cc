/**
 * Percent-encoding shared by the signer and the stores, so a signed path and a sent path are the
 * same string.
 *
 * @module
 */
import { InvalidArgumentError } from '../../src/errors.js';

/**
 * RFC 3986 percent-encoding (UTF-8) of everything but the unreserved characters `A-Za-z0-9-._~`,
 * as SigV4 canonicalises names, values and path segments.
 * @internal
 */
export function uriEncode(value: string): string {
  return encodeURIComponent(value).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

/**
 * A key encoded for a URL path: each `/`-separated segment with {@link uriEncode}, and the dot
 * segments `.` and `..` as `%2E` and `%2E%2E`, as AWS's SDKs send them: a key is a literal name,
 * so nothing between here and the server may resolve its dots. (The path must then be sent
 * as is, never through `new URL`, which collapses `%2E` segments too.)
 * @internal
 */
export function encodeKey(key: string): string {
  if (typeof key !== 'string') throw new InvalidArgumentError('key', `must be a string, got ${typeof key}`);
  return key
    .split('/')
    .map((segment) => (segment === '.' || segment === '..' ? segment.replaceAll('.', '%2E') : uriEncode(segment)))
    .join('/');
}

/** Query parameters whose values are secrets: signatures, credentials, tokens, keys, passwords. */
const SECRET_PARAMETER = /sig|cred|token|key|secret|pass|auth/i;

/**
 * A URL fit for an error message: no user name or password, and the values of query
 * parameters that look like secrets (a presigned URL's `X-Amz-Signature`, `X-Amz-Credential`,
 * `X-Amz-Security-Token`, an `access_token`) replaced by `REDACTED`.
 * @internal
 */
export function redactUrl(url: string): string {
  const match = /^([a-z][a-z0-9+.-]*:\/\/)(?:[^@/?#]*@)?([^?#]*)(\?[^#]*)?/i.exec(url);
  if (match === null) return url;
  const [, scheme, rest, query] = match as unknown as [string, string, string, string | undefined];
  if (query === undefined) return `${scheme}${rest}`;
  const parameters = query
    .slice(1)
    .split('&')
    .map((pair) => {
      const equals = pair.indexOf('=');
      const name = equals < 0 ? pair : pair.slice(0, equals);
      return equals >= 0 && SECRET_PARAMETER.test(name) ? `${name}=REDACTED` : pair;
    });
  return `${scheme}${rest}?${parameters.join('&')}`;
}

/**
 * An http(s) endpoint option as a URL, or an {@link InvalidArgumentError} naming the option
 * (the text quoted without any user name or password).
 * @internal
 */
export function parseEndpoint(option: string, text: unknown): URL {
  let url: URL | undefined;
  try {
    url = typeof text === 'string' ? new URL(text) : undefined;
  } catch {
    url = undefined;
  }
  if (url === undefined || (url.protocol !== 'http:' && url.protocol !== 'https:')) {
    const shown = typeof text === 'string' ? JSON.stringify(redactUrl(text)).slice(0, 200) : typeof text;
    throw new InvalidArgumentError(option, `must be an http(s) URL, got ${shown}`);
  }
  return url;
}

/**
 * The options argument of a store factory, or an {@link InvalidArgumentError}.
 * @internal
 */
export function checkOptions<T>(factory: string, options: T): T {
  if (typeof options !== 'object' || options === null) {
    throw new InvalidArgumentError(factory, `options must be an object, got ${options === null ? 'null' : typeof options}`);
  }
  return options;
}
