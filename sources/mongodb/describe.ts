/**
 * Short Extended JSON renderings of filters and ids, bounded excerpts of driver messages, and
 * connection strings without their credentials, for error messages.
 * @module
 * @internal
 */
import { BSON } from 'mongodb';

/** The longest rendering or excerpt put into an error message, in characters. */
const MAX_SHOWN = 300;

function cut(text: string): string {
  return text.length > MAX_SHOWN ? `${text.slice(0, MAX_SHOWN)}...` : text;
}

/**
 * Render `value` as relaxed Extended JSON (so an ObjectId reads `{"$oid":"..."}`), cut to a
 * readable length.
 * @internal
 */
export function describeValue(value: unknown): string {
  let text: string;
  try {
    text = BSON.EJSON.stringify(value as BSON.Document, { relaxed: true }) ?? String(value);
  } catch {
    text = String(value);
  }
  return cut(text);
}

/**
 * The message of a driver or server error, at most 300 characters: a server may echo a whole
 * pipeline or document back.
 * @internal
 */
export function describeReason(cause: unknown): string {
  let text: string;
  try {
    text = cause instanceof Error ? cause.message : String(cause);
  } catch {
    text = 'unknown error';
  }
  return cut(text);
}

/**
 * The user information of a connection string (`user:pass` before the host), or undefined. The
 * last `@` before the query counts, so a password with an unescaped `@` is still all of it.
 */
function userInfoOf(uri: string): { start: number; end: number } | undefined {
  const scheme = uri.indexOf('://');
  if (scheme < 0) return undefined;
  const start = scheme + 3;
  const query = uri.indexOf('?', start);
  const at = uri.lastIndexOf('@', query < 0 ? uri.length : query);
  return at < start ? undefined : { start, end: at };
}

/**
 * The connection string with its user name and password replaced by `***`, for messages and
 * stats; a string that is not a URI is shown as `(unparsable connection string)` if it has an `@`.
 * @internal
 */
export function redactUri(uri: string): string {
  const info = userInfoOf(uri);
  if (info === undefined) return uri.includes('@') ? '(unparsable connection string)' : uri;
  return `${uri.slice(0, info.start)}***${uri.slice(info.end)}`;
}

/**
 * `text` with every appearance of the credentials of `uri` (as written, and percent-decoded)
 * replaced by `***`: driver messages may quote the connection string or the host part.
 * @internal
 */
export function redactText(text: string, uri: string): string {
  const info = userInfoOf(uri);
  if (info === undefined) return text;
  const userInfo = uri.slice(info.start, info.end);
  const secrets = new Set<string>([userInfo]);
  const colon = userInfo.indexOf(':');
  if (colon >= 0) secrets.add(userInfo.slice(colon + 1));
  for (const secret of [...secrets]) {
    try {
      secrets.add(decodeURIComponent(secret));
    } catch {
      // Not valid percent-encoding: only the raw form can appear.
    }
  }
  let redacted = text;
  // Longest first, so a password inside the user info is not replaced piecemeal.
  for (const secret of [...secrets].sort((a, b) => b.length - a.length)) {
    if (secret !== '') redacted = redacted.split(secret).join('***');
  }
  return redacted;
}
