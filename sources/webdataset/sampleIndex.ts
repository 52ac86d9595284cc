/**
 * The sample index of a WebDataset tar shard: for each sample, its key, the byte range
 * `[start, end)` holding all its members (WebDataset writes a sample's members one after another,
 * so the range is contiguous) and the set of its fields. Built by one scan of the shard's headers,
 * saved and loaded as a JSON sidecar file beside a local shard.
 *
 * @module
 */
import { randomBytes } from 'node:crypto';
import { readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { RxfeedError } from '../../src/errors.js';
import type { ByteSource } from '../core/byteSource.js';
import {
  CompressedShardError,
  MemberTooLargeError,
  ReservedFieldError,
  SampleFieldError,
  SampleIndexError,
  StaleIndexError,
  UnsafeMemberError,
} from './errors.js';
import { isMetaMember, isUnsafeMemberName, splitMemberName } from './memberName.js';
import { RESERVED_FIELDS, type MissingFieldPolicy } from './shardReader.js';
import { BLOCK, blocks } from './tarHeader.js';
import { TarParser } from './tarReader.js';

/**
 * The samples of one shard, in shard order.
 *
 * Memory: per sample, 8 + 8 bytes of offsets (two `Float64Array`s: shards may pass 4 GiB), 4 bytes
 * of field-set number, and the key string (about its length plus V8's string header of 12 to 16
 * bytes); the distinct field sets (usually one) are kept once.
 */
export interface SampleIndex {
  /** Each sample's `__key__`. */
  readonly keys: readonly string[];
  /** Where each sample's first header (or the long-name / pax header before it) starts. */
  readonly starts: Float64Array;
  /** Where each sample's last member ends, padding included. */
  readonly ends: Float64Array;
  /** Each sample's field set, a number into {@link SampleIndex.fieldSets}. */
  readonly fields: Uint32Array;
  /** Distinct field sets: a sample's extensions, sorted, joined by `/` (which no extension holds). */
  readonly fieldSets: readonly string[];
  /** The shard's size in bytes when it was indexed (a sidecar of another size is stale). */
  readonly shardBytes: number;
}

/** How {@link scanShard} reads. */
export interface ScanOptions {
  /** Largest member, as `fromWebDataset` limits it: a larger one fails the scan as it fails a read. */
  readonly maxMemberSize: number;
  /** Bytes per read. */
  readonly chunkSize: number;
  /**
   * Read by ranges and jump over member data (a local file: a read is a `pread`), rather than
   * one stream of the whole shard (an object store: one GET, not one per member).
   */
  readonly seek: boolean;
  readonly signal?: AbortSignal;
}

/** The sidecar's format name and version: anything else is refused. */
const FORMAT = 'rxfeed-webdataset-index';
const VERSION = 1;
/** Largest sidecar read: 256 MiB, some 5 million samples of 50-byte keys. */
export const MAX_SIDECAR_BYTES = 256 * 1024 * 1024;
/** Member data jumped over, rather than read, by a seeking scan: given to the parser as views of this. */
const ZEROS = new Uint8Array(1024 * 1024);

/** The sidecar of a local shard: `<shard>.idx.json` beside it. */
export function sidecarPath(shard: string): string {
  return `${shard}.idx.json`;
}

/**
 * Index a shard by one pass over its headers, grouping members into samples exactly as
 * `ShardReader` does (same member-name split, skipped members and checks), without keeping
 * any member's data.
 *
 * Memory: one chunk of `chunkSize` bytes and the index being built; member data is never held.
 *
 * @throws {@link CompressedShardError} for a gzip shard; the errors of `fromWebDataset` for a
 *   shard it would fail on (truncated, corrupt, unsafe or reserved names, duplicate fields,
 *   members over `maxMemberSize`).
 */
export async function scanShard(source: ByteSource, options: ScanOptions): Promise<SampleIndex> {
  const name = source.name;
  const { signal } = options;
  const tar = new TarParser(name, { maxMemberSize: options.maxMemberSize });
  const size = options.seek ? await source.size(signal) : undefined;
  const stream = options.seek ? undefined : source.stream(0, signal)[Symbol.asyncIterator]();
  let first = true;
  /** Give the parser its next bytes: member data up to `skipTo` is jumped over when seeking. */
  const feed = async (skipTo = 0): Promise<void> => {
    let chunk: Uint8Array | undefined;
    if (stream !== undefined) {
      const result = await stream.next();
      chunk = result.done === true ? undefined : result.value;
    } else {
      const at = tar.received;
      const gap = Math.min(skipTo, size!) - at;
      if (gap >= options.chunkSize) {
        tar.push(ZEROS.subarray(0, Math.min(gap, ZEROS.byteLength)));
        return;
      }
      chunk = at >= size! ? undefined : await source.read(at, Math.min(size!, at + options.chunkSize), signal);
      if (chunk?.byteLength === 0) chunk = undefined;
    }
    if (chunk === undefined) return tar.end();
    if (first && chunk.byteLength >= 2 && chunk[0] === 0x1f && chunk[1] === 0x8b) throw new CompressedShardError(name);
    first = false;
    tar.push(chunk);
  };

  const keys: string[] = [];
  const starts: number[] = [];
  const ends: number[] = [];
  const fields: number[] = [];
  const fieldSets = new Map<string, number>();
  let key: string | undefined;
  let extensions: string[] = [];
  const flush = (): void => {
    if (key === undefined) return;
    const set = extensions.sort().join('/');
    let number = fieldSets.get(set);
    if (number === undefined) fieldSets.set(set, (number = fieldSets.size));
    keys.push(key);
    fields.push(number);
    key = undefined;
  };
  /** Where the member before the one being read ended: a sample starts there. */
  let previousEnd = 0;
  try {
    for (;;) {
      let header = tar.header();
      while (header === undefined) {
        await feed();
        header = tar.header();
      }
      if (header === null) break;
      const memberEnd = header.offset + BLOCK + blocks(header.size);
      if (isUnsafeMemberName(header.name)) throw new UnsafeMemberError(name, header.name);
      const split = header.type === 'file' && !isMetaMember(header.name) ? splitMemberName(header.name) : undefined;
      if (split !== undefined) {
        if (RESERVED_FIELDS.has(split.extension)) throw new ReservedFieldError(name, header.offset, header.name, split.extension);
        if (header.size > options.maxMemberSize) {
          throw new MemberTooLargeError(name, header.offset, header.name, header.size, options.maxMemberSize);
        }
        if (split.key !== key) {
          flush();
          key = split.key;
          extensions = [];
          starts.push(previousEnd);
        } else if (extensions.includes(split.extension)) {
          throw new SampleFieldError('RXFEED_ERR_DUPLICATE_FIELD', name, split.key, split.extension);
        }
        extensions.push(split.extension);
        ends[starts.length - 1] = memberEnd;
      }
      while (!tar.skip()) await feed(memberEnd);
      previousEnd = memberEnd;
    }
    flush();
  } finally {
    await stream?.return?.().catch(() => undefined);
  }
  return {
    keys,
    starts: Float64Array.from(starts),
    ends: Float64Array.from(ends),
    fields: Uint32Array.from(fields),
    fieldSets: [...fieldSets.keys()],
    shardBytes: size ?? tar.received,
  };
}

/**
 * The positions in `index` of the samples a reader gives under the missing-field policy: all of
 * them (`undefined`) unless `'skip'` drops some.
 *
 * @throws {@link SampleFieldError} under `'error'` for the first sample lacking an expected field.
 */
export function keptSamples(
  index: SampleIndex,
  extensions: readonly string[] | undefined,
  missing: MissingFieldPolicy,
  shard: string,
): Uint32Array | undefined {
  if (extensions === undefined || missing === 'zero') return undefined;
  const lacking = index.fieldSets.map((set) => {
    const present = new Set(set.split('/'));
    return extensions.find((extension) => !present.has(extension));
  });
  if (lacking.every((extension) => extension === undefined)) return undefined;
  if (missing === 'error') {
    const at = index.fields.findIndex((set) => lacking[set] !== undefined);
    throw new SampleFieldError('RXFEED_ERR_MISSING_FIELD', shard, index.keys[at]!, lacking[index.fields[at]!]!);
  }
  const kept: number[] = [];
  index.fields.forEach((set, position) => {
    if (lacking[set] === undefined) kept.push(position);
  });
  return Uint32Array.from(kept);
}

/**
 * Save `index` as the sidecar of the local shard `shard`: written to a temporary file beside it,
 * then renamed, so a reader never sees half a sidecar.
 *
 * Format (JSON, about 25 bytes per sample plus its key):
 * `{"format":"rxfeed-webdataset-index","version":1,"shardBytes":N,"fieldSets":["cls/png"],`
 * `"samples":[["key",start,end,fieldSet],...]}`.
 */
export async function saveSidecar(shard: string, index: SampleIndex): Promise<void> {
  const samples = index.keys.map((key, position) => [key, index.starts[position], index.ends[position], index.fields[position]]);
  const text = JSON.stringify({ format: FORMAT, version: VERSION, shardBytes: index.shardBytes, fieldSets: index.fieldSets, samples });
  const path = sidecarPath(shard);
  const temporary = `${path}.${randomBytes(6).toString('hex')}.tmp`;
  try {
    await writeFile(temporary, text, { flag: 'wx' });
    await rename(temporary, path);
  } catch (error) {
    await rm(temporary, { force: true });
    throw new SampleIndexError(path, '', `could not be saved: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
  }
}

/**
 * The sidecar of the local shard `shard`, or `undefined` when it has none. Untrusted: every entry
 * is checked (ascending ranges on block boundaries inside the shard, each at least one header
 * long, known field sets).
 *
 * @throws {@link SampleIndexError} naming the sidecar and entry; {@link StaleIndexError} when it
 *   was saved for a shard of another size.
 */
export async function loadSidecar(shard: string, shardBytes: number): Promise<SampleIndex | undefined> {
  const path = sidecarPath(shard);
  let text: string;
  try {
    const { size, isFile } = await stat(path).then((stats) => ({ size: stats.size, isFile: stats.isFile() }));
    if (!isFile) throw new SampleIndexError(path, '', 'is not a regular file');
    if (size > MAX_SIDECAR_BYTES) throw new SampleIndexError(path, '', `is ${size} bytes, more than the ${MAX_SIDECAR_BYTES} read`);
    text = await readFile(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException | null)?.code === 'ENOENT') return undefined;
    if (error instanceof RxfeedError) throw error;
    throw new SampleIndexError(path, '', `could not be read: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
  }
  return parseSidecar(text, path, shard, shardBytes);
}

/** Check a sidecar's JSON, entry by entry. */
export function parseSidecar(text: string, path: string, shard: string, shardBytes: number): SampleIndex {
  const fail = (entry: string, reason: string): SampleIndexError => new SampleIndexError(path, entry, reason);
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw fail('', 'is not JSON');
  }
  const record = parsed as Partial<Record<string, unknown>> | null;
  if (typeof record !== 'object' || record === null || record.format !== FORMAT || record.version !== VERSION) {
    throw fail('', `is not a ${FORMAT} version ${VERSION} file`);
  }
  if (record.shardBytes !== shardBytes) {
    throw new StaleIndexError(
      shard,
      0,
      `the sidecar ${path} was saved for a shard of ${String(record.shardBytes)} bytes, not ${shardBytes}`,
    );
  }
  const { fieldSets, samples } = record;
  if (!Array.isArray(fieldSets) || !fieldSets.every((set) => typeof set === 'string' && set !== '')) {
    throw fail('fieldSets', 'must be a list of non-empty strings');
  }
  if (!Array.isArray(samples)) throw fail('samples', 'must be a list');
  const keys: string[] = [];
  const starts = new Float64Array(samples.length);
  const ends = new Float64Array(samples.length);
  const fields = new Uint32Array(samples.length);
  let previousEnd = 0;
  samples.forEach((sample: unknown, position) => {
    const entry = `samples[${position}]`;
    if (!Array.isArray(sample) || sample.length !== 4) throw fail(entry, 'must be [key, start, end, fieldSet]');
    const [key, start, end, set] = sample as unknown[];
    if (typeof key !== 'string' || key === '') throw fail(entry, 'key must be a non-empty string');
    if (!isOffset(start) || start < previousEnd) throw fail(entry, `start must be a block offset at or after ${previousEnd}`);
    // A sample holds at least one header block; its members end on a block boundary inside the shard.
    if (!isOffset(end) || end < start + BLOCK || end > shardBytes) {
      throw fail(entry, `end must be a block offset from ${start + BLOCK} to the shard's ${shardBytes} bytes`);
    }
    if (!Number.isSafeInteger(set) || (set as number) < 0 || (set as number) >= fieldSets.length) {
      throw fail(entry, `fieldSet must be an index of fieldSets (${fieldSets.length})`);
    }
    keys.push(key);
    starts[position] = start;
    ends[position] = end;
    fields[position] = set as number;
    previousEnd = end;
  });
  return { keys, starts, ends, fields, fieldSets: fieldSets as string[], shardBytes };
}

function isOffset(value: unknown): value is number {
  return Number.isSafeInteger(value) && (value as number) >= 0 && (value as number) % BLOCK === 0;
}
