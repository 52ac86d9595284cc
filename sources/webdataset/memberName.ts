/**
 * How WebDataset turns tar member names into sample keys and fields.
 *
 * @module
 */

/** A member name split by the WebDataset rule. */
export interface MemberKey {
  /** Directory part plus the basename up to its first dot: the sample's `__key__`. */
  readonly key: string;
  /** The rest of the basename after that dot, lower-cased: the field name (`png`, `seg.png`). */
  readonly extension: string;
}

/**
 * Split a member name as WebDataset's `base_plus_ext` does (a directory part, then a basename of at least one
 * character before its first dot, then the rest):
 * `train/0001.seg.png` gives key `train/0001` and extension `seg.png`. Names with no dot in their
 * basename, or a basename starting with a dot, have no extension: WebDataset skips them, and so
 * does this reader (`undefined`). Extensions are lower-cased, as WebDataset's `group_by_keys` does
 * by default.
 */
export function splitMemberName(name: string): MemberKey | undefined {
  const slash = name.lastIndexOf('/');
  const dot = name.indexOf('.', slash + 1);
  // No dot in the basename (indexOf gives -1), or a basename starting with one: no extension.
  if (dot <= slash + 1) return undefined;
  return { key: name.slice(0, dot), extension: name.slice(dot + 1).toLowerCase() };
}

/**
 * True for names WebDataset reserves for shard metadata (`__index__`-style names at the top level),
 * which are not sample members.
 */
export function isMetaMember(name: string): boolean {
  return !name.includes('/') && name.startsWith('__') && name.endsWith('__');
}

/**
 * True when `name` is absolute (`/etc/passwd`, `C:\x`, `\\host\x`) or has a `..` segment: a name
 * that would escape the directory a shard is extracted into (the "zip slip" of tar files).
 */
export function isUnsafeMemberName(name: string): boolean {
  const first = name.charCodeAt(0);
  if (first === 0x2f || first === 0x5c) return true; // '/' or '\\'
  if (name.charCodeAt(1) === 0x3a && /^[A-Za-z]:/.test(name)) return true; // 'C:'
  // Called for every member: the split runs only for the rare names that hold '..' at all.
  return name.includes('..') && name.split(/[/\\]/).includes('..');
}
