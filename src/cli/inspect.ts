/**
 * `rxfeed inspect <input> [-n 3]`: the first samples of an input, field by field: name, type,
 * shape, size and a short excerpt of the value (never a whole binary).
 *
 * Memory: the N samples being described, each whole as its source gives it (a TFDS episode with
 * its images), within the source's own bounds; a field is decoded as text only up to 64 KiB, and
 * numeric excerpts copy at most 31 values.
 *
 * @module
 * @internal
 */
import { decodeExample, decodeSequenceExample } from '../../sources/tfrecord/example.js';
import type { Example, FeatureValue, SequenceExample } from '../../sources/tfrecord/exampleReader.js';
import type { ResolvedInput } from './inputs.js';
import { bigintsAsStrings, EXCERPT_CHARS, excerptText, formatBytes, table, type CliRun } from './output.js';
import { drain, itemsOf } from './read.js';

/** One field of one sample. */
export interface InspectedField {
  /** The field's name: a WebDataset extension, a feature name, a TFDS feature path (`steps[]/image`), a document field. */
  readonly name: string;
  /**
   * Its type: `bytes`, `image`, `int`, `string`, `json`, `gzip` (WebDataset, from the extension
   * and the bytes); `int64`, `float`, `bytes` (Example features); the typed array's dtype, `list`,
   * `dict`, `string`, `number`, `bigint`, `bool` (TFDS); the BSON type (MongoDB).
   */
  readonly type: string;
  /** Its shape: a list's length, an image's `[height, width]`; absent for scalars. */
  readonly shape?: readonly number[];
  /** Bytes it holds (a binary's length, a numeric array's byte length, a string's UTF-8 length). */
  readonly bytes: number;
  /** The start of its value, at most 60 characters (absent for binaries). */
  readonly value?: string;
}

/** One sample of `inspect`. */
export interface InspectedSample {
  /** `__key__` of a WebDataset sample, `_id` of a document, the record number otherwise. */
  readonly key: string;
  readonly fields: readonly InspectedField[];
}

/** What `inspect --json` prints. */
export interface InspectResult {
  readonly input: string;
  readonly format: ResolvedInput['format'];
  readonly samples: readonly InspectedSample[];
}

/** The first `count` samples of `input`, described. */
export async function inspect(input: ResolvedInput, count: number, run: CliRun): Promise<InspectResult> {
  const samples: InspectedSample[] = [];
  const items = await itemsOf(input, { pageSize: Math.min(1000, Math.max(1, count)) });
  await drain(items, run.signal, (item) => {
    if (samples.length >= count) return false;
    samples.push(describeItem(input.format, item, samples.length));
    return samples.length < count;
  });
  return { input: input.name, format: input.format, samples };
}

function describeItem(format: ResolvedInput['format'], item: unknown, position: number): InspectedSample {
  switch (format) {
    case 'tar':
      return wdsSample(item as Record<string, Uint8Array | string>);
    case 'tfrecord':
      return { key: String(position), fields: recordFields(item as Uint8Array) };
    case 'tfds':
      return { key: String(position), fields: treeFields(item, '') };
    case 'mongodb':
      return mongoDocument(item as Record<string, unknown>);
  }
}

const TEXT = new TextDecoder('utf-8', { fatal: true });
const INT_EXTENSIONS = new Set(['cls', 'cls2', 'index', 'inx', 'id']);
const TEXT_EXTENSIONS = new Set(['txt', 'text', 'transcript']);
const JSON_EXTENSIONS = new Set(['json', 'jsn']);

function wdsSample(sample: Record<string, Uint8Array | string>): InspectedSample {
  const fields: InspectedField[] = [];
  for (const [name, value] of Object.entries(sample)) {
    if (name === '__key__' || name === '__url__' || typeof value === 'string') continue;
    fields.push(wdsField(name, value));
  }
  return { key: String(sample.__key__), fields };
}

