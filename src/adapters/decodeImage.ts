/**
 * Image decode tasks: JPEG/PNG bytes to packed RGB `Uint8Array`s with their shape, optionally
 * resized, cropped and flipped. Written to run in worker threads (see `decodeImageTask` in
 * `rxfeed/workers`), and callable in the main thread as well.
 *
 * Decoders, chosen by measurement on 128x128 JPEGs (one core; see bench/decode.ts):
 * - JPEG: rxfeed's own Node-API binding over libjpeg-turbo's TurboJPEG API, when it was built
 *   (`src/adapters/turbojpeg/build.sh`): 10.6k to 12.6k images/s on one core, against 5.9k to 8.9k
 *   for PIL 9.4 on the same files at the same moment (1.3x to 1.9x), and 0.8k to 1.6k for sharp
 *   even with 64 decodes in flight (libvips' per-image pipeline setup dominates on small images).
 *   Big downscales use libjpeg's DCT scaling (decode at 1/2, 1/4 or 1/8 size).
 * - Everything else (PNG, WebP ...), and JPEG when the binding is absent: sharp.
 *
 * Pixel values may differ by a few levels between the two decoders (different IDCTs and colour
 * conversion), so a pipeline is reproducible on one installation, not across both decoders.
 *
 * Per-sample randomness (random crop, flip) comes from `(seed, epoch, index)` through
 * `deriveSeed`, so the result does not depend on which thread decodes the item.
 *
 * Encoded images are untrusted input (scraped datasets hold truncated and corrupt files). Any
 * byte sequence either decodes or fails with a {@link DecodeError}; an image whose header claims
 * more than `maxPixels` pixels (default {@link DEFAULT_MAX_PIXELS}) is refused before anything is
 * allocated for it, so the output buffer of one decode is at most `maxPixels x 3` bytes. A
 * truncated image is an error, not an image with grey rows; use a skip policy in the pipeline to
 * skip it.
 *
 * @module
 */
import { RxfeedError, InvalidArgumentError } from '../errors.js';
import { excerpt, quoted } from '../excerpt.js';
import { ownField, setField } from '../fields.js';
import { DEFAULT_MAX_PIXELS } from '../limits.js';
import { deriveSeed, Random } from '../random.js';
import type SharpFunction from 'sharp';
import { loadTurboJpeg } from './turbojpeg/binding.js';

/**
 * A decoded image: packed RGB rows, `shape = [height, width, 3]`, in the host-tensor shape that
 * `collate` stacks into batches.
 * @public
 */
export interface DecodedImage {
  readonly data: Uint8Array;
  readonly shape: [height: number, width: number, channels: 3];
  readonly dtype: 'uint8';
}

/**
 * A crop taken after the resize.
 * @public
 */
export interface ImageCrop {
  /** `[height, width]` of the crop; at most the (resized) image's size. */
  readonly size: readonly [height: number, width: number];
  /** Place the crop at a random position (from `(seed, epoch, index)`) instead of the centre. */
  readonly random?: boolean;
}

/**
 * Options of {@link decodeImage}; they are structured-cloned to the worker with every task.
 * @public
 */
export interface DecodeImageOptions {
  /** Resize to exactly `[height, width]` (bilinear, half-pixel centres, like PIL's BILINEAR without antialias). */
  readonly resize?: readonly [height: number, width: number];
  /** Then crop; see {@link ImageCrop}. */
  readonly crop?: ImageCrop;
  /** Then flip left-right with probability 1/2 (from `(seed, epoch, index)`). */
  readonly randomFlip?: boolean;
  /**
   * `'auto'` (default): libjpeg-turbo for JPEG when its binding is built, sharp otherwise.
   * `'sharp'` forces sharp; `'turbojpeg'` fails when the binding is absent.
   */
  readonly decoder?: 'auto' | 'turbojpeg' | 'sharp';
  /** libjpeg's fast integer IDCT: slightly less accurate; default false. */
  readonly fastDct?: boolean;
  /**
   * Most pixels (width x height of the encoded image, before any resize) an image may have;
   * default {@link DEFAULT_MAX_PIXELS}. Larger images fail with a {@link DecodeError} before
   * anything is allocated for them: a 20 kB JPEG can claim 65500x65500 pixels (12.9 GB of RGB).
   * Applies to both decoders (sharp's `limitInputPixels`). A positive safe integer.
   *
   * It bounds memory: the output is 3 bytes per pixel, and the peak of one decode measured at most
   * about 10 bytes per pixel of the encoded image (36 MP: 9 B/px for a progressive JPEG, whose
   * coefficients libjpeg keeps whole, and for sharp), so about 0.9 GB at the default, per thread.
   */
  readonly maxPixels?: number;
}

