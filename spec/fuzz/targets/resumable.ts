/**
 * Pipelines for the loader-state fuzz: each reads a small real or generated input through the
 * stages that save their own part of a state (sources, `shard`, `shuffleBuffer`, `mix`,
 * `interleave`, `epochs`, `padToBatch`, an unordered `parallelMap`), so a mutated state reaches
 * every part's checks.
 * @module
 */
import { join } from 'node:path';
import type { Observable } from 'rxjs';
import { batch } from '../../../operators/batch.js';
import { epochs } from '../../../operators/epochs.js';
import { interleave } from '../../../operators/interleave.js';
import { mix } from '../../../operators/mix.js';
import { padToBatch } from '../../../operators/padToBatch.js';
import { parallelMap } from '../../../operators/parallelMap.js';
import { prefetch } from '../../../operators/prefetch.js';
import { shard } from '../../../operators/shard.js';
import { shuffleBuffer } from '../../../operators/shuffleBuffer.js';
import { globalShuffle } from '../../../src/sampler.js';
import { isPaddedBatch } from '../../../src/tensor.js';
import { fromItems } from '../../../sources/core/fromItems.js';
import { fromRandomAccess } from '../../../sources/core/fromRandomAccess.js';
import { itemsDataset } from '../../../sources/core/itemsDataset.js';
import { fromTFRecord } from '../../../sources/tfrecord/fromTFRecord.js';
import { fromWebDataset } from '../../../sources/webdataset/fromWebDataset.js';
import { sharedData } from '../seeds.js';

const range = (n: number, from = 0): number[] => Array.from({ length: n }, (_, i) => from + i);
const dataset = itemsDataset(range(200));

/**
 * The pipelines by name: `save` is the one whose states seed the fuzz (per rank where it has
 * ranks), `resume` the one a mutated state is given to.
 */
export const resumable: Record<
  string,
  { readonly save: readonly (() => Observable<unknown>)[]; readonly resume: () => Observable<unknown> }
> = {
  indexed: {
    save: [() => indexed(1, 0)],
    resume: () => indexed(1, 0),
  },
  // Two ranks' states given to a rank of three: the elastic merge.
  elastic: {
    save: [() => indexed(2, 0), () => indexed(2, 1)],
    resume: () => indexed(3, 1),
  },
  shuffled: {
    save: [shuffled],
    resume: shuffled,
  },
  mixed: {
    save: [mixed],
    resume: mixed,
  },
  interleaved: {
    save: [interleaved],
    resume: interleaved,
  },
  padded: {
    save: [padded],
    resume: padded,
  },
  tar: {
    save: [tar],
    resume: tar,
  },
  tfrecord: {
    save: [tfrecord],
    resume: tfrecord,
  },
};

function indexed(worldSize: number, rank: number): Observable<unknown> {
  return fromRandomAccess(dataset, { sampler: globalShuffle({ seed: 1 }), batchSize: 4, endOfEpoch: 'pad', worldSize, rank }).pipe(
    parallelMap(async (n: number) => n, { ordered: false, concurrency: 3 }),
    batch(4),
  );
}

function shuffled(): Observable<unknown> {
  return fromItems(() => range(300), { chunkSize: 8 }).pipe(
    shard({ rank: 0, worldSize: 2 }),
    shuffleBuffer(16, { seed: 2 }),
    epochs(2),
    batch(4),
  );
}

function mixed(): Observable<unknown> {
  return mix([fromItems(range(60)), fromItems(range(60, 1000))], [1, 2], { seed: 3 }).pipe(prefetch(3), batch(3));
}

function interleaved(): Observable<unknown> {
  return interleave(
    range(4).map((input) => fromItems(range(15, input * 100))),
    { cycleLength: 2, blockLength: 2 },
  ).pipe(batch(3));
}

function padded(): Observable<unknown> {
  return fromItems(() => range(50)).pipe(shard({ rank: 1, worldSize: 3 }), padToBatch(4, { size: 50, worldSize: 3, fill: () => -1 }));
}

function tar(): Observable<unknown> {
  const shards = ['compressed.tar', 'sample.tgz', 'compressed.tar'].map((name) => join(sharedData, 'webdataset', name));
  return fromWebDataset(shards).pipe(shuffleBuffer(8, { seed: 4 }), batch(2));
}

function tfrecord(): Observable<unknown> {
  const files = ['sequence_example.tfrecord', 'example.tfrecord'].map((name) => join(sharedData, 'tfrecord', 'pytorch-data', name));
  return fromTFRecord(files).pipe(batch(2));
}

/** The samples an item of these pipelines holds: a batch's rows, a padded batch's real rows. */
export function samplesIn(item: unknown): number {
  if (isPaddedBatch(item)) return item.mask.reduce((sum, real) => sum + real, 0);
  return Array.isArray(item) ? item.length : 1;
}
