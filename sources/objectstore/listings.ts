/**
 * Parsers of the listings a plain HTTP store reads: nginx's JSON autoindex and JSON index files.
 * Both are total: any text gives entries or a typed error.
 *
 * @module
 */
import { excerpt, ObjectStoreError } from './errors.js';
import type { ObjectEntry } from './store.js';

/**
 * One entry of an nginx `autoindex_format json` page.
 * @internal
 */
export interface NginxEntry {
  /** A single path segment: never empty, `.`, `..`, nor holding `/`. */
  readonly name: string;
  readonly type: 'file' | 'directory';
  /** Bytes; -1 when the entry gives none (directories). */
  readonly size: number;
}

function malformed(listing: string, what: string): ObjectStoreError {
  return new ObjectStoreError('RXFEED_ERR_OBJECT_PROTOCOL', listing, what);
}

function parseJson(text: string, listing: string, what: string): unknown {
  if (typeof text !== 'string') throw malformed(listing, `${what}: expected text, got ${typeof text}`);
  try {
    return JSON.parse(text) as unknown;
  } catch (error) {
    throw new ObjectStoreError(
      'RXFEED_ERR_OBJECT_PROTOCOL',
      listing,
      `${what} is not JSON: ${excerpt((error as Error).message)}`,
      undefined,
      {
        cause: error,
      },
    );
  }
}

/** A size the listing may state: a non-negative safe integer. */
function sizeOf(value: unknown): number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0 ? value : -1;
}

/**
 * nginx's `autoindex_format json` page: `[{ "name", "type": "file" | "directory", "size" }]`.
 * Entries of other types (symlinks nginx cannot follow, `other`) are left out.
 *
 * @param text - The page.
 * @param listing - The directory's URL, named in errors.
 * @returns Its files and directories.
 * @throws ObjectStoreError (`RXFEED_ERR_OBJECT_PROTOCOL`) when the page is not a JSON array,
 * or an entry's name is not a single path segment (empty, `.`, `..`, or holding `/`): walking
 * such a name would revisit a directory forever or leave the listed tree.
 * @internal
 */
export function parseNginxAutoindex(text: string, listing: string): NginxEntry[] {
  const document = parseJson(text, listing, 'an nginx JSON autoindex');
  if (!Array.isArray(document)) throw malformed(listing, 'an nginx JSON autoindex must be an array');
  const entries: NginxEntry[] = [];
  for (const item of document as unknown[]) {
    if (typeof item !== 'object' || item === null) continue;
    const { name, type, size } = item as { name?: unknown; type?: unknown; size?: unknown };
    if (typeof name !== 'string' || (type !== 'file' && type !== 'directory')) continue;
    if (name === '' || name === '.' || name === '..' || name.includes('/')) {
      throw malformed(listing, `an autoindex entry named ${excerpt(JSON.stringify(name))} is not a name inside the directory`);
    }
    entries.push({ name, type, size: sizeOf(size) });
  }
  return entries;
}

/**
 * A JSON index: an array of keys, an array of `{ key | name | url | path, size? }`, or an
 * object holding such an array under `files`, `keys`, `objects` or `shardlist` (WebDataset's
 * shard lists). Keys are returned as written; whether the store may read them (relative to its
 * base, or an allowed origin) is decided when they are opened.
 *
 * @param text - The index document.
 * @param listing - The index's URL, named in errors.
 * @returns Its entries, `size` -1 where none is given.
 * @throws ObjectStoreError (`RXFEED_ERR_OBJECT_PROTOCOL`) when it is not JSON of that shape, or
 * an entry has no key.
 * @internal
 */
export function parseJsonIndex(text: string, listing: string): ObjectEntry[] {
  const document = parseJson(text, listing, 'a JSON index');
  const list = Array.isArray(document)
    ? document
    : typeof document === 'object' && document !== null
      ? ['files', 'keys', 'objects', 'shardlist']
          .map((field) => (Object.hasOwn(document, field) ? (document as Record<string, unknown>)[field] : undefined))
          .find(Array.isArray)
      : undefined;
  if (!Array.isArray(list)) {
    throw malformed(listing, 'a JSON index must be an array, or hold one under files, keys, objects or shardlist');
  }
  const entries: ObjectEntry[] = [];
  for (const item of list as unknown[]) {
    const record = (typeof item === 'object' && item !== null ? item : {}) as Record<string, unknown>;
    const key =
      typeof item === 'string'
        ? item
        : ['key', 'name', 'url', 'path']
            .map((field) => (Object.hasOwn(record, field) ? record[field] : undefined))
            .find((v) => typeof v === 'string');
    if (typeof key !== 'string') {
      throw malformed(listing, `index entry without a key: ${excerpt(String(JSON.stringify(item)))}`);
    }
    entries.push({ key, size: sizeOf(Object.hasOwn(record, 'size') ? record.size : undefined) });
  }
  return entries;
}
