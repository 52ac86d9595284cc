/**
 * A small protocol-buffer codec for `tf.train.Example` and `tf.train.SequenceExample`
 * (tensorflow/core/example/{example,feature}.proto), written against the wire format: varints,
 * length-delimited fields, packed and unpacked repeated scalars. No generated code, no protobuf
 * runtime.
 *
 * Decoded values are fresh copies: they never alias the record bytes, so the reader may reuse its
 * buffer and a value may be transferred to a worker thread.
 *
 * @module
 */
import { InvalidArgumentError } from '../../src/errors.js';
import { setField } from '../../src/fields.js';
import { FeatureError, MalformedExampleError } from './errors.js';

/**
 * How int64 values are returned.
 *
 * - `bigint` (default): a `BigInt64Array`, every value exact.
 * - `number`: a `Float64Array` of integers; a value beyond ±(2^53 - 1) raises a
 *   {@link FeatureError} (`precision`) instead of being rounded.
 * - `int32`: an `Int32Array`; a value outside the int32 range raises a {@link FeatureError}.
 * @public
 */
export type Int64Mode = 'bigint' | 'number' | 'int32';

/**
 * One decoded `tf.train.Feature`: an `int64_list` (a `BigInt64Array`, or a `Float64Array` /
 * `Int32Array` per {@link Int64Mode}), a `float_list` (`Float32Array`) or a `bytes_list`
 * (`Uint8Array[]`). `null` when the Feature has no list set at all (TensorFlow reads that as an
 * empty list of any type).
 * @public
 */
export type FeatureValue = BigInt64Array | Float64Array | Int32Array | Float32Array | Uint8Array[] | null;

/**
 * A decoded `tf.train.Example`: its features by name.
 * @public
 */
export type Example = Record<string, FeatureValue>;

/**
 * A decoded `tf.train.SequenceExample`.
 * @public
 */
export interface SequenceExample {
  /** The `context` features. */
  readonly context: Example;
  /** Each `feature_lists` entry: one Feature per step. */
  readonly featureLists: Record<string, FeatureValue[]>;
}

/**
 * Options of {@link decodeExample} and {@link decodeSequenceExample}.
 * @public
 */
export interface ExampleDecodeOptions {
  /** How int64 lists are returned (default `bigint`). */
  readonly int64?: Int64Mode;
}

const WIRE_VARINT = 0;
const WIRE_FIXED64 = 1;
const WIRE_LENGTH = 2;
const WIRE_FIXED32 = 5;

const utf8 = new TextDecoder('utf-8', { fatal: true });
const utf8Encoder = new TextEncoder();

/** Low and high 32 bits of the last varint read by {@link readVarint64}. */
let varLo = 0;
let varHi = 0;

function malformed(detail: string): never {
  throw new MalformedExampleError(detail);
}

/** Reads a varint of at most 64 bits at `pos` into varLo/varHi; returns the position after it. */
function readVarint64(buf: Uint8Array, pos: number, end: number): number {
  let lo = 0;
  let hi = 0;
  let shift = 0;
  let byte: number;
  // The low 28 bits: four 7-bit groups.
  for (; shift < 28; shift += 7) {
    if (pos >= end) malformed('varint runs past the end of its field');
    byte = buf[pos++]!;
    lo |= (byte & 0x7f) << shift;
    if (byte < 0x80) {
      varLo = lo >>> 0;
      varHi = 0;
      return pos;
    }
  }
  // Byte 5 straddles the two halves: 4 bits low, 3 bits high.
  if (pos >= end) malformed('varint runs past the end of its field');
  byte = buf[pos++]!;
  lo |= (byte & 0x0f) << 28;
  hi = (byte & 0x7f) >> 4;
  if (byte >= 0x80) {
    for (shift = 3; ; shift += 7) {
      if (pos >= end) malformed('varint runs past the end of its field');
      if (shift > 31) malformed('varint longer than 10 bytes');
      byte = buf[pos++]!;
      hi |= (byte & 0x7f) << shift;
      if (byte < 0x80) break;
    }
  }
  varLo = lo >>> 0;
  varHi = hi >>> 0;
  return pos;
}

/** Reads a varint used as a tag or a length (must fit 2^53). */
function readLength(buf: Uint8Array, pos: number, end: number): number {
  pos = readVarint64(buf, pos, end);
  if (varHi > 0x1fffff) malformed('length varint too large');
  return pos;
}