/**
 * Options of {@link decodeImageFields}; `F` is the union of the field names, when the types know it.
 * @public
 */
export interface DecodeImageFieldsOptions<F extends string = string> extends DecodeImageOptions {
  /**
   * Names of the fields holding encoded images (e.g. `['jpg', 'png']`). Fields absent from a
   * sample are skipped; a sample with none of them fails.
   */
  readonly fields: readonly F[];
}

/**
 * A sample of type `S` after {@link decodeImageFields} decoded its fields `F`: each of those that
 * holds bytes is a {@link DecodedImage}, every other field keeps its type. When the names are not
 * known to the types (`F` is `string`), every `Uint8Array` field may be either.
 *
 * @example
 * ```ts
 * import { type DecodedImageFields } from 'rxfeed/workers';
 * type Decoded = DecodedImageFields<{ jpg: Uint8Array; cls: Uint8Array }, 'jpg'>;
 * // { jpg: DecodedImage; cls: Uint8Array }
 * ```
 * @public
 */
export type DecodedImageFields<S, F extends string = string> = string extends F
  ? { [K in keyof S]: S[K] extends Uint8Array ? DecodedImage | S[K] : S[K] }
  : {
      // Bytes become an image; what else the field may hold (undefined, when optional) stays.
      [K in keyof S]: K extends F ? Exclude<S[K], Uint8Array> | ([Extract<S[K], Uint8Array>] extends [never] ? never : DecodedImage) : S[K];
    };

/**
 * The per-call context of a decode task; every field is optional so it can be called directly.
 * @public
 */
export interface DecodeContext<O> {
  /** Position of the item (0-based), for per-sample randomness. */
  readonly index?: number;
  readonly epoch?: number;
  readonly seed?: number;
  readonly options?: O;
}

export { DEFAULT_MAX_PIXELS } from '../limits.js';

/** Longest excerpt of a sample key or a decoder's message that goes into an error message. */
const EXCERPT = 200;

/**
 * Options of a {@link DecodeError} besides its message.
 * @public
 */
export interface DecodeErrorOptions extends ErrorOptions {
  /** The sample's `__key__`, when the image came from a sample. */
  readonly key?: string | undefined;
}

/**
 * An image could not be decoded: its bytes are not an image either decoder reads, it is
 * truncated, its header claims more than `maxPixels` pixels, or the options do not fit it.
 * Code `RXFEED_ERR_DECODE`; the message names the item, the sample key when known, and why.
 * @public
 */
export class DecodeError extends RxfeedError {
  /** Position of the item, when known. */
  readonly index: number | undefined;
  /** The sample's `__key__`, when the image came from a sample ({@link decodeImageFields}). */
  readonly key: string | undefined;
  /** Why, without the item and key prefix of `message`. */
  readonly reason: string;

  constructor(index: number | undefined, reason: string, options?: DecodeErrorOptions) {
    const key = options?.key;
    super(
      'RXFEED_ERR_DECODE',
      `decode${index === undefined ? '' : ` item ${index}`}${key === undefined ? '' : ` (key ${quoted(key, EXCERPT)})`}: ${reason}`,
      options,
    );
    this.index = index;
    this.key = key;
    this.reason = reason;
  }
}

