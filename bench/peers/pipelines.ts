/**
 * rxfeed's side of the peer benchmark: the three pipelines PyTorch's DataLoader runs in
 * `torch_loader.py`, each a function of the part of the data it reads, so that the same code runs
 * in the main thread (one part: everything) and in worker threads (`workerPipeline`, one part per
 * thread, whole files each, as PyTorch's workers split them).
 *
 * Every pipeline turns a sample into `{ jpg, cls }` (the encoded image, or the decoded HxWx3
 * image, and the label as a number), shuffles with a 1000-sample buffer, batches by 64 (the last
 * batch of a part may be shorter) and collates to `{ jpg, cls }`: `jpg` a `'bytes'` list of the
 * samples' own arrays, or a `'uint8'` tensor `[B, 128, 128, 3]`; `cls` an `'int64'` tensor `[B]`.
 * PyTorch's default_collate makes the same structure (a list of `bytes`, a uint8 tensor
 * `[B, 128, 128, 3]`, an int64 tensor `[B]`).
 *
 * @module
 */
import { map, type Observable } from 'rxjs';
import { batch } from '../../operators/batch.js';
import { collate } from '../../operators/collate.js';
import { parallelMap } from '../../operators/parallelMap.js';
import { shard } from '../../operators/shard.js';
import { shuffleBuffer } from '../../operators/shuffleBuffer.js';
import { fromTFRecord } from '../../sources/tfrecord/index.js';
import { fromWebDataset, type WebDatasetSample } from '../../sources/webdataset/index.js';
import { decodeBatch } from '../../src/adapters/decodeBatch.js';
import { decodeImage, type DecodedImage } from '../../src/adapters/decodeImage.js';
import type { WorkerPart } from '../../src/adapters/workerPipeline.js';
import type { CollateOptions } from '../../src/collateOptions.js';
import type { HostTensor } from '../../src/tensor.js';

/** Samples in the shuffle buffer, as PyTorch's side (WebDataset's `shuffle(1000)`). */
export const SHUFFLE = 1000;
/** Samples per batch. */
export const BATCH = 64;

/** The options every pipeline takes: the files of the whole dataset, in reading order. */
export interface PeerOptions {
  readonly files: readonly string[];
}

/**
 * Which part of the data a pipeline reads (`workerIndex` of `numWorkers`, on rank `rank` of
 * `worldSize`), its epoch and seed: a worker pipeline's part, or the whole data in the main thread.
 */
export type PeerPart = WorkerPart<PeerOptions>;

/** A sample as both sides batch it. */
export interface PeerSample<I> {
  readonly jpg: I;
  readonly cls: number;
}

/** A collated batch: `jpg` bytes (`'bytes'` list) or images (`'uint8'` `[B, H, W, 3]`), `cls` int64 `[B]`. */
export interface PeerBatch {
  readonly jpg: HostTensor<'bytes'> | HostTensor<'uint8'>;
  readonly cls: HostTensor<'int64'>;
}

const COLLATE: CollateOptions = { bytes: 'list', keys: { cls: { dtype: 'int64' } } };

/** The `.cls` member's decimal text as a number, without a string in between. */
export function labelOf(bytes: Uint8Array): number {
  let label = 0;
  for (const byte of bytes) label = label * 10 + (byte - 48);
  return label;
}

/** The samples of this part's shards, whole files per part, as `{ jpg: bytes, cls }`. */
export function tarSamples(part: PeerPart): Observable<PeerSample<Uint8Array>> {
  const { workerIndex, numWorkers, rank, worldSize } = part;
  return fromWebDataset(part.options.files, { extensions: ['jpg', 'cls'] }).pipe(
    shard<WebDatasetSample<'jpg' | 'cls'>>({ mode: 'file', workerIndex, numWorkers, rank, worldSize }),
    map((sample) => ({ jpg: sample.jpg, cls: labelOf(sample.cls) })),
  );
}

/** The 1000-sample shuffle buffer, seeded by the part's seed, rank and worker (and the epoch read). */
export function shuffled<I>(part: PeerPart, samples: Observable<PeerSample<I>>): Observable<PeerSample<I>> {
  const { seed, rank, workerIndex } = part;
  return samples.pipe(shuffleBuffer(SHUFFLE, { seed, rank, workerIndex }));
}

/** Batches of 64 (the last one of a part shorter), collated. */
export function batched<I>(samples: Observable<PeerSample<I>>): Observable<PeerBatch> {
  return samples.pipe(batch(BATCH), collate(COLLATE)) as Observable<PeerBatch>;
}

/** Tar shards, no decode: the JPEG bytes are batched as a list. */
export function tarNoDecode(part: PeerPart): Observable<PeerBatch> {
  return batched(shuffled(part, tarSamples(part)));
}

/** One sample's JPEG decoded to HxWx3 in this thread (libjpeg-turbo's binding when built). */
export async function decodeSample(sample: PeerSample<Uint8Array>, index: number): Promise<PeerSample<DecodedImage>> {
  return { jpg: await decodeImage(sample.jpg, { index }), cls: sample.cls };
}

/** Tar shards, JPEGs decoded in this thread after the shuffle (as WebDataset's `.shuffle().decode()`). */
export function tarDecode(part: PeerPart): Observable<PeerBatch> {
  return batched(
    shuffled(part, tarSamples(part)).pipe(parallelMap((sample: PeerSample<Uint8Array>, { index }) => decodeSample(sample, index))),
  );
}

/**
 * Tar shards, JPEGs decoded after the shuffle straight into the batch tensor (`decodeBatch`):
 * rxfeed's own way to the same batches as {@link tarDecode}, with no image per sample.
 */
export function tarDecodeBatch(part: PeerPart): Observable<PeerBatch> {
  return shuffled(part, tarSamples(part)).pipe(
    batch(BATCH),
    decodeBatch<PeerSample<Uint8Array>, 'jpg'>({ ...COLLATE, fields: ['jpg'], size: [128, 128] }),
  ) as Observable<PeerBatch>;
}

/** TFRecord shards, every length and record CRC-checked, each record decoded as a `tf.train.Example`. */
export function tfrecordExample(part: PeerPart): Observable<PeerBatch> {
  const { workerIndex, numWorkers, rank, worldSize } = part;
  const samples = fromTFRecord(part.options.files, { decode: 'example', verify: true, int64: 'number' }).pipe(
    shard({ mode: 'file', workerIndex, numWorkers, rank, worldSize }),
    map((example) => ({
      jpg: (example['image/encoded'] as Uint8Array[])[0]!,
      cls: (example['image/class/label'] as Float64Array)[0]!,
    })),
  );
  return batched(shuffled(part, samples));
}