/** A WebDataset field typed by its extension, as WebDataset's default decoders read it. */
function wdsField(name: string, bytes: Uint8Array): InspectedField {
  const extension = name.slice(name.lastIndexOf('.') + 1).toLowerCase();
  if (bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b) return { name, type: 'gzip', bytes: bytes.length };
  const image = imageShape(bytes);
  if (image !== undefined) return { name, type: 'image', shape: image, bytes: bytes.length };
  const text = utf8(bytes);
  if (text !== undefined) {
    if (INT_EXTENSIONS.has(extension) && /^\s*-?\d+\s*$/.test(text)) return { name, type: 'int', bytes: bytes.length, value: text.trim() };
    if (JSON_EXTENSIONS.has(extension)) return { name, type: 'json', bytes: bytes.length, value: excerptText(text) };
    if (TEXT_EXTENSIONS.has(extension) || INT_EXTENSIONS.has(extension))
      return { name, type: 'string', bytes: bytes.length, value: excerptText(text) };
  }
  return { name, type: 'bytes', bytes: bytes.length };
}

/** Strict UTF-8 of the first bytes (a short text's whole), or undefined for binary data. */
function utf8(bytes: Uint8Array): string | undefined {
  if (bytes.length > 64 * 1024) return undefined;
  try {
    return TEXT.decode(bytes);
  } catch {
    return undefined;
  }
}

/** `[height, width]` from a PNG's IHDR or a JPEG's SOF marker; undefined for anything else. */
export function imageShape(bytes: Uint8Array): [number, number] | undefined {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (bytes.length >= 24 && view.getUint32(0) === 0x89504e47 && view.getUint32(12) === 0x49484452) {
    return [view.getUint32(20), view.getUint32(16)];
  }
  if (bytes.length < 4 || bytes[0] !== 0xff || bytes[1] !== 0xd8) return undefined;
  let at = 2;
  // Walk the marker segments to the first start-of-frame; each step moves forward by a segment length.
  while (at + 9 <= bytes.length && bytes[at] === 0xff) {
    const marker = bytes[at + 1]!;
    const length = view.getUint16(at + 2);
    if (marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc) {
      return [view.getUint16(at + 5), view.getUint16(at + 7)];
    }
    if (length < 2) return undefined;
    at += 2 + length;
  }
  return undefined;
}

/**
 * A record as the message it holds: a SequenceExample when it has feature lists, else an Example.
 * An Example's features and a SequenceExample's context are the same field (1), so one decode
 * tells both; a record whose field 2 is not feature lists is decoded as an Example, whose reader
 * skips that field (or fails typed).
 */
export function decodeRecord(record: Uint8Array): { readonly example: Example } | { readonly sequence: SequenceExample } {
  let sequence: SequenceExample;
  try {
    sequence = decodeSequenceExample(record);
  } catch {
    return { example: decodeExample(record) };
  }
  return Object.keys(sequence.featureLists).length === 0 ? { example: sequence.context } : { sequence };
}

/** The features of one record: an Example's, or a SequenceExample's context and feature lists. */
function recordFields(record: Uint8Array): InspectedField[] {
  const decoded = decodeRecord(record);
  if ('example' in decoded) return Object.entries(decoded.example).map(([name, value]) => featureField(name, value));
  const { sequence } = decoded;
  return [
    ...Object.entries(sequence.context).map(([name, value]) => featureField(`context/${name}`, value)),
    ...Object.entries(sequence.featureLists).map(([name, steps]): InspectedField => {
      const first = steps[0];
      const inner = first === undefined ? undefined : featureField(name, first);
      return {
        name: `feature_lists/${name}`,
        type: `list of ${inner?.type ?? 'empty'}`,
        shape: [steps.length, ...(inner?.shape ?? [])],
        bytes: steps.reduce((sum, step) => sum + featureField(name, step).bytes, 0),
        ...(inner?.value === undefined ? {} : { value: `[${inner.value}, ...]` }),
      };
    }),
  ];
}

