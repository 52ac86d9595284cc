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
import { ownField, setField } from '../../src/fields.js';
import { FeatureError, TfdsError } from './errors.js';
import type { Example, Int64Mode } from './example.js';
import { checkImage, type DecodedImage, type ImageDecoder } from './imageDecoder.js';
import { JsonReader, keyPath, type JsonObject } from './tfdsJson.js';
import {
  bytesOf,
  collectLeaves,
  FLOAT_DTYPES,
  INT_DTYPES,
  leaf,
  stackedLeaf,
  stepsOf,
  type DictNode,
  type FeatureNode,
  type ImageNode,
  type LeafNode,
  type SequenceNode,
  type TfdsExample,
  type TfdsValue,
} from './tfdsValues.js';

export type { TfdsExample, TfdsNumericArray, TfdsValue } from './tfdsValues.js';

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

  #dict(
    node: DictNode,
    path: string,
    example: Example,
    int64: Int64Mode,
    images: ReadonlyMap<string, readonly DecodedImage[]> | undefined,
  ): TfdsValue {
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
