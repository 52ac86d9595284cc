/**
 * The values of TFDS leaf features (Tensor, ClassLabel, Text, Image) read out of a flat
 * `tf.train.Example`, alone or stacked over the steps of a sequence; and the feature tree that
 * `TfdsFeatures` builds from `features.json` and walks. The module notes of `tfdsFeatures.ts`
 * say which feature gives which value.
 *
 * @module
 */
import { inflateSync } from 'node:zlib';
import { FeatureError } from './errors.js';
import type { Example, FeatureValue, Int64Mode } from './example.js';
import type { DecodedImage, ImageExpectation } from './imageDecoder.js';

/**
 * A decoded TFDS value (see the module notes for which feature gives which).
 * @public
 */
export type TfdsValue =
  number | bigint | boolean | string | TfdsNumericArray | DecodedImage | readonly TfdsValue[] | { readonly [name: string]: TfdsValue };

/**
 * One decoded TFDS example: the top-level FeaturesDict.
 * @public
 */
export type TfdsExample = { readonly [name: string]: TfdsValue };

/** The typed arrays a TFDS tensor or scalar sequence decodes to. */
export type TfdsNumericArray =
  Uint8Array | Int8Array | Int16Array | Int32Array | Uint16Array | Uint32Array | Float32Array | Float64Array | BigInt64Array;

export interface TensorNode {
  readonly kind: 'tensor';
  readonly shape: readonly number[];
  readonly dtype: string;
  readonly encoding: 'none' | 'bytes' | 'zlib';
}
export interface ClassLabelNode {
  readonly kind: 'classLabel';
}
export interface TextNode {
  readonly kind: 'text';
}
export interface ImageNode {
  readonly kind: 'image';
  readonly expected: ImageExpectation;
}
export interface DictNode {
  readonly kind: 'dict';
  readonly children: readonly (readonly [string, FeatureNode])[];
}
export interface SequenceNode {
  readonly kind: 'sequence';
  readonly stacked: boolean;
  readonly feature: FeatureNode;
  readonly length: number;
}
export type LeafNode = TensorNode | ClassLabelNode | TextNode | ImageNode;
export type FeatureNode = LeafNode | DictNode | SequenceNode;

/** The integer dtypes TFDS stores as `int64_list`s. */
export const INT_DTYPES: ReadonlySet<string> = new Set(['bool', 'int8', 'int16', 'int32', 'int64', 'uint8', 'uint16', 'uint32', 'uint64']);
/** The float dtypes TFDS stores as `float_list`s. */
export const FLOAT_DTYPES: ReadonlySet<string> = new Set(['float16', 'bfloat16', 'float32', 'float64']);

export function collectLeaves(node: FeatureNode, path: string, out: { path: string; node: LeafNode }[]): void {
  if (node.kind === 'dict') {
    for (const [name, child] of node.children) collectLeaves(child, `${path}/${name}`, out);
  } else if (node.kind === 'sequence') {
    collectLeaves(node.feature, path, out);
  } else {
    out.push({ path, node });
  }
}

export function product(shape: readonly number[]): number {
  return shape.reduce((p, d) => p * d, 1);
}

export function stored(path: string, example: Example): FeatureValue {
  if (!Object.prototype.hasOwnProperty.call(example, path)) {
    throw new FeatureError(path, 'missing', 'absent from the record');
  }
  return example[path]!;
}

export function bytesOf(path: string, example: Example): Uint8Array[] {
  const value = stored(path, example);
  if (value === null) return [];
  if (!Array.isArray(value)) throw new FeatureError(path, 'dtype', 'expected a bytes_list');
  return value;
}