function featureField(name: string, value: FeatureValue): InspectedField {
  if (value === null) return { name, type: 'empty', shape: [0], bytes: 0 };
  if (Array.isArray(value)) {
    const lists = value;
    const bytes = lists.reduce((sum, item) => sum + item.length, 0);
    const first = lists[0];
    const text = first === undefined ? undefined : utf8(first);
    const image = first === undefined ? undefined : imageShape(first);
    const shown = text !== undefined && image === undefined ? { value: excerptText(text) } : {};
    return { name, type: image === undefined ? 'bytes' : 'bytes (image)', shape: [lists.length], bytes, ...shown };
  }
  const numbers = value as Exclude<FeatureValue, null | Uint8Array[]>;
  const type = numbers instanceof BigInt64Array ? 'int64' : 'float';
  return {
    name,
    type,
    shape: [numbers.length],
    bytes: numbers.byteLength,
    value: listExcerpt(firstValues(numbers as ArrayLike<number | bigint>)),
  };
}

/**
 * The first values of a numeric array, as many as an excerpt can show (each takes at least one
 * character and a separator): a million-value tensor is not copied to show 30 of them.
 */
function firstValues(array: ArrayLike<number | bigint>): (number | bigint | string)[] {
  const float32 = array instanceof Float32Array;
  return Array.from({ length: Math.min(array.length, EXCERPT_CHARS / 2 + 1) }, (_, index) => {
    const value = array[index]!;
    return float32 ? float32Text(value as number) : value;
  });
}

/** A float32 at the precision it holds (7 significant digits), not its float64 expansion. */
function float32Text(value: number): string {
  return String(Number(value.toPrecision(7)));
}

function listExcerpt(values: readonly (number | bigint | string | boolean)[]): string {
  let text = '';
  for (const value of values) {
    const next = `${text === '' ? '' : ', '}${String(value)}`;
    if (text.length + next.length > EXCERPT_CHARS) return `[${text}, ...]`;
    text += next;
  }
  return `[${text}]`;
}

/** Walk a decoded TFDS example: dicts by name, lists by their first element (`steps[]/image`). */
function treeFields(value: unknown, path: string): InspectedField[] {
  const name = path === '' ? '.' : path;
  if (ArrayBuffer.isView(value) && !(value instanceof DataView)) {
    const array = value as unknown as ArrayLike<number | bigint> & ArrayBufferView;
    const image = value instanceof Uint8Array ? imageShape(value) : undefined;
    if (image !== undefined) return [{ name, type: 'image (encoded)', shape: image, bytes: array.byteLength }];
    return [
      {
        name,
        type: dtypeOf(value),
        shape: [array.length],
        bytes: array.byteLength,
        value: listExcerpt(firstValues(array)),
      },
    ];
  }
  if (Array.isArray(value)) {
    const list: InspectedField = { name, type: 'list', shape: [value.length], bytes: 0 };
    return value.length === 0 ? [list] : [list, ...treeFields(value[0], `${path}[]`)];
  }
  if (typeof value === 'object' && value !== null) {
    const image = value as { data?: unknown; shape?: unknown };
    if (image.data instanceof Uint8Array && Array.isArray(image.shape)) {
      return [{ name, type: 'image (uint8)', shape: image.shape as number[], bytes: image.data.byteLength }];
    }
    return Object.entries(value).flatMap(([key, child]) => treeFields(child, path === '' ? key : `${path}/${key}`));
  }
  if (typeof value === 'string') return [{ name, type: 'string', bytes: Buffer.byteLength(value), value: excerptText(value) }];
  return [{ name, type: typeof value === 'boolean' ? 'bool' : typeof value, bytes: 8, value: String(value) }];
}

function dtypeOf(array: ArrayBufferView): string {
  const names: Record<string, string> = {
    Uint8Array: 'uint8',
    Int8Array: 'int8',
    Int16Array: 'int16',
    Uint16Array: 'uint16',
    Int32Array: 'int32',
    Uint32Array: 'uint32',
    Float32Array: 'float32',
    Float64Array: 'float64',
    BigInt64Array: 'int64',
    BigUint64Array: 'uint64',
  };
  return names[array.constructor.name] ?? 'bytes';
}

