/**
 * Bounded, throw-free quotes of untrusted text and values for error messages.
 *
 * @module
 * @internal
 */

/** Characters of untrusted text (server output, a key, a name) an error message may quote by default. */
export const EXCERPT_LIMIT = 200;

/**
 * At most `limit` characters of untrusted text for a message: control characters and runs of
 * whitespace collapsed to one space (so a message stays one line), the cut marked with `…`.
 * Only the first `4 x limit` characters are read, however long the text.
 * @internal
 */
export function excerpt(text: string, limit = EXCERPT_LIMIT): string {
  const flat = text
    .slice(0, limit * 4)
    .replace(/[\s\p{Cc}]+/gu, ' ')
    .trim();
  return flat.length > limit || text.length > limit * 4 ? `${flat.slice(0, limit)}…` : flat;
}

/**
 * `"abc…"`: at most `limit` characters of a string (40 by default: a name or a value, not a
 * page), quoted, so its ends and escapes show.
 * @internal
 */
export function quoted(text: string, limit = 40): string {
  return JSON.stringify(excerpt(text, limit));
}

/**
 * A short description of a value for an error message: bounded whatever the value, and never a
 * throw (no `toString` of the value is called).
 * @internal
 */
export function describe(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (value === null) return 'null';
  switch (typeof value) {
    case 'string':
      return quoted(value);
    case 'number':
    case 'boolean':
      return String(value);
    case 'bigint':
      return `${value}n`;
    case 'symbol':
      return 'a symbol';
    case 'function':
      return 'a function';
  }
  if (Array.isArray(value)) return `an array of ${value.length}`;
  return 'an object';
}
