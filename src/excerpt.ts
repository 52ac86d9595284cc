/**
 * Bounded quotes of untrusted text for error messages.
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
  const flat = text.slice(0, limit * 4).replace(/[\s\p{Cc}]+/gu, ' ').trim();
  return flat.length > limit || text.length > limit * 4 ? `${flat.slice(0, limit)}…` : flat;
}
