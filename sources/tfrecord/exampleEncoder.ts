/**
 * The `tf.train.Example` encoder: the inverse of `decodeExample`, used by `toTFRecord`.
 *
 * @module
 */
import { InvalidArgumentError } from '../../src/errors.js';
import { FeatureError } from './errors.js';
import { WIRE_LENGTH } from './exampleReader.js';

const utf8Encoder = new TextEncoder();

/**
 * A value {@link encodeExample} can write: `BigInt64Array`, `Int32Array` or `Float64Array` (whole
 * numbers, as the `number` int64 mode decodes them) become an `int64_list`; `Float32Array` a
 * `float_list`; an array of `Uint8Array` or strings (UTF-8) a `bytes_list`; `null` a Feature with
 * no list.
 * @public
 */
export type FeatureInput = BigInt64Array | Int32Array | Float64Array | Float32Array | readonly (Uint8Array | string)[] | null;

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
 * import { encodeExample } from 'rxfeed/tfrecord';
 * declare const jpegBytes: Uint8Array;
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