/** Number of values stored per step (tensors) or 1 (one string / image per step). */
export function stepsOf(node: LeafNode, path: string, example: Example): number {
  const value = stored(path, example);
  const count = value === null ? 0 : value.length;
  if (node.kind !== 'tensor' || node.dtype === 'string') return count;
  const per = product(node.shape);
  if (per === 0) return 0;
  if (count % per !== 0) {
    throw new FeatureError(path, 'shape', `holds ${count} value(s), not a whole number of steps of [${node.shape.join(', ')}]`);
  }
  return count / per;
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

function text(path: string, bytes: Uint8Array): string {
  try {
    return utf8.decode(bytes);
  } catch {
    throw new FeatureError(path, 'decode', 'Text is not valid UTF-8');
  }
}

/** The value of a leaf outside a sequence (`step` undefined) or at one step of a Dataset. */
export function leaf(
  node: LeafNode,
  path: string,
  example: Example,
  int64: Int64Mode,
  images: ReadonlyMap<string, readonly DecodedImage[]> | undefined,
  step: number | undefined,
): TfdsValue {
  const index = step ?? 0;
  switch (node.kind) {
    case 'text': {
      const values = bytesOf(path, example);
      if (step === undefined && values.length !== 1) throw new FeatureError(path, 'shape', `Text holds ${values.length} values, not 1`);
      return text(path, values[index]!);
    }
    case 'image': {
      const decoded = images?.get(path);
      if (decoded !== undefined) {
        if (step === undefined && decoded.length !== 1)
          throw new FeatureError(path, 'shape', `Image holds ${decoded.length} values, not 1`);
        return decoded[index]!;
      }
      const values = bytesOf(path, example);
      if (step === undefined && values.length !== 1) throw new FeatureError(path, 'shape', `Image holds ${values.length} values, not 1`);
      return values[index]!;
    }
    case 'classLabel': {
      const values = numeric(path, stored(path, example), 'int64', int64);
      if (step === undefined && values.length !== 1)
        throw new FeatureError(path, 'shape', `ClassLabel holds ${values.length} values, not 1`);
      return Number(values[index]!);
    }
    case 'tensor':
      return tensor(node, path, example, int64, step);
  }
}

function tensor(node: TensorNode, path: string, example: Example, int64: Int64Mode, step: number | undefined): TfdsValue {
  const per = product(node.shape);
  if (node.dtype === 'string') {
    const values = bytesOf(path, example);
    if (step === undefined) checkCount(path, values.length, node.shape);
    const mine = step === undefined ? values : values.slice(step * per, (step + 1) * per);
    return node.shape.length === 0 ? mine[0]! : mine;
  }
  let values: TfdsNumericArray;
  if (node.encoding === 'none') {
    values = numeric(path, stored(path, example), node.dtype, int64);
  } else {
    const raw = bytesOf(path, example);
    if (raw.length !== 1) throw new FeatureError(path, 'shape', `an encoded tensor holds ${raw.length} byte strings, not 1`);
    values = fromRawBytes(path, node.encoding === 'zlib' ? inflateTensor(node, path, raw[0]!) : raw[0]!, node.dtype);
  }
  if (step === undefined) checkCount(path, values.length, node.shape);
  if (node.shape.length === 0) return scalar(values, step ?? 0, node.dtype);
  return step === undefined ? values : (values.slice(step * per, (step + 1) * per) as TfdsNumericArray);
}

export function stackedLeaf(
  node: LeafNode,
  path: string,
  example: Example,
  int64: Int64Mode,
  images: ReadonlyMap<string, readonly DecodedImage[]> | undefined,
): TfdsValue {
  switch (node.kind) {
    case 'text':
      return bytesOf(path, example).map((bytes) => text(path, bytes));
    case 'image':
      return images?.get(path) ?? bytesOf(path, example);
    case 'classLabel':
      return Int32Array.from(numeric(path, stored(path, example), 'int64', int64) as ArrayLike<number | bigint>, (v) => Number(v));
    case 'tensor':
      if (node.dtype === 'string') return bytesOf(path, example);
      return numeric(path, stored(path, example), node.dtype, int64);
  }
}

function checkCount(path: string, count: number, shape: readonly number[]): void {
  const known = shape.filter((d) => d >= 0);
  const per = product(known);
  const dynamic = known.length !== shape.length;
  const ok = dynamic ? (per === 0 ? count === 0 : count % per === 0) : count === per;
  if (!ok) throw new FeatureError(path, 'shape', `holds ${count} value(s); shape [${shape.join(', ')}] does not fit`);
}

function scalar(values: TfdsNumericArray, index: number, dtype: string): TfdsValue {
  const value = values[index]!;
  if (dtype === 'bool') return value !== 0;
  return value;
}

const INT_RANGES: Record<string, readonly [number, number]> = {
  bool: [0, 1],
  int8: [-128, 127],
  int16: [-32768, 32767],
  int32: [-2147483648, 2147483647],
  uint8: [0, 255],
  uint16: [0, 65535],
  uint32: [0, 4294967295],
};

function intArray(dtype: string, length: number): Exclude<TfdsNumericArray, Float32Array | Float64Array | BigInt64Array> {
  switch (dtype) {
    case 'int8':
      return new Int8Array(length);
    case 'int16':
      return new Int16Array(length);
    case 'int32':
      return new Int32Array(length);
    case 'uint16':
      return new Uint16Array(length);
    case 'uint32':
      return new Uint32Array(length);
    default:
      return new Uint8Array(length); // uint8, bool
  }
}

/** A stored list converted to the typed array of `dtype`, range-checked. */
function numeric(path: string, value: FeatureValue, dtype: string, int64: Int64Mode): TfdsNumericArray {
  if (FLOAT_DTYPES.has(dtype)) {
    if (value === null) return dtype === 'float64' ? new Float64Array(0) : new Float32Array(0);
    if (!(value instanceof Float32Array)) throw new FeatureError(path, 'dtype', `expected a float_list for ${dtype}`);
    return dtype === 'float64' ? Float64Array.from(value) : value;
  }
  if (value === null) {
    return dtype === 'int64' || dtype === 'uint64'
      ? int64 === 'bigint'
        ? new BigInt64Array(0)
        : int64 === 'number'
          ? new Float64Array(0)
          : new Int32Array(0)
      : intArray(dtype, 0);
  }
  if (!(value instanceof BigInt64Array || value instanceof Float64Array || value instanceof Int32Array)) {
    throw new FeatureError(path, 'dtype', `expected an int64_list for ${dtype}`);
  }
  if (dtype === 'int64' || dtype === 'uint64') return value as TfdsNumericArray;
  const [min, max] = INT_RANGES[dtype]!;
  const out = intArray(dtype, value.length);
  if (value instanceof BigInt64Array) {
    // Read the two 32-bit halves: no BigInt per value.
    const words = new Int32Array(value.buffer, value.byteOffset, value.length * 2);
    for (let i = 0; i < value.length; i++) {
      const lo = words[2 * i]!;
      const hi = words[2 * i + 1]!;
      const v = dtype === 'uint32' ? lo >>> 0 : lo;
      if (hi !== (dtype === 'uint32' ? 0 : lo >> 31) || v < min || v > max) {
        throw new FeatureError(path, 'precision', `value ${value[i]} at ${i} is outside ${dtype}`);
      }
      out[i] = v;
    }
    return out;
  }
  for (let i = 0; i < value.length; i++) {
    const v = value[i]!;
    if (v < min || v > max) throw new FeatureError(path, 'precision', `value ${v} at ${i} is outside ${dtype}`);
    out[i] = v;
  }
  return out;
}

/**
 * Inflates a zlib-encoded tensor. A static shape bounds the output to the tensor's own size (a
 * zlib bomb stops there); a dynamic one to zlib's own ratio (about 1032 x the input).
 */
function inflateTensor(node: TensorNode, path: string, bytes: Uint8Array): Uint8Array {
  const width = BYTES_PER_VALUE[node.dtype] ?? 1;
  const expected = node.shape.every((d) => d >= 0) ? product(node.shape) * width : Infinity;
  const maxOutputLength = Math.max(1, Math.min(expected, 1032 * bytes.length + 1024, 2 ** 31 - 1));
  try {
    return inflateSync(bytes, { maxOutputLength });
  } catch (error) {
    throw new FeatureError(
      path,
      'decode',
      `zlib-encoded tensor does not inflate to at most ${maxOutputLength} bytes: ${(error as Error).message}`,
    );
  }
}

const BYTES_PER_VALUE: Readonly<Record<string, number>> = {
  bool: 1,
  uint8: 1,
  int8: 1,
  int16: 2,
  uint16: 2,
  int32: 4,
  uint32: 4,
  float32: 4,
  float64: 8,
  int64: 8,
};

/** A tensor stored with `encoding: bytes` / `zlib`: the little-endian bytes of the array. */
function fromRawBytes(path: string, bytes: Uint8Array, dtype: string): TfdsNumericArray {
  const Ctor = {
    bool: Uint8Array,
    uint8: Uint8Array,
    int8: Int8Array,
    int16: Int16Array,
    uint16: Uint16Array,
    int32: Int32Array,
    uint32: Uint32Array,
    float32: Float32Array,
    float64: Float64Array,
    int64: BigInt64Array,
  }[dtype];
  if (Ctor === undefined || !Object.hasOwn(BYTES_PER_VALUE, dtype))
    throw new FeatureError(path, 'dtype', `cannot read ${dtype} from raw bytes`);
  if (bytes.length % Ctor.BYTES_PER_ELEMENT !== 0) {
    throw new FeatureError(path, 'shape', `${bytes.length} bytes is not a whole number of ${dtype} values`);
  }
  const copy = (bytes.buffer as ArrayBuffer).slice(bytes.byteOffset, bytes.byteOffset + bytes.length);
  return new Ctor(copy);
}
