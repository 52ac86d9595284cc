/**
 * Percent-encoding shared by the signer and the stores, so a signed path and a sent path are the
 * same string.
 *
 * @module
 */

/**
 * RFC 3986 percent-encoding (UTF-8) of everything but the unreserved characters `A-Za-z0-9-._~`,
 * as SigV4 canonicalises names, values and path segments.
 * @internal
 */
export function uriEncode(value: string): string {
  return encodeURIComponent(value).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

/**
 * A key encoded for a URL path: each `/`-separated segment with {@link uriEncode}.
 * @internal
 */
export function encodeKey(key: string): string {
  return key.split('/').map(uriEncode).join('/');
}
