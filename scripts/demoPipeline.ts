/**
 * The demo's training pipeline, run in worker threads by `workerPipeline` (see demo.ts): each
 * thread reads its own shards, shuffles, batches and decodes the JPEGs straight into the batch
 * tensor, so only finished batches cross to the main thread.
 */
import { map, type Observable } from 'rxjs';
import { fromWebDataset, type WebDatasetSample } from '../sources/webdataset/index.js';
import { decodeBatch, type DecodedBatch } from '../src/adapters/decodeBatch.js';
import type { WorkerPart } from '../src/adapters/workerPipeline.js';
import { batch, shard, shuffleBuffer } from '../src/index.js';

/** What the part is told by the main thread. */
export interface TrainOptions {
  readonly shards: readonly string[];
  readonly batchSize: number;
  /** Height and width of the (square) images. */
  readonly side: number;
}

/** A sample before decoding: the JPEG and its class. */
interface Row {
  readonly image: Uint8Array;
  readonly label: number;
}

/** A training batch: images `uint8 [B, side, side, 3]`, labels collated. */
export type TrainBatch = DecodedBatch<Row, 'image'>;

const labelOf = (cls: Uint8Array): number => Number(new TextDecoder().decode(cls));

/** One thread's part: its shards of this epoch's shard order, shuffled, decoded and batched. */
export function trainPart(part: WorkerPart<TrainOptions>): Observable<TrainBatch> {
  return fromWebDataset(part.options.shards, { extensions: ['jpg', 'cls'], shuffleShards: { seed: part.seed } }).pipe(
    shard({ mode: 'file' }), // this thread's shards: the part's placement, no options needed
    shuffleBuffer(2048, { seed: part.seed }), // the part's rank and worker are mixed in
    map((sample: WebDatasetSample): Row => ({ image: sample['jpg'] as Uint8Array, label: labelOf(sample['cls'] as Uint8Array) })),
    batch(part.options.batchSize),
    decodeBatch<Row, 'image'>({ fields: ['image'], size: [part.options.side, part.options.side] }), // JPEGs decoded into the batch tensor
  );
}