/** A decoder's message on one line, repeated lines once, cut to a bounded excerpt. */
function decoderMessage(error: unknown): string {
  const text = error instanceof Error ? error.message : String(error);
  const lines = [
    ...new Set(
      text
        .split('\n')
        .map((line) => line.trim())
        .filter((line) => line !== ''),
    ),
  ].join('; ');
  return excerpt(lines, EXCERPT * 2);
}

type Format = 'jpeg' | 'png' | 'other';

function formatOf(bytes: Uint8Array): Format {
  if (bytes.length >= 3 && bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff) return 'jpeg';
  if (bytes.length >= 8 && bytes[0] === 0x89 && bytes[1] === 0x50 && bytes[2] === 0x4e && bytes[3] === 0x47) return 'png';
  return 'other';
}

interface Rgb {
  data: Uint8Array;
  width: number;
  height: number;
}

/**
 * Decode one encoded image (JPEG, PNG, or anything sharp reads) to RGB.
 *
 * @example
 * ```ts
 * import { decodeImage } from 'rxfeed/workers';
 * declare const jpegBytes: Uint8Array;
 * const image = await decodeImage(jpegBytes, { index: 5, seed: 1, options: { resize: [128, 128] } });
 * image.shape; // [128, 128, 3]
 * ```
 *
 * @param bytes - The encoded image.
 * @param context - Index, epoch and seed (for random crops and flips) and the options.
 * @returns The decoded image; its buffer is its own (moved back whole from a worker).
 * @throws {@link DecodeError} when the bytes are not a readable image (truncated, corrupt, more
 * than `maxPixels` pixels) or the crop does not fit it; {@link InvalidArgumentError} for bad options.
 * @public
 */
export async function decodeImage(bytes: Uint8Array, context: DecodeContext<DecodeImageOptions> = {}): Promise<DecodedImage> {
  const options = context.options ?? {};
  checkOptions(options);
  if (!(bytes instanceof Uint8Array)) {
    throw new DecodeError(context.index, `expected the encoded image as a Uint8Array, got ${describe(bytes)}`);
  }
  try {
    let image = await decodeRgb(bytes, options, context.index);
    if (options.resize !== undefined) image = resizeBilinear(image, options.resize[0], options.resize[1]);
    const random = options.crop?.random || options.randomFlip ? randomFor(context) : undefined;
    if (options.crop !== undefined) image = crop(image, options.crop, random, context.index);
    if (options.randomFlip && random!.next() < 0.5) flipHorizontal(image);
    return { data: image.data, shape: [image.height, image.width, 3], dtype: 'uint8' };
  } catch (error) {
    // Whatever a decoder or an allocation throws, the caller sees a DecodeError (issue 9.13).
    if (error instanceof RxfeedError) throw error;
    throw new DecodeError(context.index, decoderMessage(error), { cause: error });
  }
}

/**
 * Decode the image fields of a sample (e.g. WebDataset's `jpg`, `png`) and keep its other fields.
 * Every field gets the same random crop and flip, so an image and its mask stay aligned.
 *
 * @example
 * ```ts
 * import { decodeImageFields } from 'rxfeed/workers';
 * declare const bytes: Uint8Array;
 * const sample = await decodeImageFields({ __key__: 'a', png: bytes, cls: 3 }, { options: { fields: ['png'] } });
 * sample.png.shape; // [h, w, 3]
 * ```
 *
 * @param sample - An object whose named fields hold encoded images as `Uint8Array`s.
 * @param context - Index, epoch, seed and the options (with `fields`; written in place, their names
 *   type only those fields as decoded, see {@link DecodedImageFields}).
 * @returns A copy of the sample with those fields replaced by {@link DecodedImage}s.
 * @throws {@link DecodeError} when none of the fields is present, or one does not decode; it names
 * the sample's `__key__` when the sample has one.
 * @public
 */
