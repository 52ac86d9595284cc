/**
 * The `tf.train.Example` / `SequenceExample` decoder (tensorflow/core/example/{example,feature}.proto),
 * written against the protobuf wire format: varints, length-delimited fields, packed and
 * unpacked repeated scalars. No generated code, no protobuf runtime.
 *
 * One {@link ExampleReader} decodes one message: the varint registers it keeps between calls
 * (the last varint's two halves, the end of the last delimited field) are its own fields, so two
 * decodes never share state. They are registers rather than returned objects because this is
 * the hot path of every decoded record: a varint read allocates nothing.
 *
 * Kept whole at about 500 lines: it is one decoder over one wire format, whose message, feature
 * and value readers call each other; split, each part would only make sense beside the others.
 *
 * Decoded values are fresh copies: they never alias the record bytes, so the reader may reuse its
 * buffer and a value may be transferred to a worker thread.
 *
 * @module
 */
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

/** Protobuf wire types. @internal */
export const WIRE_VARINT = 0;
/** @internal */
export const WIRE_FIXED64 = 1;
/** @internal */
export const WIRE_LENGTH = 2;
/** @internal */
export const WIRE_FIXED32 = 5;

const utf8 = new TextDecoder('utf-8', { fatal: true });

function malformed(detail: string): never {
  throw new MalformedExampleError(detail);
}

