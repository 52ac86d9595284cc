/**
 * The demo's training pipeline, run in worker threads by `workerPipeline` (see demo.ts): each
 * thread reads its own shards, shuffles, decodes and batches, so only finished batches cross to
 * the main thread.
 */
import { map, type Observable } from 'rxjs';
import { fromWebDataset, type WebDatasetSample } from '../sources/webdataset/index.js';
import { decodeImage, type DecodedImage } from '../src/adapters/decodeImage.js';
import type { WorkerPart } from '../src/adapters/workerPipeline.js';
import { batch, collate, parallelMap, shard, shuffleBuffer, type HostTensor } from '../src/index.js';

/** What the part is told by the main thread. */
export interface TrainOptions {
  readonly shards: readonly string[];
  readonly batchSize: number;
}

/** A collated training batch. */
export interface TrainBatch {
  readonly image: HostTensor;
  readonly label: HostTensor;
}

const labelOf = (cls: Uint8Array): number => Number(new TextDecoder().decode(cls));

/** One thread's part: its shards of this epoch's shard order, shuffled, decoded and batched. */
export function trainPart(part: WorkerPart<TrainOptions>): Observable<TrainBatch> {
  return fromWebDataset(part.options.shards, { extensions: ['jpg', 'cls'], shuffleShards: { seed: part.seed } }).pipe(
    shard({ mode: 'file' }), // this thread's shards: the part's placement, no options needed
    shuffleBuffer(2048, { seed: part.seed }), // the part's rank and worker are mixed in
    parallelMap(
      async (sample: WebDatasetSample): Promise<{ image: DecodedImage; label: number }> => ({
        image: await decodeImage(sample['jpg'] as Uint8Array),
        label: labelOf(sample['cls'] as Uint8Array),
      }),
      { concurrency: 4 },
    ),
    batch(part.options.batchSize),
    collate(),
    map((columns) => columns as TrainBatch),
  );
}