function mongoDocument(document: Record<string, unknown>): InspectedSample {
  return { key: idText(document._id), fields: Object.entries(document).map(([name, value]) => bsonField(name, value)) };
}

/** An `_id` as text: an ObjectId's hex, a string, a number. */
export function idText(id: unknown): string {
  if (typeof id === 'object' && id !== null && typeof (id as { toHexString?: unknown }).toHexString === 'function') {
    return (id as { toHexString(): string }).toHexString();
  }
  return typeof id === 'string' ? id : (JSON.stringify(id) ?? String(id));
}

/**
 * The bytes of a BSON Binary as the driver returns it (its `buffer` may be longer than the
 * `position` bytes it holds), or `undefined` for any other value.
 */
export function bsonBinaryBytes(value: unknown): Uint8Array | undefined {
  const binary = value as { _bsontype?: unknown; buffer?: unknown; position?: unknown } | null;
  if (typeof binary !== 'object' || binary === null || binary._bsontype !== 'Binary' || !(binary.buffer instanceof Uint8Array)) {
    return undefined;
  }
  return binary.buffer.subarray(0, binary.position as number);
}

/** Bytes of the fixed-size BSON types (others are sized by their JSON text). */
const BSON_BYTES: Readonly<Record<string, number>> = { ObjectId: 12, Long: 8, Double: 8, Int32: 4, Decimal128: 16, Timestamp: 8 };

/** A document field by its BSON type (told by the driver's `_bsontype`, or the JavaScript type it was promoted to). */
function bsonField(name: string, value: unknown): InspectedField {
  const bsonType = typeof value === 'object' && value !== null ? (value as { _bsontype?: unknown })._bsontype : undefined;
  const binary = bsonBinaryBytes(value) ?? (value instanceof Uint8Array ? value : undefined);
  if (binary !== undefined) return { name, type: 'binData', bytes: binary.byteLength };
  if (typeof bsonType === 'string') {
    const bytes = BSON_BYTES[bsonType] ?? Buffer.byteLength(String(JSON.stringify(value)));
    return { name, type: bsonType.charAt(0).toLowerCase() + bsonType.slice(1), bytes, value: excerptText(idText(value)) };
  }
  if (value === null) return { name, type: 'null', bytes: 0 };
  if (value instanceof Date) return { name, type: 'date', bytes: 8, value: value.toISOString() };
  if (Array.isArray(value))
    return { name, type: 'array', shape: [value.length], bytes: jsonBytes(value), value: excerptText(JSON.stringify(value) ?? '') };
  switch (typeof value) {
    case 'string':
      return { name, type: 'string', bytes: Buffer.byteLength(value), value: excerptText(value) };
    case 'number':
      return { name, type: Number.isInteger(value) ? 'int' : 'double', bytes: 8, value: String(value) };
    case 'boolean':
      return { name, type: 'bool', bytes: 1, value: String(value) };
    case 'bigint':
      return { name, type: 'long', bytes: 8, value: String(value) };
    default:
      return { name, type: 'object', bytes: jsonBytes(value), value: excerptText(JSON.stringify(value) ?? '') };
  }
}

function jsonBytes(value: unknown): number {
  return Buffer.byteLength(JSON.stringify(value, bigintsAsStrings) ?? '');
}

/** `inspect` as text: one table per sample. */
export function inspectText(result: InspectResult): string {
  const parts = [`${result.format}: ${result.input}`];
  result.samples.forEach((sample, index) => {
    parts.push(
      `\nsample ${index}: ${sample.key}`,
      table(
        [
          { header: 'field', align: 'left' },
          { header: 'type', align: 'left' },
          { header: 'shape', align: 'left' },
          { header: 'size' },
          { header: 'value', align: 'left' },
        ],
        sample.fields.map((field) => [
          field.name,
          field.type,
          field.shape === undefined ? '' : `[${field.shape.join(', ')}]`,
          formatBytes(field.bytes),
          field.value ?? '',
        ]),
      ),
    );
  });
  if (result.samples.length === 0) parts.push('(no samples)');
  return parts.join('\n');
}