export async function decodeImageFields<S extends object, const F extends string = string>(
  sample: S,
  context: DecodeContext<DecodeImageFieldsOptions<F>> = {},
): Promise<DecodedImageFields<S, F>> {
  const options = context.options;
  if (
    options === undefined ||
    !Array.isArray(options.fields) ||
    options.fields.length === 0 ||
    !options.fields.every((field) => typeof field === 'string' && field !== '')
  ) {
    throw new InvalidArgumentError('decodeImageFields.fields', 'name at least one field holding an encoded image, as non-empty strings');
  }
  const out: Record<string, unknown> = { ...(sample as Record<string, unknown>) };
  // Sample keys are data (a tar member may be named `x.__proto__`): read and write own properties only.
  const sampleKey = ownField(out, '__key__');
  const key = typeof sampleKey === 'string' ? sampleKey : undefined;
  let found = 0;
  for (const field of options.fields) {
    const bytes = ownField(out, field);
    if (bytes === undefined) continue;
    found++;
    if (!(bytes instanceof Uint8Array)) {
      throw new DecodeError(context.index, `field '${field}' holds ${describe(bytes)}, not encoded image bytes`, { key });
    }
    try {
      const image = await decodeImage(bytes, { ...context, options });
      setField(out, field, image);
    } catch (error) {
      if (error instanceof DecodeError) throw new DecodeError(context.index, `field '${field}': ${error.reason}`, { cause: error, key });
      throw error;
    }
  }
  if (found === 0) {
    const has = Object.keys(out).join(', ');
    throw new DecodeError(
      context.index,
      `the sample has none of the fields ${options.fields.map((f) => `'${f}'`).join(', ')} (it has ${excerpt(has, EXCERPT)})`,
      { key },
    );
  }
  return out as DecodedImageFields<S, F>;
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (typeof value !== 'object') return typeof value;
  return (value as object).constructor?.name ?? 'an object';
}

function checkOptions(options: DecodeImageOptions): void {
  const size = (name: string, value: readonly number[] | undefined): void => {
    if (value === undefined) return;
    if (!Array.isArray(value) || value.length !== 2 || !value.every((n) => Number.isSafeInteger(n) && n >= 1)) {
      throw new InvalidArgumentError(`decodeImage.${name}`, `must be [height, width] of positive integers, got ${JSON.stringify(value)}`);
    }
  };
  size('resize', options.resize);
  size('crop.size', options.crop?.size);
  if (options.decoder !== undefined && !['auto', 'turbojpeg', 'sharp'].includes(options.decoder)) {
    throw new InvalidArgumentError('decodeImage.decoder', `must be 'auto', 'turbojpeg' or 'sharp', got '${options.decoder}'`);
  }
  if (options.maxPixels !== undefined && !(Number.isSafeInteger(options.maxPixels) && options.maxPixels >= 1)) {
    throw new InvalidArgumentError('decodeImage.maxPixels', `must be a positive safe integer, got ${options.maxPixels}`);
  }
}

function randomFor(context: DecodeContext<unknown>): Random {
  return new Random(deriveSeed(context.seed ?? 0, context.epoch ?? 0, context.index ?? 0));
}

async function decodeRgb(bytes: Uint8Array, options: DecodeImageOptions, index: number | undefined): Promise<Rgb> {
  const format = formatOf(bytes);
  const decoder = options.decoder ?? 'auto';
  const maxPixels = options.maxPixels ?? DEFAULT_MAX_PIXELS;
  if (format === 'jpeg' && decoder !== 'sharp') {
    const turbo = loadTurboJpeg();
    if (turbo !== undefined) {
      // CMYK and other rare JPEGs TurboJPEG refuses: let sharp try before giving up.
      const refused = (error: unknown): Promise<Rgb> => {
        if (decoder === 'turbojpeg') throw new DecodeError(index, decoderMessage(error), { cause: error });
        return decodeWithSharp(bytes, maxPixels, index, error);
      };
      let width: number;
      let height: number;
      try {
        [width, height] = turbo.header(bytes);
      } catch (error) {
        return refused(error);
      }
      // Checked before any allocation: the header is untrusted and may claim 65500x65500.
      if (width * height > maxPixels) {
        throw new DecodeError(index, `the image is ${width}x${height} (${width * height} pixels), more than maxPixels ${maxPixels}`);
      }
      const scale = options.resize === undefined ? 1 : dctScale([width, height], options.resize);
      const scaledWidth = Math.ceil(width / scale);
      const scaledHeight = Math.ceil(height / scale);
      // At most maxPixels x 3 bytes; allocated here so that failure is a RangeError, not an abort.
      const data = new Uint8Array(scaledWidth * scaledHeight * 3);
      try {
        turbo.decode(bytes, scale, options.fastDct ?? false, data);
      } catch (error) {
        return refused(error);
      }
      return { data, width: scaledWidth, height: scaledHeight };
    }
    if (decoder === 'turbojpeg') {
      throw new DecodeError(index, "decoder 'turbojpeg' was asked for, but its binding is not built (src/adapters/turbojpeg/build.sh)");
    }
  }
  return decodeWithSharp(bytes, maxPixels, index, undefined);
}

