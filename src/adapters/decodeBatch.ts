/**
 * `decodeBatch`: decode and collate in one step, each image straight into its row of the batch
 * tensor.
 *
 * Decoding each sample to an image of its own and then collating copies every pixel once more
 * and allocates an image per sample, which the garbage collector then frees: measured on 128x128
 * JPEGs (`bench/peers`), 150 us of CPU per sample, a quarter of it in the collector's threads;
 * decoding into the batch took 112 us. This is how DALI decodes, into the batch.
 *
 * @module
 */
import type { OperatorFunction } from 'rxjs';
import { collateBatch, type Collated } from '../collate.js';
import type { CollateOptions } from '../collateOptions.js';
import { disposeAll } from '../dispose.js';
import { InvalidArgumentError } from '../errors.js';
import { describe } from '../excerpt.js';
import { operate } from '../operate.js';
import type { Origins } from '../origins.js';
import type { HostTensor } from '../tensor.js';
import { decodeImageInto, type DecodeImageOptions } from './decodeImage.js';

/**
 * Options of {@link decodeBatch}: the image fields, their size, how to decode them, and how to
 * collate the other fields.
 * @public
 */
export interface DecodeBatchOptions<F extends string = string> extends CollateOptions {
  /** The fields holding encoded images (JPEG, PNG, anything sharp reads), e.g. `['jpg']`. */
  readonly fields: readonly F[];
  /**
   * `[height, width]` of every image in the batch. A JPEG of this size is decoded in place; any
   * other image is decoded and resized to it (bilinear, as `decodeImage`'s `resize`).
   */
  readonly size: readonly [height: number, width: number];
  /** See `DecodeImageOptions.decoder`. */
  readonly decoder?: DecodeImageOptions['decoder'];
  /** See `DecodeImageOptions.fastDct`. */
  readonly fastDct?: boolean;
  /** See `DecodeImageOptions.maxPixels` (for images that are not already `size`). */
  readonly maxPixels?: number;
}

/**
 * A batch from {@link decodeBatch}: each image field a `'uint8'` tensor `[B, height, width, 3]`,
 * the other fields collated as `collate` would.
 * @public
 */
export type DecodedBatch<S, F extends string> = Collated<Omit<S, F>> & { [K in F]: HostTensor<'uint8'> };

/**
 * Decode the images of each batch (an array of samples, from `batch`) into one `'uint8'` tensor
 * `[B, height, width, 3]` per image field, and collate the other fields: `collate()` after a
 * per-sample decode, without an image per sample in between.
 *
 * Batches are decoded one at a time, in this thread: put it inside a worker pipeline's part to
 * decode on every core. A sample whose image cannot be decoded fails the stream with a
 * `DecodeError` naming the batch, the row, the field and the sample's `__key__`.
 *
 * @example
 * ```ts
 * import { decodeBatch } from 'rxfeed/workers';
 * import { batch, shard, shuffleBuffer } from 'rxfeed';
 * import { fromWebDataset } from 'rxfeed/webdataset';
 * declare const shards: string[];
 * fromWebDataset(shards).pipe(shard({ mode: 'file' }), shuffleBuffer(1000), batch(64),
 *   decodeBatch({ fields: ['jpg'], size: [128, 128] }));   // { jpg: uint8 [64, 128, 128, 3], cls: ... }
 * ```
 *
 * @param options - See {@link DecodeBatchOptions}.
 * @returns An operator from batches of samples to collated batches.
 * @public
 */
