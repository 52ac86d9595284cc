/**
 * Decoding of TFDS records as `features.json` describes them.
 *
 * TFDS stores a nested `FeaturesDict` as one flat `tf.train.Example` whose feature names are the
 * paths joined by `/` (`steps/observation/image_0`). Inside a `Sequence` / `Dataset` every leaf
 * holds the values of all steps concatenated. Integers and bools are `int64_list`s, floats
 * `float_list`s, strings, Text and encoded images `bytes_list`s.
 *
 * Decoded values, chosen to be plain and transferable:
 * - Tensor / Scalar: a scalar is a `number` (`bigint` for int64 in `bigint` mode, `boolean` for
 *   bool, `Uint8Array` for a tf.string); any other shape a flat row-major typed array
 *   (`Float32Array`, `Int32Array`, `Uint8Array` for uint8 and bool, `BigInt64Array` for int64 ...,
 *   `Uint8Array[]` for tf.string), its shape being the one in features.json.
 * - ClassLabel: the class index, a `number`. Text: a `string`.
 * - Image: the encoded bytes (`Uint8Array`), or a {@link DecodedImage} with `decodeImages`.
 * - FeaturesDict: a plain object.
 * - Dataset (e.g. RLDS `steps`): an array with one object per step.
 * - Sequence: the steps stacked: each tensor leaf one typed array of `steps x product(shape)`
 *   values (scalars stack to a typed array of `steps` values), Text a `string[]`, Image an array.
 *
 * @module
 */
import { describe } from '../../src/excerpt.js';
import { inflateSync } from 'node:zlib';
import { ownField, setField } from '../../src/fields.js';
import { FeatureError, TfdsError } from './errors.js';
import { JsonReader, keyPath, type JsonObject } from './tfdsJson.js';
import type { Example, FeatureValue, Int64Mode } from './example.js';
import { checkImage, type DecodedImage, type ImageDecoder, type ImageExpectation } from './imageDecoder.js';

/**
 * A decoded TFDS value (see the module notes for which feature gives which).
 * @public
 */
export type TfdsValue =
  | number
  | bigint
  | boolean
  | string
  | Uint8Array
  | Int8Array
  | Int16Array
  | Int32Array
  | Uint16Array
  | Uint32Array
  | Float32Array
  | Float64Array
  | BigInt64Array
  | DecodedImage
  | readonly TfdsValue[]
  | { readonly [name: string]: TfdsValue };

/**
 * One decoded TFDS example: the top-level FeaturesDict.
 * @public
 */
export type TfdsExample = { readonly [name: string]: TfdsValue };

type NumericArray =
  | Uint8Array
  | Int8Array
  | Int16Array
  | Int32Array
  | Uint16Array
  | Uint32Array
  | Float32Array
  | Float64Array
  | BigInt64Array;

interface TensorNode {
  readonly kind: 'tensor';
  readonly shape: readonly number[];
  readonly dtype: string;
  readonly encoding: 'none' | 'bytes' | 'zlib';
}
interface ClassLabelNode {
  readonly kind: 'classLabel';
}
interface TextNode {
  readonly kind: 'text';
}
interface ImageNode {
  readonly kind: 'image';
  readonly expected: ImageExpectation;
}
interface DictNode {
  readonly kind: 'dict';
  readonly children: readonly (readonly [string, FeatureNode])[];
}
interface SequenceNode {
  readonly kind: 'sequence';
  readonly stacked: boolean;
  readonly feature: FeatureNode;
  readonly length: number;
}
type LeafNode = TensorNode | ClassLabelNode | TextNode | ImageNode;
type FeatureNode = LeafNode | DictNode | SequenceNode;

const INT_DTYPES = new Set(['bool', 'int8', 'int16', 'int32', 'int64', 'uint8', 'uint16', 'uint32', 'uint64']);
const FLOAT_DTYPES = new Set(['float16', 'bfloat16', 'float32', 'float64']);

