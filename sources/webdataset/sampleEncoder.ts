/**
 * How `toWebDataset` turns a sample into tar members: encoding each field by its kind, checking
 * that key and fields read back as written, and the exact tar bytes tar-stream will write for it.
 *
 * @module
 */
import { describe, excerpt } from '../../src/excerpt.js';
import { isPlainContainer } from '../../src/treeWalk.js';
import { SampleWriteError } from './errors.js';
import { isMetaMember, isUnsafeMemberName } from './memberName.js';
import { BLOCK, blocks } from './tarHeader.js';

/** The two zero blocks that end a tar archive. */
export const END_OF_ARCHIVE = 2 * BLOCK;
const KEY_FORBIDDEN = /[.\\\u0000-\u001f\u007f]/;
const FIELD_FORBIDDEN = /[/\\\u0000-\u001f\u007f]/;
/** A UTF-16 surrogate without its pair: tar names are UTF-8, where it reads back as U+FFFD. */
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

/** A sample ready to be packed: member names and bytes, and the tar bytes they take. */
export interface EncodedSample {
  readonly key: string;
  readonly members: readonly { readonly name: string; readonly data: Buffer }[];
  readonly bytes: number;
}

/**
 * Whether tar-stream writes `name` in a plain ustar header (ASCII, at most 100 bytes after
 * moving leading directories into the 155-byte prefix), as its `headers.encode` decides.
 */
function fitsUstar(name: string): boolean {
  if (Buffer.byteLength(name) !== name.length) return false;
  let rest = name;
  let prefix = '';
  while (rest.length > 100) {
    const slash = rest.indexOf('/');
    if (slash < 0) return false;
    prefix += prefix === '' ? rest.slice(0, slash) : `/${rest.slice(0, slash)}`;
    rest = rest.slice(slash + 1);
  }
  return prefix.length <= 155;
}

/** Bytes one member takes in a tar-stream archive: header, data padded to a block, and a pax header for a long or non-ASCII name. */
function memberBytes(name: string, size: number): number {
  const member = BLOCK + blocks(size);
  if (fitsUstar(name)) return member;
  // A pax record is "<length> path=<name>\n", its length counting its own digits.
  const text = Buffer.byteLength(` path=${name}\n`);
  let digits = String(text).length;
  if (text + digits >= 10 ** digits) digits++;
  return BLOCK + blocks(text + digits) + member;
}

/** The sample as member names and bytes, or a {@link SampleWriteError} naming what is wrong. */
export function encodeSample(sample: unknown, index: number, previousKey: string | undefined): EncodedSample {
  if (typeof sample !== 'object' || sample === null || Array.isArray(sample)) {
    throw new SampleWriteError(
      'RXFEED_ERR_SAMPLE_KEY',
      index,
      '(none)',
      undefined,
      `is missing: the sample is ${describe(sample)}, not an object`,
    );
  }
  const record = sample as Record<string, unknown>;
  // A getter of the user's that throws fails the sample like any other unwritable value, with the sample named.
  const read = (name: string, code: SampleWriteError['code'], keyText: string): unknown => {
    try {
      return record[name];
    } catch (error) {
      const failure = new SampleWriteError(
        code,
        index,
        keyText,
        code === 'RXFEED_ERR_SAMPLE_KEY' ? undefined : excerpt(name, 120),
        `cannot be read: its getter threw ${excerpt(error instanceof Error ? error.message : String(error))}`,
      );
      failure.cause = error;
      throw failure;
    }
  };
  const key: unknown = read('__key__', 'RXFEED_ERR_SAMPLE_KEY', '(none)');
  if (typeof key !== 'string') {
    throw new SampleWriteError('RXFEED_ERR_SAMPLE_KEY', index, '(none)', undefined, `must be a string, got ${describe(key)}`);
  }
  const badKey = (reason: string): SampleWriteError =>
    new SampleWriteError('RXFEED_ERR_SAMPLE_KEY', index, excerpt(key, 120), undefined, reason);
  if (key === '') throw badKey('is empty');
  if (KEY_FORBIDDEN.test(key)) {
    throw badKey(
      key.includes('.')
        ? 'holds a "." : WebDataset splits a member name at the first dot of its basename, so the key would read back cut there'
        : 'holds a "\\" or a control character',
    );
  }
  if (LONE_SURROGATE.test(key)) throw badKey('holds a lone UTF-16 surrogate: tar names are UTF-8, so it would read back as U+FFFD');
  if (key.startsWith('/') || key.endsWith('/') || key.includes('//') || isUnsafeMemberName(key)) {
    throw badKey('is not a relative name of non-empty "/"-separated parts');
  }
  if (key === previousKey) throw badKey('repeats the key of the sample before it: a reader would merge the two samples');
  const members: { name: string; data: Buffer }[] = [];
  let bytes = 0;
  for (const field of Object.keys(record).sort()) {
    if (field.startsWith('_')) continue;
    const value = read(field, 'RXFEED_ERR_SAMPLE_FIELD', key);
    if (value === undefined) continue;
    const badField = (reason: string): SampleWriteError =>
      new SampleWriteError('RXFEED_ERR_SAMPLE_FIELD', index, key, excerpt(field, 120), reason);
    if (LONE_SURROGATE.test(field)) {
      throw badField('holds a lone UTF-16 surrogate: tar names are UTF-8, so it would read back as U+FFFD');
    }
    if (FIELD_FORBIDDEN.test(field) || field.startsWith('.') || field.endsWith('.')) {
      throw badField('is not an extension: it holds "/", "\\" or a control character, or starts or ends with "."');
    }
    if (field !== field.toLowerCase())
      throw badField('has upper-case letters: readers lower-case extensions, so it would read back renamed');
    const name = `${key}.${field}`;
    if (isMetaMember(name)) throw badField(`makes the member name ${JSON.stringify(name)}, which readers take for shard metadata`);
    let data: Buffer;
    if (value instanceof Uint8Array) {
      data = Buffer.from(value.buffer, value.byteOffset, value.byteLength);
    } else if (typeof value === 'string') {
      data = Buffer.from(value, 'utf8');
    } else if (typeof value === 'bigint') {
      data = Buffer.from(value.toString(), 'latin1');
    } else if (typeof value === 'number') {
      if (!Number.isFinite(value)) throw badField(`is ${value}, which has no decimal text`);
      data = Buffer.from(String(value), 'latin1');
    } else if (isPlainContainer(value) && (field === 'json' || field.endsWith('.json'))) {
      try {
        data = Buffer.from(JSON.stringify(value), 'utf8');
      } catch (error) {
        throw badField(`cannot be written as JSON: ${excerpt(error instanceof Error ? error.message : String(error))}`);
      }
    } else {
      throw badField(
        `is ${describe(value)}: expected a Uint8Array, string, number or bigint (or a plain object or array for a field ending in "json")`,
      );
    }
    members.push({ name, data });
    bytes += memberBytes(name, data.byteLength);
  }
  if (members.length === 0) {
    throw new SampleWriteError('RXFEED_ERR_SAMPLE_FIELD', index, key, '(none)', 'has no field to write: it would not read back');
  }
  return { key, members, bytes };
}
