/**
 * Image decoding for TFDS `Image` features: pluggable, with `sharp` (libvips) as the default.
 *
 * @module
 */
import { InvalidArgumentError } from '../../src/errors.js';
import { describe } from '../../src/excerpt.js';
import { DEFAULT_MAX_PIXELS } from '../../src/limits.js';
import { FeatureError } from './errors.js';

/**
 * Pixels of a decoded image: row-major `height x width x channels` bytes. It has the
 * `{ data, shape, dtype }` form of an already-shaped leaf, so `collate` stacks a batch of them into
 * one `[batch, height, width, channels]` uint8 tensor.
 * @public
 */
export interface DecodedImage {
  readonly data: Uint8Array;
  /** `[height, width, channels]`. */
  readonly shape: [height: number, width: number, channels: number];
  readonly dtype: 'uint8';
}

/**
 * What the dataset says an image should be.
 * @public
 */
export interface ImageExpectation {
  /** The static shape from `features.json`, `-1` where a dimension varies (e.g. `[-1, -1, 3]`). */
  readonly shape: readonly number[];
  /** The stored encoding, e.g. `jpeg` or `png` (empty when the dataset does not say). */
  readonly format: string;
}

/**
 * Decodes one encoded image. It may answer synchronously or with a promise; the bytes are its
 * own (a fresh copy), so it may keep or transfer them.
 * @public
 */
export type ImageDecoder = (encoded: Uint8Array, expected: ImageExpectation) => DecodedImage | PromiseLike<DecodedImage>;

type Sharp = typeof import('sharp').default;
let sharpModule: Promise<Sharp> | undefined;

/**
 * The default {@link ImageDecoder}: `sharp` (prebuilt libvips; works offline), loaded on first
 * use so that reading TFRecords without images never loads it. The channel count follows the
 * expected shape (1: grey, 3: RGB without alpha, 4: RGBA). An image whose header claims more than
 * {@link DEFAULT_MAX_PIXELS} pixels, or whose data ends early, is refused before its pixels are
 * allocated (the caller reports it as a `FeatureError`).
 *
 * @example
 * ```ts
 * import { sharpImageDecoder } from 'rxfeed/tfrecord';
 * declare const jpegBytes: Uint8Array;
 * const { data, shape } = await sharpImageDecoder(jpegBytes, { shape: [64, 64, 3], format: 'jpeg' });
 * ```
 *
 * @param encoded - JPEG, PNG, WebP, ... bytes.
 * @param expected - The expected shape and format.
 * @returns The pixels, with their shape.
 * @public
 */
export async function sharpImageDecoder(encoded: Uint8Array, expected: ImageExpectation): Promise<DecodedImage> {
  if (!(encoded instanceof Uint8Array)) {
    throw new InvalidArgumentError('sharpImageDecoder.encoded', `must be a Uint8Array, got ${describe(encoded)}`);
  }
  if (typeof expected !== 'object' || expected === null || !Array.isArray(expected.shape)) {
    throw new InvalidArgumentError('sharpImageDecoder.expected', `must be { shape, format }, got ${describe(expected)}`);
  }
  sharpModule ??= import('sharp').then((module) => module.default);
  const sharp = await sharpModule;
  const channels = expected.shape[2] ?? -1;
  let pipeline = sharp(encoded, { limitInputPixels: DEFAULT_MAX_PIXELS, failOn: 'truncated' });
  if (channels === 1) pipeline = pipeline.removeAlpha().toColourspace('b-w');
  else if (channels === 3) pipeline = pipeline.removeAlpha().toColourspace('srgb');
  else if (channels === 4) pipeline = pipeline.ensureAlpha().toColourspace('srgb');
  const { data, info } = await pipeline.raw().toBuffer({ resolveWithObject: true });
  // A fresh array of our own: sharp's buffer is external memory, which must not be transferred.
  return { data: new Uint8Array(data), shape: [info.height, info.width, info.channels], dtype: 'uint8' };
}

/**
 * Checks decoded pixels against the expected static shape.
 * @internal
 */
export function checkImage(feature: string, image: DecodedImage, expected: ImageExpectation): DecodedImage {
  // A custom decoder may answer anything: check the form before reading it.
  const candidate = image as Partial<DecodedImage> | null;
  if (
    typeof candidate !== 'object' ||
    candidate === null ||
    !Array.isArray(candidate.shape) ||
    candidate.shape.length !== 3 ||
    !candidate.shape.every((d: unknown) => Number.isSafeInteger(d) && (d as number) >= 0)
  ) {
    throw new FeatureError(feature, 'decode', 'decoder must return { data, shape: [height, width, channels], dtype }');
  }
  const { shape, data } = image;
  const matches = expected.shape.length === 3 && expected.shape.every((d, i) => d < 0 || d === shape[i]);
  if (!matches) {
    throw new FeatureError(feature, 'shape', `decoded image is [${shape.join(', ')}], features.json says [${expected.shape.join(', ')}]`);
  }
  if (image.dtype !== 'uint8' || !(data instanceof Uint8Array)) {
    throw new FeatureError(feature, 'decode', 'decoder must return uint8 pixels in a Uint8Array');
  }
  if (data.length !== shape[0] * shape[1] * shape[2]) {
    throw new FeatureError(feature, 'decode', `decoder returned ${data.length} bytes for shape [${shape.join(', ')}]`);
  }
  return image;
}