function varValue(): number {
  return varHi * 4294967296 + varLo;
}

/** Skips a field of wire type `wire` at `pos`; returns the position after it. */
function skipField(buf: Uint8Array, pos: number, end: number, wire: number): number {
  switch (wire) {
    case WIRE_VARINT:
      return readVarint64(buf, pos, end);
    case WIRE_FIXED64:
      pos += 8;
      break;
    case WIRE_LENGTH: {
      pos = readLength(buf, pos, end);
      pos += varValue();
      break;
    }
    case WIRE_FIXED32:
      pos += 4;
      break;
    default:
      malformed(`unsupported wire type ${wire}`);
  }
  if (pos > end) malformed('field runs past the end of its message');
  return pos;
}

/** Start and end of a length-delimited field's payload; sets {@link fieldEnd}. */
let fieldEnd = 0;
function readDelimited(buf: Uint8Array, pos: number, end: number): number {
  pos = readLength(buf, pos, end);
  fieldEnd = pos + varValue();
  if (fieldEnd > end) malformed('length-delimited field runs past the end of its message');
  return pos;
}

function copyFloats(buf: Uint8Array, start: number, end: number): Float32Array {
  const length = end - start;
  if (length % 4 !== 0) malformed('packed float_list length is not a multiple of 4');
  const offset = buf.byteOffset + start;
  // `ArrayBuffer.slice` copies and yields an aligned buffer, whatever the field's alignment.
  return new Float32Array((buf.buffer as ArrayBuffer).slice(offset, offset + length));
}

/** Checks an int64 against the mode and writes it at `index` of `out`. */
function storeInt64(
  out: BigInt64Array | Float64Array | Int32Array,
  words: Int32Array | undefined,
  index: number,
  lo: number,
  hi: number,
  mode: Int64Mode,
  feature: string,
): void {
  if (mode === 'bigint') {
    // Write the two 32-bit halves through an Int32Array view: no BigInt is created per value.
    words![2 * index] = lo | 0;
    words![2 * index + 1] = hi | 0;
    return;
  }
  const signedHi = hi | 0;
  if (mode === 'int32') {
    if (signedHi !== (lo | 0) >> 31) {
      throw new FeatureError(feature, 'precision', `int64 value ${int64String(lo, hi)} does not fit int32`);
    }
    (out as Int32Array)[index] = lo | 0;
    return;
  }
  const value = signedHi * 4294967296 + (lo >>> 0);
  if (!Number.isSafeInteger(value)) {
    throw new FeatureError(feature, 'precision', `int64 value ${int64String(lo, hi)} is not a safe integer`);
  }
  (out as Float64Array)[index] = value;
}

function int64String(lo: number, hi: number): string {
  return BigInt.asIntN(64, (BigInt(hi >>> 0) << 32n) | BigInt(lo >>> 0)).toString();
}

function allocInt64(count: number, mode: Int64Mode): BigInt64Array | Float64Array | Int32Array {
  return mode === 'bigint' ? new BigInt64Array(count) : mode === 'number' ? new Float64Array(count) : new Int32Array(count);
}

function wordsOf(array: BigInt64Array | Float64Array | Int32Array, mode: Int64Mode): Int32Array | undefined {
  return mode === 'bigint' ? new Int32Array(array.buffer, array.byteOffset, array.length * 2) : undefined;
}

/** Decodes an Int64List message occupying buf[start, end). */
function decodeInt64List(
  buf: Uint8Array,
  start: number,
  end: number,
  mode: Int64Mode,
  feature: string,
): BigInt64Array | Float64Array | Int32Array {
  // First pass: count the values (packed runs may repeat, and unpacked values may interleave).
  let count = 0;
  let pos = start;
  while (pos < end) {
    pos = readLength(buf, pos, end);
    const tag = varValue();
    const field = Math.floor(tag / 8);
    const wire = tag & 7;
    if (field === 1 && wire === WIRE_LENGTH) {
      pos = readDelimited(buf, pos, end);
      for (let i = pos; i < fieldEnd; i++) if (buf[i]! < 0x80) count++;
      if (fieldEnd > pos && buf[fieldEnd - 1]! >= 0x80) malformed('packed int64_list ends inside a varint');
      pos = fieldEnd;
    } else if (field === 1 && wire === WIRE_VARINT) {
      pos = readVarint64(buf, pos, end);
      count++;
    } else {
      pos = skipField(buf, pos, end, wire);
    }
  }
  const out = allocInt64(count, mode);
  const words = wordsOf(out, mode);
  let index = 0;
  pos = start;
  while (pos < end) {
    pos = readLength(buf, pos, end);
    const tag = varValue();
    const field = Math.floor(tag / 8);
    const wire = tag & 7;
    if (field === 1 && wire === WIRE_LENGTH) {
      pos = readDelimited(buf, pos, end);
      const stop = fieldEnd;
      while (pos < stop) {
        pos = readVarint64(buf, pos, stop);
        storeInt64(out, words, index++, varLo, varHi, mode, feature);
      }
    } else if (field === 1 && wire === WIRE_VARINT) {
      pos = readVarint64(buf, pos, end);
      storeInt64(out, words, index++, varLo, varHi, mode, feature);
    } else {
      pos = skipField(buf, pos, end, wire);
    }
  }
  return out;
}

