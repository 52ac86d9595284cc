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
import { inflateSync } from 'node:zlib';
import { FeatureError, TfdsError } from './errors.js';
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

interface Json {
  readonly [key: string]: unknown;
}

function dimensionsOf(shape: unknown): number[] {
  const dims = (shape as { dimensions?: unknown[] } | undefined)?.dimensions ?? [];
  return dims.map((d) => Number(d));
}

/**
 * The decoding plan of a `features.json` document.
 * @internal
 */
export class TfdsFeatures {
  readonly #root: DictNode;
  readonly #images: { path: string; node: ImageNode }[] = [];
  readonly #dataDir: string;

  constructor(featuresJson: unknown, dataDir: string) {
    this.#dataDir = dataDir;
    const root = this.#build(featuresJson as Json, '', false);
    if (root.kind !== 'dict') throw new TfdsError(dataDir, 'features.json: the top-level feature must be a FeaturesDict');
    this.#root = root;
  }

  /** Flattened paths of every Image feature (in sequences too). */
  get imagePaths(): readonly string[] {
    return this.#images.map((image) => image.path);
  }

  #build(json: Json, path: string, inSequence: boolean): FeatureNode {
    const className = String(json.pythonClassName ?? '');
    const type = className.slice(className.lastIndexOf('.') + 1);
    const where = path === '' ? 'the top-level feature' : `feature '${path}'`;
    switch (type) {
      case 'FeaturesDict': {
        const features = ((json.featuresDict as Json | undefined)?.features ?? {}) as Record<string, Json>;
        const children = Object.entries(features).map(
          ([name, child]) => [name, this.#build(child, path === '' ? name : `${path}/${name}`, inSequence)] as const,
        );
        return { kind: 'dict', children };
      }
      case 'Tensor':
      case 'Scalar': {
        const tensor = (json.tensor ?? {}) as Json;
        const dtype = String(tensor.dtype ?? '');
        const encoding = String(tensor.encoding ?? 'none');
        if (!INT_DTYPES.has(dtype) && !FLOAT_DTYPES.has(dtype) && dtype !== 'string') {
          throw new TfdsError(this.#dataDir, `${where}: unsupported dtype ${dtype}`);
        }
        if (encoding !== 'none' && encoding !== 'bytes' && encoding !== 'zlib') {
          throw new TfdsError(this.#dataDir, `${where}: unsupported tensor encoding ${encoding}`);
        }
        if (encoding !== 'none' && dtype === 'string') {
          throw new TfdsError(this.#dataDir, `${where}: encoded string tensors are not supported`);
        }
        if (encoding !== 'none' && inSequence) {
          throw new TfdsError(this.#dataDir, `${where}: encoded tensors inside a Sequence are not supported`);
        }
        const shape = dimensionsOf(tensor.shape);
        if (inSequence && shape.some((d) => d < 0)) {
          throw new TfdsError(this.#dataDir, `${where}: a dynamic dimension inside a Sequence needs ragged decoding, not supported`);
        }
        return { kind: 'tensor', shape, dtype, encoding: encoding as TensorNode['encoding'] };
      }
      case 'ClassLabel':
        return { kind: 'classLabel' };
      case 'Text':
        return { kind: 'text' };
      case 'Image': {
        const image = (json.image ?? {}) as Json;
        const dtype = String(image.dtype ?? 'uint8');
        if (dtype !== 'uint8') throw new TfdsError(this.#dataDir, `${where}: only uint8 images are supported, not ${dtype}`);
        const node: ImageNode = {
          kind: 'image',
          expected: { shape: dimensionsOf(image.shape), format: String(image.encodingFormat ?? '') },
        };
        this.#images.push({ path, node });
        return node;
      }
      case 'Sequence':
      case 'Dataset': {
        if (inSequence) {
          throw new TfdsError(this.#dataDir, `${where}: a Sequence inside a Sequence needs ragged decoding, not supported`);
        }
        const sequence = (json.sequence ?? {}) as Json;
        return {
          kind: 'sequence',
          stacked: type === 'Sequence',
          feature: this.#build((sequence.feature ?? {}) as Json, path, true),
          length: Number(sequence.length ?? -1),
        };
      }
      default:
        throw new TfdsError(this.#dataDir, `${where}: feature type ${className || '(none)'} is not supported`);
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
              throw new FeatureError(path, 'decode', `cannot decode ${node.expected.format || 'image'}: ${(error as Error).message}`);
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
      if (name === '__proto__') Object.defineProperty(out, name, { value, enumerable: true, writable: true, configurable: true });
      else out[name] = value;
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
      for (const [name, child] of node.children) out[name] = this.#stacked(child, `${path}/${name}`, example, int64, images);
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
      for (const [name, child] of node.children) out[name] = this.#step(child, `${path}/${name}`, example, int64, images, step);
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
    values = fromRawBytes(path, node.encoding === 'zlib' ? inflateSync(raw[0]!) : raw[0]!, node.dtype);
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
  if (Ctor === undefined) throw new FeatureError(path, 'dtype', `cannot read ${dtype} from raw bytes`);
  if (bytes.length % Ctor.BYTES_PER_ELEMENT !== 0) {
    throw new FeatureError(path, 'shape', `${bytes.length} bytes is not a whole number of ${dtype} values`);
  }
  const copy = (bytes.buffer as ArrayBuffer).slice(bytes.byteOffset, bytes.byteOffset + bytes.length);
  return new Ctor(copy);
}