/**
 * How deep FeaturesDicts may nest in `features.json` (64): far beyond any real dataset, and a
 * bound on the recursion of building and decoding.
 */
const MAX_DEPTH = 64;

/**
 * The decoding plan of a `features.json` document.
 * @internal
 */
export class TfdsFeatures {
  readonly #root: DictNode;
  readonly #images: { path: string; node: ImageNode }[] = [];
  readonly #dataDir: string;
  readonly #json: JsonReader;

  /**
   * @throws {@link TfdsMetadataError} naming the JSON path of a malformed value;
   *   {@link TfdsError} for a feature type, dtype or layout this reader does not support.
   */
  constructor(featuresJson: unknown, dataDir: string) {
    this.#dataDir = dataDir;
    this.#json = new JsonReader(dataDir, 'features.json');
    const root = this.#build(featuresJson, '', '', false, 0);
    if (root.kind !== 'dict') throw new TfdsError(dataDir, 'features.json: the top-level feature must be a FeaturesDict');
    this.#root = root;
  }

  /** Flattened paths of every Image feature (in sequences too). */
  get imagePaths(): readonly string[] {
    return this.#images.map((image) => image.path);
  }

  /** The dimensions of a `shape` object: integers, `-1` for a dynamic one. */
  #dimensions(shape: unknown, at: string): number[] {
    if (shape === undefined) return [];
    const dims = ownField(this.#json.object(shape, at), 'dimensions');
    if (dims === undefined) return [];
    const list = this.#json.array(dims, `${at}.dimensions`);
    const out: number[] = [];
    for (let i = 0; i < list.length; i++) out.push(this.#json.integer(list[i], `${at}.dimensions[${i}]`, -1));
    return out;
  }

  /** An optional string field of `object`, or `fallback`. */
  #text(object: JsonObject, key: string, at: string, fallback: string): string {
    const value = ownField(object, key);
    return value === undefined ? fallback : this.#json.string(value, keyPath(at, key));
  }