/** Decodes a FloatList message occupying buf[start, end). */
function decodeFloatList(buf: Uint8Array, start: number, end: number): Float32Array {
  let pos = start;
  let single: Float32Array | undefined;
  let parts: Float32Array[] | undefined;
  const push = (part: Float32Array): void => {
    if (single === undefined && parts === undefined) single = part;
    else (parts ??= [single!]).push(part);
  };
  while (pos < end) {
    pos = readLength(buf, pos, end);
    const tag = varValue();
    const field = Math.floor(tag / 8);
    const wire = tag & 7;
    if (field === 1 && wire === WIRE_LENGTH) {
      pos = readDelimited(buf, pos, end);
      push(copyFloats(buf, pos, fieldEnd));
      pos = fieldEnd;
    } else if (field === 1 && wire === WIRE_FIXED32) {
      if (pos + 4 > end) malformed('float runs past the end of its message');
      push(copyFloats(buf, pos, pos + 4));
      pos += 4;
    } else {
      pos = skipField(buf, pos, end, wire);
    }
  }
  if (parts !== undefined) {
    const out = new Float32Array(parts.reduce((sum, part) => sum + part.length, 0));
    let at = 0;
    for (const part of parts) {
      out.set(part, at);
      at += part.length;
    }
    return out;
  }
  return single ?? new Float32Array(0);
}

/** Decodes a BytesList message occupying buf[start, end). */
function decodeBytesList(buf: Uint8Array, start: number, end: number): Uint8Array[] {
  const out: Uint8Array[] = [];
  let pos = start;
  while (pos < end) {
    pos = readLength(buf, pos, end);
    const tag = varValue();
    if (tag === ((1 << 3) | WIRE_LENGTH)) {
      pos = readDelimited(buf, pos, end);
      out.push(buf.slice(pos, fieldEnd));
      pos = fieldEnd;
    } else {
      pos = skipField(buf, pos, end, tag & 7);
    }
  }
  return out;
}

/** Decodes a Feature message occupying buf[start, end). */
function decodeFeature(buf: Uint8Array, start: number, end: number, mode: Int64Mode, name: string): FeatureValue {
  let value: FeatureValue = null;
  let pos = start;
  while (pos < end) {
    pos = readLength(buf, pos, end);
    const tag = varValue();
    const field = Math.floor(tag / 8);
    const wire = tag & 7;
    if (wire === WIRE_LENGTH && field >= 1 && field <= 3) {
      pos = readDelimited(buf, pos, end);
      const stop = fieldEnd;
      // A oneof: the last list present wins, as protobuf parsing does.
      value =
        field === 1
          ? decodeBytesList(buf, pos, stop)
          : field === 2
            ? decodeFloatList(buf, pos, stop)
            : decodeInt64List(buf, pos, stop, mode, name);
      pos = stop;
    } else {
      pos = skipField(buf, pos, end, wire);
    }
  }
  return value;
}

function decodeKey(buf: Uint8Array, start: number, end: number): string {
  // Feature names are short ASCII almost always: skip the TextDecoder call for those.
  if (end - start <= 64) {
    let ascii = true;
    for (let i = start; i < end; i++) {
      if (buf[i]! >= 0x80) {
        ascii = false;
        break;
      }
    }
    if (ascii) return String.fromCharCode.apply(null, buf.subarray(start, end) as unknown as number[]);
  }
  try {
    return utf8.decode(buf.subarray(start, end));
  } catch {
    return malformed('a feature name is not valid UTF-8');
  }
}

/**
 * Decodes one map entry (`key` = 1, `value` = 2) occupying buf[start, end); returns the key and
 * the value's bounds through the callback.
 */