function copyFloats(buf: Uint8Array, start: number, end: number): Float32Array {
  const length = end - start;
  if (length % 4 !== 0) malformed('packed float_list length is not a multiple of 4');
  const offset = buf.byteOffset + start;
  // `ArrayBuffer.slice` copies and yields an aligned buffer, whatever the field's alignment.
  return new Float32Array((buf.buffer as ArrayBuffer).slice(offset, offset + length));
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

/**
 * Decodes one serialized `Example` or `SequenceExample`: make one per message.
 * @internal
 */
export class ExampleReader {
  readonly #buf: Uint8Array;
  readonly #mode: Int64Mode;
  /** Low and high 32 bits of the last varint read by {@link ExampleReader.readVarint64}. */
  #varLo = 0;
  #varHi = 0;
  /** End of the payload of the last field read by {@link ExampleReader.readDelimited}. */
  #fieldEnd = 0;

  constructor(bytes: Uint8Array, mode: Int64Mode) {
    this.#buf = bytes;
    this.#mode = mode;
  }

  /** The message as a `tf.train.Example`. */
  example(): Example {
    const buf = this.#buf;
    const out: Example = {};
    const end = buf.length;
    let pos = 0;
    while (pos < end) {
      pos = this.readLength(pos, end);
      const tag = this.varValue();
      if (tag === ((1 << 3) | WIRE_LENGTH)) {
        pos = this.readDelimited(pos, end);
        const stop = this.#fieldEnd;
        this.decodeFeatures(pos, stop, out);
        pos = stop;
      } else {
        pos = this.skipField(pos, end, tag & 7);
      }
    }
    return out;
  }

  /** The message as a `tf.train.SequenceExample`. */
  sequenceExample(): SequenceExample {
    const buf = this.#buf;
    const context: Example = {};
    const featureLists: Record<string, FeatureValue[]> = {};
    const end = buf.length;
    let pos = 0;
    while (pos < end) {
      pos = this.readLength(pos, end);
      const tag = this.varValue();
      if (tag === ((1 << 3) | WIRE_LENGTH)) {
        pos = this.readDelimited(pos, end);
        const stop = this.#fieldEnd;
        this.decodeFeatures(pos, stop, context);
        pos = stop;
      } else if (tag === ((2 << 3) | WIRE_LENGTH)) {
        pos = this.readDelimited(pos, end);
        const stop = this.#fieldEnd;
        this.decodeMapField(pos, stop, featureLists, (s, e, key) => this.decodeFeatureList(s, e, key));
        pos = stop;
      } else {
        pos = this.skipField(pos, end, tag & 7);
      }
    }
    return { context, featureLists };
  }

  /** Reads a varint of at most 64 bits at `pos` into the registers; returns the position after it. */
  private readVarint64(pos: number, end: number): number {
    const buf = this.#buf;
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
        this.#varLo = lo >>> 0;
        this.#varHi = 0;
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
    this.#varLo = lo >>> 0;
    this.#varHi = hi >>> 0;
    return pos;
  }

  /** Reads a varint used as a tag or a length (must fit 2^53). */
  private readLength(pos: number, end: number): number {
    pos = this.readVarint64(pos, end);
    if (this.#varHi > 0x1fffff) malformed('length varint too large');
    return pos;
  }

  private varValue(): number {
    return this.#varHi * 4294967296 + this.#varLo;
  }

  /** Skips a field of wire type `wire` at `pos`; returns the position after it. */
  private skipField(pos: number, end: number, wire: number): number {
    switch (wire) {
      case WIRE_VARINT:
        return this.readVarint64(pos, end);
      case WIRE_FIXED64:
        pos += 8;
        break;
      case WIRE_LENGTH: {
        pos = this.readLength(pos, end);
        pos += this.varValue();
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

  /** The start of a length-delimited field's payload; its end goes to the `fieldEnd` register. */
  private readDelimited(pos: number, end: number): number {
    pos = this.readLength(pos, end);
    this.#fieldEnd = pos + this.varValue();
    if (this.#fieldEnd > end) malformed('length-delimited field runs past the end of its message');
    return pos;
  }

  /** Decodes an Int64List message occupying buf[start, end). */
  private decodeInt64List(start: number, end: number, feature: string): BigInt64Array | Float64Array | Int32Array {
    const buf = this.#buf;
    const mode = this.#mode;
    // First pass: count the values (packed runs may repeat, and unpacked values may interleave).
    let count = 0;
    let pos = start;
    while (pos < end) {
      pos = this.readLength(pos, end);
      const tag = this.varValue();
      const field = Math.floor(tag / 8);
      const wire = tag & 7;
      if (field === 1 && wire === WIRE_LENGTH) {
        pos = this.readDelimited(pos, end);
        const stop = this.#fieldEnd;
        for (let i = pos; i < stop; i++) if (buf[i]! < 0x80) count++;
        if (stop > pos && buf[stop - 1]! >= 0x80) malformed('packed int64_list ends inside a varint');
        pos = stop;
      } else if (field === 1 && wire === WIRE_VARINT) {
        pos = this.readVarint64(pos, end);
        count++;
      } else {
        pos = this.skipField(pos, end, wire);
      }
    }
    const out = allocInt64(count, mode);
    const words = wordsOf(out, mode);
    let index = 0;
    pos = start;
    while (pos < end) {
      pos = this.readLength(pos, end);
      const tag = this.varValue();
      const field = Math.floor(tag / 8);
      const wire = tag & 7;
      if (field === 1 && wire === WIRE_LENGTH) {
        pos = this.readDelimited(pos, end);
        const stop = this.#fieldEnd;
        while (pos < stop) {
          pos = this.readVarint64(pos, stop);
          storeInt64(out, words, index++, this.#varLo, this.#varHi, mode, feature);
        }
      } else if (field === 1 && wire === WIRE_VARINT) {
        pos = this.readVarint64(pos, end);
        storeInt64(out, words, index++, this.#varLo, this.#varHi, mode, feature);
      } else {
        pos = this.skipField(pos, end, wire);
      }
    }
    return out;
  }

  /** Decodes a FloatList message occupying buf[start, end). */
  private decodeFloatList(start: number, end: number): Float32Array {
    const buf = this.#buf;
    let pos = start;
    // Almost always one packed run: `parts` is made only for a second one (and no closure per
    // list collects them: that was an allocation per float feature of every record).
    let single: Float32Array | undefined;
    let parts: Float32Array[] | undefined;
    while (pos < end) {
      pos = this.readLength(pos, end);
      const tag = this.varValue();
      const field = Math.floor(tag / 8);
      const wire = tag & 7;
      if (field === 1 && wire === WIRE_LENGTH) {
        pos = this.readDelimited(pos, end);
        const part = copyFloats(buf, pos, this.#fieldEnd);
        if (single === undefined) single = part;
        else (parts ??= [single]).push(part);
        pos = this.#fieldEnd;
      } else if (field === 1 && wire === WIRE_FIXED32) {
        if (pos + 4 > end) malformed('float runs past the end of its message');
        const part = copyFloats(buf, pos, pos + 4);
        if (single === undefined) single = part;
        else (parts ??= [single]).push(part);
        pos += 4;
      } else {
        pos = this.skipField(pos, end, wire);
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
  private decodeBytesList(start: number, end: number): Uint8Array[] {
    const buf = this.#buf;
    const out: Uint8Array[] = [];
    let pos = start;
    while (pos < end) {
      pos = this.readLength(pos, end);
      const tag = this.varValue();
      if (tag === ((1 << 3) | WIRE_LENGTH)) {
        pos = this.readDelimited(pos, end);
        out.push(buf.slice(pos, this.#fieldEnd));
        pos = this.#fieldEnd;
      } else {
        pos = this.skipField(pos, end, tag & 7);
      }
    }
    return out;
  }

  /** Decodes a Feature message occupying buf[start, end). */
  private decodeFeature(start: number, end: number, name: string): FeatureValue {
    let value: FeatureValue = null;
    let pos = start;
    while (pos < end) {
      pos = this.readLength(pos, end);
      const tag = this.varValue();
      const field = Math.floor(tag / 8);
      const wire = tag & 7;
      if (wire === WIRE_LENGTH && field >= 1 && field <= 3) {
        pos = this.readDelimited(pos, end);
        const stop = this.#fieldEnd;
        // A oneof: the last list present wins, as protobuf parsing does.
        value =
          field === 1
            ? this.decodeBytesList(pos, stop)
            : field === 2
              ? this.decodeFloatList(pos, stop)
              : this.decodeInt64List(pos, stop, name);
        pos = stop;
      } else {
        pos = this.skipField(pos, end, wire);
      }
    }
    return value;
  }

  private decodeKey(start: number, end: number): string {
    const buf = this.#buf;
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
   * Decodes one map entry (`key` = 1, `value` = 2) occupying buf[start, end) and stores
   * `out[key] = decodeValue(valueStart, valueEnd, key)`.
   */
  private decodeMapEntry<V>(
    start: number,
    end: number,
    out: Record<string, V>,
    decodeValue: (valueStart: number, valueEnd: number, key: string) => V,
  ): void {
    let key = '';
    let valueStart = -1;
    let valueEnd = -1;
    let pos = start;
    while (pos < end) {
      pos = this.readLength(pos, end);
      const tag = this.varValue();
      if (tag === ((1 << 3) | WIRE_LENGTH)) {
        pos = this.readDelimited(pos, end);
        key = this.decodeKey(pos, this.#fieldEnd);
        pos = this.#fieldEnd;
      } else if (tag === ((2 << 3) | WIRE_LENGTH)) {
        pos = this.readDelimited(pos, end);
        valueStart = pos;
        valueEnd = this.#fieldEnd;
        pos = this.#fieldEnd;
      } else {
        pos = this.skipField(pos, end, tag & 7);
      }
    }
    // A missing value is the default (empty) message.
    setField(out, key, decodeValue(valueStart < 0 ? end : valueStart, valueStart < 0 ? end : valueEnd, key));
  }

  /**
   * Decodes a message whose field 1 is a `map<string, V>` (Features, FeatureLists) occupying
   * buf[start, end), setting `out[key] = decodeValue(valueStart, valueEnd, key)` for each entry.
   */
  private decodeMapField<V>(
    start: number,
    end: number,
    out: Record<string, V>,
    decodeValue: (valueStart: number, valueEnd: number, key: string) => V,
  ): void {
    let pos = start;
    while (pos < end) {
      pos = this.readLength(pos, end);
      const tag = this.varValue();
      if (tag === ((1 << 3) | WIRE_LENGTH)) {
        pos = this.readDelimited(pos, end);
        const stop = this.#fieldEnd;
        this.decodeMapEntry(pos, stop, out, decodeValue);
        pos = stop;
      } else {
        pos = this.skipField(pos, end, tag & 7);
      }
    }
  }

  /** Decodes a Features message occupying buf[start, end) into `out`. */
  private decodeFeatures(start: number, end: number, out: Example): void {
    this.decodeMapField(start, end, out, (s, e, key) => this.decodeFeature(s, e, key));
  }

  private decodeFeatureList(start: number, end: number, name: string): FeatureValue[] {
    const steps: FeatureValue[] = [];
    let pos = start;
    while (pos < end) {
      pos = this.readLength(pos, end);
      const tag = this.varValue();
      if (tag === ((1 << 3) | WIRE_LENGTH)) {
        pos = this.readDelimited(pos, end);
        const stop = this.#fieldEnd;
        steps.push(this.decodeFeature(pos, stop, name));
        pos = stop;
      } else {
        pos = this.skipField(pos, end, tag & 7);
      }
    }
    return steps;
  }
}