/**
 * Decode `bytes` into `target`, an RGB `[height, width, 3]` slice of a batch tensor: a JPEG of
 * exactly that size is decoded in place by libjpeg-turbo (no image allocated, nothing copied);
 * anything else goes through {@link decodeImage} resized to `[height, width]`, and is copied in.
 * @internal used by `decodeBatch`
 */
export async function decodeImageInto(
  bytes: unknown,
  target: Uint8Array,
  [height, width]: readonly [number, number],
  options: DecodeImageOptions,
  where: string,
  key: string | undefined,
): Promise<void> {
  if (!(bytes instanceof Uint8Array)) {
    throw new DecodeError(undefined, `${where}: expected the encoded image as a Uint8Array, got ${describe(bytes)}`, { key });
  }
  const turbo = options.decoder !== 'sharp' && formatOf(bytes) === 'jpeg' ? loadTurboJpeg() : undefined;
  if (turbo !== undefined) {
    try {
      const [encodedWidth, encodedHeight] = turbo.header(bytes);
      if (encodedWidth === width && encodedHeight === height) {
        turbo.decode(bytes, 1, options.fastDct ?? false, target);
        return;
      }
    } catch {
      // The general path decodes it again and reports what is wrong, or lets sharp try.
    }
  }
  try {
    const image = await decodeImage(bytes, { options: { ...options, resize: [height, width] } });
    target.set(image.data);
  } catch (error) {
    if (error instanceof DecodeError) throw new DecodeError(undefined, `${where}: ${error.reason}`, { key, cause: error.cause ?? error });
    throw error;
  }
}

/** The largest DCT downscale (8, 4, 2) that still leaves at least the target size. */
function dctScale([width, height]: [number, number], [targetHeight, targetWidth]: readonly [number, number]): number {
  for (const scale of [8, 4, 2]) {
    if (Math.ceil(width / scale) >= targetWidth && Math.ceil(height / scale) >= targetHeight) return scale;
  }
  return 1;
}

type SharpModule = typeof SharpFunction;
let sharpModule: Promise<SharpModule> | undefined;

async function decodeWithSharp(bytes: Uint8Array, maxPixels: number, index: number | undefined, earlier: unknown): Promise<Rgb> {
  sharpModule ??= import('sharp').then((module) => {
    const sharp = (module as unknown as { default: SharpModule }).default ?? module;
    sharp.cache(false); // every image is decoded once: caching only costs memory
    return sharp;
  });
  let sharp: SharpModule;
  try {
    sharp = await sharpModule;
  } catch (error) {
    sharpModule = undefined;
    throw new DecodeError(index, `this image needs sharp (npm install sharp): ${decoderMessage(error)}`, { cause: error });
  }
  try {
    // failOn 'truncated': like libjpeg-turbo above, a truncated image fails and a warning about
    // corrupt but decodable data does not.
    const { data, info } = await sharp(bytes, { limitInputPixels: maxPixels, failOn: 'truncated' })
      .removeAlpha()
      .toColourspace('srgb')
      .raw()
      .toBuffer({ resolveWithObject: true });
    const pixels = info.width * info.height;
    if (data.length !== pixels * info.channels)
      throw new Error(`sharp returned ${data.length} bytes for ${info.width}x${info.height}x${info.channels}`);
    // sharp's Buffer may be external memory that cannot be transferred: copy into our own array.
    const rgb = new Uint8Array(pixels * 3);
    if (info.channels === 3) rgb.set(data);
    else if (info.channels === 1) for (let i = 0; i < pixels; i++) rgb[3 * i] = rgb[3 * i + 1] = rgb[3 * i + 2] = data[i]!;
    else throw new Error(`unexpected ${info.channels} channels after conversion to sRGB`);
    return { data: rgb, width: info.width, height: info.height };
  } catch (error) {
    const message = decoderMessage(error);
    const limit = /pixel limit/i.test(message) ? `the image has more than maxPixels ${maxPixels} pixels (sharp: ${message})` : message;
    const before = earlier === undefined ? '' : ` (libjpeg-turbo: ${decoderMessage(earlier)})`;
    throw new DecodeError(index, `${limit}${before}`, { cause: error });
  }
}