function decodeMapEntry(
  buf: Uint8Array,
  start: number,
  end: number,
  onEntry: (key: string, valueStart: number, valueEnd: number) => void,
): void {
  let key = '';
  let valueStart = -1;
  let valueEnd = -1;
  let pos = start;
  while (pos < end) {
    pos = readLength(buf, pos, end);
    const tag = varValue();
    if (tag === ((1 << 3) | WIRE_LENGTH)) {
      pos = readDelimited(buf, pos, end);
      key = decodeKey(buf, pos, fieldEnd);
      pos = fieldEnd;
    } else if (tag === ((2 << 3) | WIRE_LENGTH)) {
      pos = readDelimited(buf, pos, end);
      valueStart = pos;
      valueEnd = fieldEnd;
      pos = fieldEnd;
    } else {
      pos = skipField(buf, pos, end, tag & 7);
    }
  }
  // A missing value is the default (empty) message.
  onEntry(key, valueStart < 0 ? end : valueStart, valueStart < 0 ? end : valueEnd);
}

/**
 * Decodes a message whose field 1 is a `map<string, V>` (Features, FeatureLists) occupying
 * buf[start, end), setting `out[key] = decodeValue(valueStart, valueEnd, key)` for each entry.
 */
function decodeMapField<V>(
  buf: Uint8Array,
  start: number,
  end: number,
  out: Record<string, V>,
  decodeValue: (valueStart: number, valueEnd: number, key: string) => V,
): void {
  let pos = start;
  while (pos < end) {
    pos = readLength(buf, pos, end);
    const tag = varValue();
    if (tag === ((1 << 3) | WIRE_LENGTH)) {
      pos = readDelimited(buf, pos, end);
      const stop = fieldEnd;
      decodeMapEntry(buf, pos, stop, (key, s, e) => setField(out, key, decodeValue(s, e, key)));
      pos = stop;
    } else {
      pos = skipField(buf, pos, end, tag & 7);
    }
  }
}

/** Decodes a Features message occupying buf[start, end) into `out`. */
function decodeFeatures(buf: Uint8Array, start: number, end: number, mode: Int64Mode, out: Example): void {
  decodeMapField(buf, start, end, out, (s, e, key) => decodeFeature(buf, s, e, mode, key));
}

/**
 * The int64 mode an option asks for (`bigint` when absent), or an `InvalidArgumentError` naming
 * the option.
 * @internal
 */
export function int64ModeOf(value: unknown, option: string): Int64Mode {
  const mode = value ?? 'bigint';
  if (mode !== 'bigint' && mode !== 'number' && mode !== 'int32') {
    const shown = typeof mode === 'string' ? JSON.stringify(mode.slice(0, 40)) : typeof mode;
    throw new InvalidArgumentError(option, `must be 'bigint', 'number' or 'int32', got ${shown}`);
  }
  return mode;
}

/** The bytes and options of a decode call, checked. */
function decodeArgs(bytes: unknown, options: ExampleDecodeOptions | undefined, caller: string): Int64Mode {
  if (!(bytes instanceof Uint8Array)) throw new InvalidArgumentError(`${caller}.bytes`, 'must be a Uint8Array');
  if (options !== undefined && (typeof options !== 'object' || options === null)) {
    throw new InvalidArgumentError(`${caller}.options`, 'must be an object');
  }
  return int64ModeOf(options?.int64, `${caller}.int64`);
}

/**
 * Decodes a serialized `tf.train.Example`.
 *
 * @example
 * ```ts
 * const example = decodeExample(record);
 * const label = (example.label as BigInt64Array)[0];
 * ```
 *
 * @param bytes - The serialized message (e.g. one TFRecord record). Only read during the call.
 * @param options - See {@link ExampleDecodeOptions}.
 * @returns The features by name, as fresh typed arrays.
 * @throws {@link MalformedExampleError} when the bytes are not a valid message;
 *   {@link FeatureError} (`precision`) when an int64 does not fit the chosen mode;
 *   `InvalidArgumentError` when `bytes` is not a Uint8Array or `options.int64` is not a mode.
 * @public
 */