  /** `value` (at JSON path `at`) as the feature at flattened `path`. */
  #build(value: unknown, at: string, path: string, inSequence: boolean, depth: number): FeatureNode {
    const where = path === '' ? 'the top-level feature' : `feature '${path}'`;
    if (depth > MAX_DEPTH) this.#json.fail(at, `nests features deeper than ${MAX_DEPTH}`);
    const json = this.#json.object(value, at);
    const className = this.#text(json, 'pythonClassName', at, '');
    const type = className.slice(className.lastIndexOf('.') + 1);
    switch (type) {
      case 'FeaturesDict': {
        const dictAt = keyPath(at, 'featuresDict');
        const dict = ownField(json, 'featuresDict');
        const featuresAt = keyPath(dictAt, 'features');
        const features = dict === undefined ? undefined : ownField(this.#json.object(dict, dictAt), 'features');
        const entries = features === undefined ? [] : Object.entries(this.#json.object(features, featuresAt));
        const children = entries.map(
          ([name, child]) =>
            [name, this.#build(child, keyPath(featuresAt, name), path === '' ? name : `${path}/${name}`, inSequence, depth + 1)] as const,
        );
        return { kind: 'dict', children };
      }
      case 'Tensor':
      case 'Scalar': {
        const tensorAt = keyPath(at, 'tensor');
        const tensorValue = ownField(json, 'tensor');
        const tensor = tensorValue === undefined ? {} : this.#json.object(tensorValue, tensorAt);
        const dtype = this.#text(tensor, 'dtype', tensorAt, '');
        const encoding = this.#text(tensor, 'encoding', tensorAt, 'none');
        if (!INT_DTYPES.has(dtype) && !FLOAT_DTYPES.has(dtype) && dtype !== 'string') {
          throw new TfdsError(this.#dataDir, `${where}: unsupported dtype ${describe(dtype)}`);
        }
        if (encoding !== 'none' && encoding !== 'bytes' && encoding !== 'zlib') {
          throw new TfdsError(this.#dataDir, `${where}: unsupported tensor encoding ${describe(encoding)}`);
        }
        if (encoding !== 'none' && dtype === 'string') {
          throw new TfdsError(this.#dataDir, `${where}: encoded string tensors are not supported`);
        }
        if (encoding !== 'none' && inSequence) {
          throw new TfdsError(this.#dataDir, `${where}: encoded tensors inside a Sequence are not supported`);
        }
        const shape = this.#dimensions(ownField(tensor, 'shape'), keyPath(tensorAt, 'shape'));
        if (inSequence && shape.some((d) => d < 0)) {
          throw new TfdsError(this.#dataDir, `${where}: a dynamic dimension inside a Sequence needs ragged decoding, not supported`);
        }
        return { kind: 'tensor', shape, dtype, encoding };
      }
      case 'ClassLabel':
        return { kind: 'classLabel' };
      case 'Text':
        return { kind: 'text' };
      case 'Image': {
        const imageAt = keyPath(at, 'image');
        const imageValue = ownField(json, 'image');
        const image = imageValue === undefined ? {} : this.#json.object(imageValue, imageAt);
        const dtype = this.#text(image, 'dtype', imageAt, 'uint8');
        if (dtype !== 'uint8') throw new TfdsError(this.#dataDir, `${where}: only uint8 images are supported, not ${describe(dtype)}`);
        const node: ImageNode = {
          kind: 'image',
          expected: {
            shape: this.#dimensions(ownField(image, 'shape'), keyPath(imageAt, 'shape')),
            format: this.#text(image, 'encodingFormat', imageAt, ''),
          },
        };
        this.#images.push({ path, node });
        return node;
      }
      case 'Sequence':
      case 'Dataset': {
        if (inSequence) {
          throw new TfdsError(this.#dataDir, `${where}: a Sequence inside a Sequence needs ragged decoding, not supported`);
        }
        const sequenceAt = keyPath(at, 'sequence');
        const sequenceValue = ownField(json, 'sequence');
        const sequence = sequenceValue === undefined ? {} : this.#json.object(sequenceValue, sequenceAt);
        const length = ownField(sequence, 'length');
        return {
          kind: 'sequence',
          stacked: type === 'Sequence',
          feature: this.#build(ownField(sequence, 'feature') ?? {}, keyPath(sequenceAt, 'feature'), path, true, depth + 1),
          length: length === undefined ? -1 : this.#json.integer(length, keyPath(sequenceAt, 'length'), -1),
        };
      }
      default:
        throw new TfdsError(
          this.#dataDir,
          `${where}: feature type ${className === '' ? '(none)' : /^[\w.]{1,200}$/.test(className) ? className : describe(className)} is not supported`,
        );
    }
  }

  /**
   * Decodes one Example. Image leaves come from `images` (already decoded) when given.
   * @throws {@link FeatureError} naming the flattened feature path.
   */
  decode(example: Example, int64: Int64Mode, images: ReadonlyMap<string, readonly DecodedImage[]> | undefined): TfdsExample {
    return this.#dict(this.#root, '', example, int64, images) as TfdsExample;
  }

  /** Decodes every image of the record with `decoder`; the result feeds {@link TfdsFeatures.decode}. */
  decodeImages(example: Example, decoder: ImageDecoder): Promise<Map<string, readonly DecodedImage[]>> | undefined {
    if (this.#images.length === 0) return undefined;
    return Promise.all(
      this.#images.map(async ({ path, node }) => {
        const encoded = bytesOf(path, example);
        const decoded = await Promise.all(
          encoded.map(async (bytes) => {
            let image: DecodedImage;
            try {
              image = await decoder(bytes, node.expected);
            } catch (error) {
              const reason = error instanceof Error ? error.message : describe(error);
              throw new FeatureError(path, 'decode', `cannot decode ${node.expected.format || 'image'}: ${reason}`);
            }
            return checkImage(path, image, node.expected);
          }),
        );
        return [path, decoded] as const;
      }),
    ).then((entries) => new Map(entries));
  }

  #dict(node: DictNode, path: string, example: Example, int64: Int64Mode, images: ReadonlyMap<string, readonly DecodedImage[]> | undefined): TfdsValue {
    const out: Record<string, TfdsValue> = {};
    for (const [name, child] of node.children) {
      const childPath = path === '' ? name : `${path}/${name}`;
      const value =
        child.kind === 'dict'
          ? this.#dict(child, childPath, example, int64, images)
          : child.kind === 'sequence'
            ? this.#sequence(child, childPath, example, int64, images)
            : leaf(child, childPath, example, int64, images, undefined);
      setField(out, name, value);
    }
    return out;
  }

  #sequence(
    node: SequenceNode,
    path: string,
    example: Example,
    int64: Int64Mode,
    images: ReadonlyMap<string, readonly DecodedImage[]> | undefined,
  ): TfdsValue {
    // Every leaf says how many steps it holds; they must agree.
    const leaves: { path: string; node: LeafNode }[] = [];
    collectLeaves(node.feature, path, leaves);
    let steps: number | undefined;
    for (const { path: leafPath, node: leafNode } of leaves) {
      const count = stepsOf(leafNode, leafPath, example);
      if (steps === undefined) steps = count;
      else if (count !== steps) {
        throw new FeatureError(leafPath, 'shape', `holds ${count} step(s) where '${leaves[0]!.path}' holds ${steps}`);
      }
    }
    const length = steps ?? 0;
    if (node.length >= 0 && length !== node.length) {
      throw new FeatureError(path, 'shape', `has ${length} step(s); features.json says ${node.length}`);
    }
    if (node.stacked) return this.#stacked(node.feature, path, example, int64, images);
    const out: TfdsValue[] = [];
    for (let step = 0; step < length; step++) out.push(this.#step(node.feature, path, example, int64, images, step));
    return out;
  }

  #stacked(
    node: FeatureNode,
    path: string,
    example: Example,
    int64: Int64Mode,
    images: ReadonlyMap<string, readonly DecodedImage[]> | undefined,
  ): TfdsValue {
    if (node.kind === 'dict') {
      const out: Record<string, TfdsValue> = {};
      for (const [name, child] of node.children) setField(out, name, this.#stacked(child, `${path}/${name}`, example, int64, images));
      return out;
    }
    if (node.kind === 'sequence') throw new FeatureError(path, 'shape', 'nested sequences are not supported');
    return stackedLeaf(node, path, example, int64, images);
  }

  #step(
    node: FeatureNode,
    path: string,
    example: Example,
    int64: Int64Mode,
    images: ReadonlyMap<string, readonly DecodedImage[]> | undefined,
    step: number,
  ): TfdsValue {
    if (node.kind === 'dict') {
      const out: Record<string, TfdsValue> = {};
      for (const [name, child] of node.children) setField(out, name, this.#step(child, `${path}/${name}`, example, int64, images, step));
      return out;
    }
    if (node.kind === 'sequence') throw new FeatureError(path, 'shape', 'nested sequences are not supported');
    return leaf(node, path, example, int64, images, step);
  }
}

function collectLeaves(node: FeatureNode, path: string, out: { path: string; node: LeafNode }[]): void {
  if (node.kind === 'dict') {
    for (const [name, child] of node.children) collectLeaves(child, `${path}/${name}`, out);
  } else if (node.kind === 'sequence') {
    collectLeaves(node.feature, path, out);
  } else {
    out.push({ path, node });
  }
}

function product(shape: readonly number[]): number {
  return shape.reduce((p, d) => p * d, 1);
}

function stored(path: string, example: Example): FeatureValue {
  if (!Object.prototype.hasOwnProperty.call(example, path)) {
    throw new FeatureError(path, 'missing', 'absent from the record');
  }
  return example[path]!;
}

function bytesOf(path: string, example: Example): Uint8Array[] {
  const value = stored(path, example);
  if (value === null) return [];
  if (!Array.isArray(value)) throw new FeatureError(path, 'dtype', 'expected a bytes_list');
  return value;
}

/** Number of values stored per step (tensors) or 1 (one string / image per step). */
function stepsOf(node: LeafNode, path: string, example: Example): number {
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
function leaf(
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
        if (step === undefined && decoded.length !== 1) throw new FeatureError(path, 'shape', `Image holds ${decoded.length} values, not 1`);
        return decoded[index]!;
      }
      const values = bytesOf(path, example);
      if (step === undefined && values.length !== 1) throw new FeatureError(path, 'shape', `Image holds ${values.length} values, not 1`);
      return values[index]!;
    }
    case 'classLabel': {
      const values = numeric(path, stored(path, example), 'int64', int64);
      if (step === undefined && values.length !== 1) throw new FeatureError(path, 'shape', `ClassLabel holds ${values.length} values, not 1`);
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
  let values: NumericArray;
  if (node.encoding === 'none') {
    values = numeric(path, stored(path, example), node.dtype, int64);
  } else {
    const raw = bytesOf(path, example);
    if (raw.length !== 1) throw new FeatureError(path, 'shape', `an encoded tensor holds ${raw.length} byte strings, not 1`);
    values = fromRawBytes(path, node.encoding === 'zlib' ? inflateTensor(node, path, raw[0]!) : raw[0]!, node.dtype);
  }
  if (step === undefined) checkCount(path, values.length, node.shape);
  if (node.shape.length === 0) return scalar(values, step ?? 0, node.dtype);
  return step === undefined ? values : (values.slice(step * per, (step + 1) * per) as NumericArray);
}

function stackedLeaf(
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

function scalar(values: NumericArray, index: number, dtype: string): TfdsValue {
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

function intArray(dtype: string, length: number): Exclude<NumericArray, Float32Array | Float64Array | BigInt64Array> {
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
function numeric(path: string, value: FeatureValue, dtype: string, int64: Int64Mode): NumericArray {
  if (FLOAT_DTYPES.has(dtype)) {
    if (value === null) return dtype === 'float64' ? new Float64Array(0) : new Float32Array(0);
    if (!(value instanceof Float32Array)) throw new FeatureError(path, 'dtype', `expected a float_list for ${dtype}`);
    return dtype === 'float64' ? Float64Array.from(value) : value;
  }
  if (value === null) {
    return dtype === 'int64' || dtype === 'uint64' ? (int64 === 'bigint' ? new BigInt64Array(0) : int64 === 'number' ? new Float64Array(0) : new Int32Array(0)) : intArray(dtype, 0);
  }
  if (!(value instanceof BigInt64Array || value instanceof Float64Array || value instanceof Int32Array)) {
    throw new FeatureError(path, 'dtype', `expected an int64_list for ${dtype}`);
  }
  if (dtype === 'int64' || dtype === 'uint64') return value as NumericArray;
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
    throw new FeatureError(path, 'decode', `zlib-encoded tensor does not inflate to at most ${maxOutputLength} bytes: ${(error as Error).message}`);
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
function fromRawBytes(path: string, bytes: Uint8Array, dtype: string): NumericArray {
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
  if (Ctor === undefined || !Object.hasOwn(BYTES_PER_VALUE, dtype)) throw new FeatureError(path, 'dtype', `cannot read ${dtype} from raw bytes`);
  if (bytes.length % Ctor.BYTES_PER_ELEMENT !== 0) {
    throw new FeatureError(path, 'shape', `${bytes.length} bytes is not a whole number of ${dtype} values`);
  }
  const copy = (bytes.buffer as ArrayBuffer).slice(bytes.byteOffset, bytes.byteOffset + bytes.length);
  return new Ctor(copy);
}