/** Bilinear resize with half-pixel centres (PIL BILINEAR without antialias, cv2 INTER_LINEAR). */
function resizeBilinear(image: Rgb, height: number, width: number): Rgb {
  if (image.width === width && image.height === height) return image;
  const { data: source, width: sourceWidth, height: sourceHeight } = image;
  const out = new Uint8Array(width * height * 3);
  const scaleX = sourceWidth / width;
  const scaleY = sourceHeight / height;
  // Column taps are the same for every row: compute them once.
  const x0s = new Int32Array(width);
  const x1s = new Int32Array(width);
  const wxs = new Float32Array(width);
  for (let x = 0; x < width; x++) {
    const sx = Math.min(Math.max((x + 0.5) * scaleX - 0.5, 0), sourceWidth - 1);
    const x0 = Math.floor(sx);
    x0s[x] = x0 * 3;
    x1s[x] = Math.min(x0 + 1, sourceWidth - 1) * 3;
    wxs[x] = sx - x0;
  }
  let o = 0;
  for (let y = 0; y < height; y++) {
    const sy = Math.min(Math.max((y + 0.5) * scaleY - 0.5, 0), sourceHeight - 1);
    const y0 = Math.floor(sy);
    const wy = sy - y0;
    const row0 = y0 * sourceWidth * 3;
    const row1 = Math.min(y0 + 1, sourceHeight - 1) * sourceWidth * 3;
    for (let x = 0; x < width; x++) {
      const a = x0s[x]!;
      const b = x1s[x]!;
      const wx = wxs[x]!;
      for (let c = 0; c < 3; c++) {
        const top = source[row0 + a + c]! + (source[row0 + b + c]! - source[row0 + a + c]!) * wx;
        const bottom = source[row1 + a + c]! + (source[row1 + b + c]! - source[row1 + a + c]!) * wx;
        out[o++] = Math.round(top + (bottom - top) * wy);
      }
    }
  }
  return { data: out, width, height };
}

function crop(image: Rgb, options: ImageCrop, random: Random | undefined, index: number | undefined): Rgb {
  const [height, width] = options.size;
  if (height > image.height || width > image.width) {
    throw new DecodeError(index, `crop ${height}x${width} is larger than the image (${image.height}x${image.width}); resize first`);
  }
  if (height === image.height && width === image.width) return image;
  const top = options.random ? random!.int(image.height - height + 1) : Math.floor((image.height - height) / 2);
  const left = options.random ? random!.int(image.width - width + 1) : Math.floor((image.width - width) / 2);
  const out = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) {
    const start = ((top + y) * image.width + left) * 3;
    out.set(image.data.subarray(start, start + width * 3), y * width * 3);
  }
  return { data: out, width, height };
}

function flipHorizontal(image: Rgb): void {
  const { data, width, height } = image;
  for (let y = 0; y < height; y++) {
    let left = y * width * 3;
    let right = left + (width - 1) * 3;
    while (left < right) {
      for (let c = 0; c < 3; c++) {
        const t = data[left + c]!;
        data[left + c] = data[right + c]!;
        data[right + c] = t;
      }
      left += 3;
      right -= 3;
    }
  }
}