export function decodeExample(bytes: Uint8Array, options?: ExampleDecodeOptions): Example {
  const mode = decodeArgs(bytes, options, 'decodeExample');
  const out: Example = {};
  const end = bytes.length;
  let pos = 0;
  while (pos < end) {
    pos = readLength(bytes, pos, end);
    const tag = varValue();
    if (tag === ((1 << 3) | WIRE_LENGTH)) {
      pos = readDelimited(bytes, pos, end);
      const stop = fieldEnd;
      decodeFeatures(bytes, pos, stop, mode, out);
      pos = stop;
    } else {
      pos = skipField(bytes, pos, end, tag & 7);
    }
  }
  return out;
}

/**
 * Decodes a serialized `tf.train.SequenceExample`.
 *
 * @example
 * ```ts
 * const { context, featureLists } = decodeSequenceExample(record);
 * const steps = featureLists.tokens?.length ?? 0;
 * ```
 *
 * @param bytes - The serialized message. Only read during the call.
 * @param options - See {@link ExampleDecodeOptions}.
 * @returns The context features and the feature lists, as fresh typed arrays.
 * @throws {@link MalformedExampleError} when the bytes are not a valid message;
 *   `InvalidArgumentError` when `bytes` is not a Uint8Array or `options.int64` is not a mode.
 * @public
 */
export function decodeSequenceExample(bytes: Uint8Array, options?: ExampleDecodeOptions): SequenceExample {
  const mode = decodeArgs(bytes, options, 'decodeSequenceExample');
  const context: Example = {};
  const featureLists: Record<string, FeatureValue[]> = {};
  const end = bytes.length;
  let pos = 0;
  while (pos < end) {
    pos = readLength(bytes, pos, end);
    const tag = varValue();
    if (tag === ((1 << 3) | WIRE_LENGTH)) {
      pos = readDelimited(bytes, pos, end);
      const stop = fieldEnd;
      decodeFeatures(bytes, pos, stop, mode, context);
      pos = stop;
    } else if (tag === ((2 << 3) | WIRE_LENGTH)) {
      pos = readDelimited(bytes, pos, end);
      const stop = fieldEnd;
      decodeFeatureLists(bytes, pos, stop, mode, featureLists);
      pos = stop;
    } else {
      pos = skipField(bytes, pos, end, tag & 7);
    }
  }
  return { context, featureLists };
}

function decodeFeatureLists(
  buf: Uint8Array,
  start: number,
  end: number,
  mode: Int64Mode,
  out: Record<string, FeatureValue[]>,
): void {
  decodeMapField(buf, start, end, out, (s, e, key) => decodeFeatureList(buf, s, e, mode, key));
}

function decodeFeatureList(buf: Uint8Array, start: number, end: number, mode: Int64Mode, name: string): FeatureValue[] {
  const steps: FeatureValue[] = [];
  let pos = start;
  while (pos < end) {
    pos = readLength(buf, pos, end);
    const tag = varValue();
    if (tag === ((1 << 3) | WIRE_LENGTH)) {
      pos = readDelimited(buf, pos, end);
      const stop = fieldEnd;
      steps.push(decodeFeature(buf, pos, stop, mode, name));
      pos = stop;
    } else {
      pos = skipField(buf, pos, end, tag & 7);
    }
  }
  return steps;
}

// ---------------------------------------------------------------------------------------------
// Encoding

/**
 * A value {@link encodeExample} can write: `BigInt64Array`, `Int32Array` or `Float64Array` (whole
 * numbers, as the `number` int64 mode decodes them) become an `int64_list`; `Float32Array` a
 * `float_list`; an array of `Uint8Array` or strings (UTF-8) a `bytes_list`; `null` a Feature with
 * no list.
 * @public
 */
export type FeatureInput =
  | BigInt64Array
  | Int32Array
  | Float64Array
  | Float32Array
  | readonly (Uint8Array | string)[]
  | null;

/**
 * The features of an Example to encode, by name.
 * @public
 */
export type ExampleInput = Readonly<Record<string, FeatureInput>>;

/** A growable byte buffer for the encoder. */
class ByteWriter {
  bytes = new Uint8Array(256);
  length = 0;

  reserve(n: number): void {
    if (this.length + n <= this.bytes.length) return;
    let capacity = this.bytes.length * 2;
    while (capacity < this.length + n) capacity *= 2;
    const grown = new Uint8Array(capacity);
    grown.set(this.bytes.subarray(0, this.length));
    this.bytes = grown;
  }

  varint(value: number): void {
    this.reserve(10);
    while (value >= 0x80) {
      this.bytes[this.length++] = (value % 128) | 0x80;
      value = Math.floor(value / 128);
    }
    this.bytes[this.length++] = value;
  }