export function decodeBatch<S extends object, const F extends string = string>(
  options: DecodeBatchOptions<F>,
): OperatorFunction<readonly S[], DecodedBatch<S, F>> {
  const { fields, size, decoder, fastDct, maxPixels, ...collateOptions } = options;
  if (!Array.isArray(fields) || fields.length === 0 || !fields.every((field) => typeof field === 'string' && field !== '')) {
    throw new InvalidArgumentError('decodeBatch.fields', 'name at least one field holding an encoded image, as non-empty strings');
  }
  if (!Array.isArray(size) || size.length !== 2 || !size.every((side) => Number.isSafeInteger(side) && side >= 1 && side <= 65_535)) {
    throw new InvalidArgumentError('decodeBatch.size', `must be [height, width] of integers from 1 to 65535, got ${describe(size)}`);
  }
  const decodeOptions: DecodeImageOptions = {
    ...(decoder === undefined ? {} : { decoder }),
    ...(fastDct === undefined ? {} : { fastDct }),
    ...(maxPixels === undefined ? {} : { maxPixels }),
  };
  const [height, width] = size;
  const imageBytes = height * width * 3;
  const imageFields = new Set<string>(fields);

  const decodeRows = async (rows: readonly S[], batchIndex: number): Promise<DecodedBatch<S, F>> => {
    if (!Array.isArray(rows) || rows.length === 0) {
      throw new InvalidArgumentError('decodeBatch', `expects batches of samples (from batch()), got ${describe(rows)}`);
    }
    const images: Record<string, HostTensor<'uint8'>> = {};
    for (const field of fields) {
      // At most B x height x width x 3 bytes: the size is the caller's, never the images' headers.
      const data = new Uint8Array(rows.length * imageBytes);
      for (let row = 0; row < rows.length; row++) {
        const sample = rows[row] as Record<string, unknown>;
        if (typeof sample !== 'object' || sample === null) {
          throw new InvalidArgumentError('decodeBatch', `batch ${batchIndex} row ${row} is ${describe(sample)}, not a sample object`);
        }
        const key = typeof sample.__key__ === 'string' ? sample.__key__ : undefined;
        // Sample keys are data (a tar member may be named `x.__proto__`): own properties only.
        const bytes = Object.hasOwn(sample, field) ? sample[field] : undefined;
        const target = data.subarray(row * imageBytes, (row + 1) * imageBytes);
        await decodeImageInto(bytes, target, size, decodeOptions, `batch ${batchIndex} row ${row} field '${field}'`, key);
      }
      images[field] = { data, shape: [rows.length, height, width, 3], dtype: 'uint8' };
    }
    const rest = rows.map((sample) => {
      const others: Record<string, unknown> = {};
      for (const name of Object.keys(sample)) {
        // Defined, not assigned: a field named `__proto__` stays a field.
        if (!imageFields.has(name))
          Object.defineProperty(others, name, {
            value: (sample as Record<string, unknown>)[name],
            enumerable: true,
            writable: true,
            configurable: true,
          });
      }
      return others;
    });
    return { ...(collateBatch(rest, collateOptions) as object), ...images } as DecodedBatch<S, F>;
  };

  return (source) =>
    operate<readonly S[], DecodedBatch<S, F>>(source, (op) => {
      // One batch decodes at a time; the stage holds it and the batches that arrived meanwhile,
      // so sources pause while one waits.
      const waiting: (readonly S[])[] = [];
      const waitingOrigins: Origins[] = [];
      let decoding: Promise<unknown> | undefined;
      let upstreamDone = false;
      let nextIndex = 0;
      const stage = op.register({ name: 'decodeBatch', capacity: 1, occupancy: () => waiting.length + (decoding === undefined ? 0 : 1) });
      const decodeNext = (): void => {
        if (decoding !== undefined || op.closed) return;
        const rows = waiting.shift();
        const origins = waitingOrigins.shift();
        if (rows === undefined) {
          if (upstreamDone) op.complete();
          return;
        }
        const { flow } = op.context;
        const started = flow.mark();
        decoding = decodeRows(rows, nextIndex++).then(
          op.guard((decoded: DecodedBatch<S, F>) => {
            decoding = undefined;
            stage.workedSince(started);
            stage.left();
            if (op.closed) return;
            op.emit(decoded, origins);
            decodeNext();
          }),
          (error: unknown) => op.fail(error),
        );
      };
      op.subscribe(source, {
        next: (rows) => {
          stage.entered();
          waiting.push(rows);
          waitingOrigins.push(op.takeOrigins('decodeBatch'));
          decodeNext();
        },
        complete: () => {
          upstreamDone = true;
          if (decoding === undefined && waiting.length === 0) op.complete();
        },
      });
      op.finalize(() => {
        waitingOrigins.length = 0;
        disposeAll(waiting.splice(0));
        // A batch being decoded finishes (its result is dropped); a loop's break waits for it.
        if (decoding !== undefined) op.context.flow.trackRelease(decoding);
      });
    });
}
