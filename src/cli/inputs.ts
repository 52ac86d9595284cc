/**
 * The one spelling of an input that every command takes, resolved to the files (or the TFDS
 * directory, or the MongoDB view) it names and their format.
 *
 * @module
 * @internal
 */
import { readdir, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import type { ByteSource } from '../../sources/core/byteSource.js';
import { expandBraces } from '../../sources/core/expandBraces.js';
import { fileByteSource, fileError } from '../../sources/core/fileByteSource.js';
import { isHttpUrl, pathOrUrlOpener } from '../../sources/core/httpUrls.js';
import type { ObjectStore } from '../../sources/core/store.js';
import { InvalidArgumentError } from '../errors.js';
import { quoted } from '../excerpt.js';
import { redact } from './output.js';

/** The formats a command reads; `--format` forces one. */
export const FORMATS = ['tar', 'tfrecord', 'tfds', 'mongodb'] as const;

/** One of {@link FORMATS}. */
export type Format = (typeof FORMATS)[number];

/** The help text that says how inputs are spelt, shared by every command's `--help`. */
export const INPUT_HELP = `Inputs (one spelling for every command):
  shards/train-000000.tar                 a local file (.tar, .tgz, .tar.gz: WebDataset; .tfrecord, .tfrecord-00000-of-00008: TFRecord)
  shards/train-{000000..000007}.tar       brace patterns, as WebDataset writes them; * and ? in the file name
  shards/                                 a directory: its shard files, in name order
  data/mnist/3.0.1                        a TFDS prepared directory (it holds dataset_info.json); pick a split with --split
  http://host/shards/train-{0..7}.tar     http(s) URLs; a URL ending in / is listed from its nginx JSON autoindex
  s3://bucket/prefix/                     S3 objects under a prefix (or s3://bucket/key, braces allowed), with AWS_ENDPOINT_URL,
                                          AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN, AWS_REGION
  mongodb://host:27017/db.collection      a MongoDB collection (or mongodb://host:27017/db with --collection); --filter '{"split":"train"}'
The format comes from the file names, else from the first bytes; --format tar|tfrecord|tfds|mongodb forces it.`;

/** How a command was asked to read its input. */
export interface InputOptions {
  readonly format?: Format;
  /** TFDS split expression (`train`, `train[:10%]`, `train+val`). */
  readonly split?: string;
  /** MongoDB collection, when the URI names only the database. */
  readonly collection?: string;
  /** MongoDB filter, as JSON text. */
  readonly filter?: string;
}

/** One shard or file of an input. */
export interface InputFile {
  /** Its path, URL or `s3://bucket/key`: what the output shows. */
  readonly name: string;
  /** Its size in bytes. */
  readonly bytes: number;
  /** The local path, when it is a local file (an index can be written beside it). */
  readonly local: string | undefined;
  /** A fresh ByteSource over it. */
  open(): ByteSource;
}

/** A MongoDB view named on the command line. */
export interface MongoInput {
  readonly format: 'mongodb';
  /** The URI with credentials masked, and `db.collection`: what the output shows. */
  readonly name: string;
  readonly uri: string;
  readonly db: string;
  readonly collection: string;
  readonly filter: Record<string, unknown>;
}

/** What an input names. */
export type ResolvedInput =
  | { readonly format: 'tar' | 'tfrecord'; readonly name: string; readonly files: readonly InputFile[] }
  | { readonly format: 'tfds'; readonly name: string; readonly dataDir: string; readonly split: string | undefined }
  | MongoInput;

const TAR_NAME = /\.(?:tar|tgz|tar\.gz)$/i;
const TFRECORD_NAME = /\.(?:tfrecords?|tfrec)(?:-\d+-of-\d+)?(?:\.gz)?$|\.tfrecords?-\d+-of-\d+$/i;

/** The format a file's name says, if any. */
export function formatOfName(name: string): 'tar' | 'tfrecord' | undefined {
  const path = name.replace(/[?#].*$/, '');
  if (TAR_NAME.test(path)) return 'tar';
  if (TFRECORD_NAME.test(path)) return 'tfrecord';
  return undefined;
}

/**
 * Resolve `input` to what it names. Files are listed (and their sizes read) here; nothing is
 * parsed yet.
 *
 * @throws InvalidArgumentError for an input that names nothing readable or mixes formats;
 *   `FileReadError` / `ObjectStoreError` when a file or object cannot be listed.
 */
export async function resolveInput(input: string, options: InputOptions, signal: AbortSignal): Promise<ResolvedInput> {
  if (/^mongodb(?:\+srv)?:\/\//i.test(input) || options.format === 'mongodb') return mongoInput(input, options);
  if (options.collection !== undefined || options.filter !== undefined) {
    throw new InvalidArgumentError('--collection/--filter', 'apply to a mongodb:// input only');
  }
  if (!isHttpUrl(input) && !input.startsWith('s3://') && !/[{*?]/.test(input)) {
    const directory = await statOrUndefined(input);
    if (directory?.isDirectory() === true && (options.format === 'tfds' || (await statOrUndefined(join(input, 'dataset_info.json'))))) {
      return { format: 'tfds', name: input, dataDir: input, split: options.split };
    }
  }
  if (options.format === 'tfds') throw new InvalidArgumentError('--format tfds', `${quoted(input, 200)} is not a directory`);
  if (options.split !== undefined) throw new InvalidArgumentError('--split', 'applies to a TFDS directory only');
  const files = input.startsWith('s3://')
    ? await s3Files(input, options.format, signal)
    : isHttpUrl(input)
      ? await httpFiles(input, options.format, signal)
      : await localFiles(input, options.format);
  if (files.length === 0) throw new InvalidArgumentError('input', `${quoted(redact(input), 200)} names no shard or record file`);
  const format = options.format ?? (await detectFormat(files, signal));
  return { format: format as 'tar' | 'tfrecord', name: redact(input), files };
}

async function statOrUndefined(path: string): Promise<import('node:fs').Stats | undefined> {
  try {
    return await stat(path);
  } catch {
    return undefined;
  }
}

/** What sits beside shards and is never one: indexes this tool writes, writers' temporary files. */
const NOT_A_SHARD = /\.(?:idx|idx\.json|tmp)$/i;

/**
 * Keep the files of a listing that look like shards: by name, or when the format is forced any
 * file but an index or a temporary file.
 */
function shardsOf<T extends { name: string }>(entries: readonly T[], format: Format | undefined): T[] {
  return entries.filter((entry) => (format === undefined ? formatOfName(entry.name) !== undefined : !NOT_A_SHARD.test(entry.name)));
}

/** `*` and `?` of a file name as a regular expression over names. */
function wildcard(pattern: string): RegExp {
  const body = pattern
    .replace(/[.+^${}()|[\]\\]/g, '\\$&')
    .replace(/\*/g, '[^/]*')
    .replace(/\?/g, '[^/]');
  return new RegExp(`^${body}$`);
}

async function localFiles(input: string, format: Format | undefined): Promise<InputFile[]> {
  const files: InputFile[] = [];
  for (const pattern of expandBraces(input)) {
    const name = basename(pattern);
    if (/[*?]/.test(name)) {
      const directory = dirname(pattern);
      const matches = wildcard(name);
      const names = await readdir(directory).catch((error: unknown) => {
        throw fileError(directory, error);
      });
      for (const entry of names.filter((entry) => matches.test(entry)).sort()) files.push(await localFile(join(directory, entry)));
      continue;
    }
    const stats = await stat(pattern).catch((error: unknown) => {
      throw fileError(pattern, error);
    });
    if (stats.isDirectory()) {
      const names = await readdir(pattern).catch((error: unknown) => {
        throw fileError(pattern, error);
      });
      const found: InputFile[] = [];
      for (const entry of names.sort()) {
        const path = join(pattern, entry);
        // Only regular files: a sub-directory or a dangling link in a shard directory is not a shard.
        const entryStats = await statOrUndefined(path);
        if (entryStats?.isFile() === true) found.push(await localFile(path, entryStats.size));
      }
      files.push(...shardsOf(found, format));
    } else {
      files.push(await localFile(pattern, stats.size));
    }
  }
  return files;
}

async function localFile(path: string, size?: number): Promise<InputFile> {
  const bytes =
    size ??
    (await stat(path).then(
      (stats) => stats.size,
      (error: unknown) => {
        throw fileError(path, error);
      },
    ));
  return { name: path, bytes, local: path, open: () => fileByteSource(path) };
}

async function httpFiles(input: string, format: Format | undefined, signal: AbortSignal): Promise<InputFile[]> {
  if (input.endsWith('/')) {
    const { httpStore } = await import('../../sources/objectstore/httpStore.js');
    const store = httpStore({ baseUrl: input, index: 'nginx-json' });
    return storeFiles(store, (key) => redact(new URL(key, input).href), '', format, signal);
  }
  const open = pathOrUrlOpener(1024 * 1024, undefined);
  const files: InputFile[] = [];
  for (const url of expandBraces(input)) {
    if (!URL.canParse(url)) throw new InvalidArgumentError('input', `${quoted(url, 200)} is not a valid URL`);
    const bytes = await (await open(url)).size(signal);
    // Shown without its user part: `http://user:password@host/...` is how basic auth is spelt.
    const name = redact(url);
    files.push({ name, bytes, local: undefined, open: () => lazySource(name, () => open(url)) });
  }
  return files;
}

/** A ByteSource opened on first use (the HTTP opener is asynchronous, `open()` is not). */
function lazySource(name: string, open: () => Promise<ByteSource>): ByteSource {
  let source: Promise<ByteSource> | undefined;
  const get = (): Promise<ByteSource> => (source ??= open());
  return {
    name,
    size: async (signal) => (await get()).size(signal),
    read: async (start, end, signal) => (await get()).read(start, end, signal),
    async *stream(start, signal) {
      yield* (await get()).stream(start, signal);
    },
  };
}

async function s3Files(input: string, format: Format | undefined, signal: AbortSignal): Promise<InputFile[]> {
  const match = /^s3:\/\/([^/]+)\/?(.*)$/.exec(input);
  if (match === null) throw new InvalidArgumentError('input', `${quoted(input, 200)} is not s3://bucket/prefix`);
  const [, bucket, path] = match as unknown as [string, string, string];
  const { s3Store } = await import('../../sources/objectstore/s3Store.js');
  const store = s3Store({ bucket });
  const named = (key: string): string => `s3://${bucket}/${key}`;
  if (/[{]/.test(path)) {
    const files: InputFile[] = [];
    for (const key of expandBraces(path)) {
      const head = await store.head(key, signal);
      files.push({ name: named(key), bytes: head.size, local: undefined, open: () => store.open(key) });
    }
    return files;
  }
  const star = path.search(/[*?]/);
  if (star >= 0) {
    const matches = wildcard(path);
    const listed = await storeFiles(store, named, path.slice(0, star), undefined, signal);
    return listed.filter((file) => matches.test(file.name.slice(`s3://${bucket}/`.length)));
  }
  const listed = await storeFiles(store, named, path, format, signal);
  const exact = listed.find((file) => file.name === named(path));
  if (exact !== undefined) return [exact];
  // A prefix that is not a "directory" (`s3://b/train-`) lists everything under it; one that is
  // (`s3://b/train`) is read as `train/`, the way `aws s3 ls` reads it.
  return listed.length > 0 || path === '' || path.endsWith('/') ? listed : storeFiles(store, named, `${path}/`, format, signal);
}

async function storeFiles(
  store: ObjectStore,
  named: (key: string) => string,
  prefix: string,
  format: Format | undefined,
  signal: AbortSignal,
): Promise<InputFile[]> {
  const files: InputFile[] = [];
  for await (const entry of store.list(prefix, signal)) {
    if (entry.key.endsWith('/')) continue;
    files.push({ name: named(entry.key), bytes: entry.size, local: undefined, open: () => store.open(entry.key) });
  }
  files.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  return shardsOf(files, format);
}

/**
 * The format of the files: from their names, else from the first file's first bytes (a tar
 * header's `ustar` magic or a gzip stream is WebDataset; a TFRecord frame whose length CRC
 * checks is TFRecord).
 */
async function detectFormat(files: readonly InputFile[], signal: AbortSignal): Promise<'tar' | 'tfrecord'> {
  const named = new Set(files.map((file) => formatOfName(file.name)));
  if (named.size === 1 && !named.has(undefined)) return [...named][0]!;
  if (named.has('tar') && named.has('tfrecord')) {
    throw new InvalidArgumentError('input', 'names both tar and TFRecord files: give one format at a time');
  }
  const first = files.find((file) => formatOfName(file.name) === undefined)!;
  const head = await first.open().read(0, 512, signal);
  if (head.length >= 262 && new TextDecoder().decode(head.subarray(257, 262)) === 'ustar') return 'tar';
  if (head.length >= 2 && head[0] === 0x1f && head[1] === 0x8b) return 'tar';
  if (head.length >= 12) {
    const { maskedCrc32c } = await import('../../sources/tfrecord/crc32c.js');
    const view = new DataView(head.buffer, head.byteOffset, head.byteLength);
    if (maskedCrc32c(head.subarray(0, 8)) === view.getUint32(8, true)) return 'tfrecord';
  }
  throw new InvalidArgumentError(
    '--format',
    `cannot tell the format of ${quoted(first.name, 200)} from its name or first bytes: pass --format`,
  );
}

function mongoInput(input: string, options: InputOptions): MongoInput {
  const match = /^(mongodb(?:\+srv)?:\/\/[^/?]*)(?:\/([^?]*))?(\?.*)?$/i.exec(input);
  if (match === null) throw new InvalidArgumentError('input', 'is not a mongodb:// URI (mongodb://host:port/db.collection)');
  const [, server, path = '', query = ''] = match as unknown as [string, string, string | undefined, string | undefined];
  const dot = path.indexOf('.');
  const db = decodeURIComponent(dot < 0 ? path : path.slice(0, dot));
  const collection = options.collection ?? (dot < 0 ? undefined : decodeURIComponent(path.slice(dot + 1)));
  if (db === '') throw new InvalidArgumentError('input', 'names no database: mongodb://host:port/db.collection');
  if (collection === undefined || collection === '') {
    throw new InvalidArgumentError('--collection', 'is needed: name it, or give the URI as mongodb://host:port/db.collection');
  }
  let filter: Record<string, unknown> = {};
  if (options.filter !== undefined) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(options.filter);
    } catch {
      throw new InvalidArgumentError('--filter', `is not JSON: ${quoted(options.filter, 80)}`);
    }
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
      throw new InvalidArgumentError('--filter', 'must be a JSON object, e.g. {"split":"train"}');
    }
    filter = parsed as Record<string, unknown>;
  }
  return {
    format: 'mongodb',
    name: `${redact(server)}/${db}.${collection}`,
    uri: `${server}/${query}`,
    db,
    collection,
    filter,
  };
}