  /** A 64-bit two's complement varint from its halves. */
  varint64(lo: number, hi: number): void {
    this.reserve(10);
    lo >>>= 0;
    hi >>>= 0;
    while (hi !== 0 || lo >= 0x80) {
      this.bytes[this.length++] = (lo & 0x7f) | 0x80;
      lo = ((lo >>> 7) | (hi << 25)) >>> 0;
      hi >>>= 7;
    }
    this.bytes[this.length++] = lo;
  }

  raw(bytes: Uint8Array): void {
    this.reserve(bytes.length);
    this.bytes.set(bytes, this.length);
    this.length += bytes.length;
  }

  /** Writes a length-delimited field whose payload `write` produces. */
  nested(field: number, write: () => void): void {
    this.varint((field << 3) | WIRE_LENGTH);
    // Payloads are written after a 5-byte gap, then moved left to sit right after their length.
    this.reserve(5);
    const lengthAt = this.length;
    this.length += 5;
    const start = this.length;
    write();
    const size = this.length - start;
    const header = new ByteWriter();
    header.varint(size);
    this.bytes.copyWithin(lengthAt + header.length, start, this.length);
    this.bytes.set(header.bytes.subarray(0, header.length), lengthAt);
    this.length = lengthAt + header.length + size;
  }
}

function encodeFeature(writer: ByteWriter, name: string, value: FeatureInput): void {
  if (value === null) return;
  if (value instanceof Float32Array) {
    writer.nested(2, () => {
      writer.varint((1 << 3) | WIRE_LENGTH);
      writer.varint(value.length * 4);
      writer.raw(new Uint8Array(value.buffer, value.byteOffset, value.byteLength));
    });
    return;
  }
  if (value instanceof BigInt64Array || value instanceof Int32Array || value instanceof Float64Array) {
    writer.nested(3, () => {
      writer.nested(1, () => {
        for (let i = 0; i < value.length; i++) {
          const v = value[i]!;
          if (typeof v === 'bigint') {
            const u = BigInt.asUintN(64, v);
            writer.varint64(Number(u & 0xffffffffn), Number(u >> 32n));
          } else {
            if (!Number.isSafeInteger(v)) {
              throw new FeatureError(name, 'precision', `int64 value ${v} is not a safe integer`);
            }
            const lo = v % 4294967296;
            const hi = Math.floor(v / 4294967296);
            writer.varint64(lo < 0 ? lo + 4294967296 : lo, hi);
          }
        }
      });
    });
    return;
  }
  if (Array.isArray(value)) {
    writer.nested(1, () => {
      for (const item of value as readonly unknown[]) {
        if (typeof item !== 'string' && !(item instanceof Uint8Array)) {
          throw new FeatureError(name, 'dtype', 'a bytes_list holds only Uint8Arrays and strings');
        }
        const bytes = typeof item === 'string' ? utf8Encoder.encode(item) : item;
        writer.varint((1 << 3) | WIRE_LENGTH);
        writer.varint(bytes.length);
        writer.raw(bytes);
      }
    });
    return;
  }
  throw new FeatureError(name, 'dtype', 'not an int64, float or bytes list');
}

/**
 * Encodes a `tf.train.Example` (the inverse of {@link decodeExample}).
 *
 * @example
 * ```ts
 * const record = encodeExample({
 *   image: [jpegBytes],
 *   label: BigInt64Array.of(7n),
 *   weights: Float32Array.of(0.5, 0.25),
 * });
 * ```
 *
 * @param features - The features by name (see {@link FeatureInput}); written in key order.
 * @returns The serialized message.
 * @throws {@link FeatureError} (`dtype`, `precision`) naming a feature that cannot be written;
 *   `InvalidArgumentError` when `features` is not an object.
 * @public
 */
export function encodeExample(features: ExampleInput): Uint8Array {
  if (typeof features !== 'object' || features === null) {
    throw new InvalidArgumentError('encodeExample.features', 'must be an object of features by name');
  }
  const writer = new ByteWriter();
  writer.nested(1, () => {
    for (const [name, value] of Object.entries(features)) {
      writer.nested(1, () => {
        const key = utf8Encoder.encode(name);
        writer.varint((1 << 3) | WIRE_LENGTH);
        writer.varint(key.length);
        writer.raw(key);
        writer.nested(2, () => encodeFeature(writer, name, value));
      });
    }
  });
  return writer.bytes.slice(0, writer.length);
}
