import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { batch } from '../../../operators/batch.js';
import { workerPipeline } from '../../../src/adapters/workerPipeline.js';
import type { CollatedPaddedBatch } from '../../../src/collate.js';
import { globalShuffle } from '../../../src/sampler.js';
import { toLoader } from '../../../src/loader.js';
import { fromRandomAccess } from '../../../sources/core/fromRandomAccess.js';
import { encodeExample, tfrecordFrame } from '../../../sources/tfrecord/index.js';
import { packTar, scratchDir } from '../../sources/webdataset/tarFixtures.js';
import { datasetOf, evaluation, shuffledElements, type RandomAccessOptions } from './fixtures/sourcePipelines.js';
import { bothWays, collect, crossed, inMainThread } from './inMainThread.js';
import { openFilesUnder } from './loopback.js';

const pipelines = new URL('./fixtures/sourcePipelines.js', import.meta.url);
const FILES = 3;
const PER_FILE = 35;
const SIZE = FILES * PER_FILE;

/** The plain main-thread read (no parts): the dataset made here, a global shuffle, batches. */
async function mainThreadBatches(dataset: RandomAccessOptions['dataset'], seed: number, batchSize: number): Promise<unknown[]> {
  const made = await datasetOf(dataset);
  try {
    const source = fromRandomAccess(made, { sampler: globalShuffle({ seed }), batchSize, endOfEpoch: 'wrap' }).pipe(batch(batchSize));
    return (await collect(source)).map(crossed);
  } finally {
    await made.close();
  }
}

describe('random-access datasets made inside worker pipelines (issue 12)', () => {
  const scratch = scratchDir();
  const recordFiles: string[] = [];
  const shardFiles: string[] = [];
  const datasets: Record<'tfrecord' | 'webdataset', RandomAccessOptions['dataset']> = {
    tfrecord: { kind: 'tfrecord', paths: recordFiles },
    webdataset: { kind: 'webdataset', paths: shardFiles },
  };

  before(async () => {
    for (let file = 0; file < FILES; file++) {
      const records: Uint8Array[] = [];
      const members = [];
      for (let k = 0; k < PER_FILE; k++) {
        const id = file * PER_FILE + k;
        records.push(
          tfrecordFrame(encodeExample({ id: BigInt64Array.of(BigInt(id)), x: Float32Array.of(id / 3), name: [`record-${id}`] })),
        );
        const key = `f${file}-${String(k).padStart(3, '0')}`;
        members.push({ name: `${key}.id`, data: String(id) }, { name: `${key}.bin`, data: new Uint8Array(500).fill(id % 256) });
      }
      recordFiles.push(scratch.write(`records-${file}.tfrecord`, Buffer.concat(records)));
      shardFiles.push(scratch.write(`shard-${file}.tar`, await packTar(members)));
    }
  });
  after(() => scratch.cleanup());

  for (const kind of ['tfrecord', 'webdataset'] as const) {
    it(`issue 12: a ${kind} dataset made in each part, read with a global shuffle in batches, equals the plain main-thread read exactly`, async () => {
      const options: RandomAccessOptions = { dataset: datasets[kind], batchSize: 8 };
      const inWorkers = await bothWays(pipelines, shuffledElements, { threads: 2, seed: 3, options });
      assert.equal(inWorkers.length, Math.ceil(SIZE / 8));
      assert.deepEqual(inWorkers, await mainThreadBatches(options.dataset, 3, 8));
    });

    it(`issue 12: exact evaluation of a ${kind} dataset on 2 ranks of 2 threads counts every index once through the pad mask`, async () => {
      const batchSize = 8;
      const options: RandomAccessOptions = { dataset: datasets[kind], batchSize };
      const counted = new Array<number>(SIZE).fill(0);
      const batchesPerRank: number[] = [];
      for (const rank of [0, 1]) {
        await using ranked = workerPipeline<typeof evaluation>(pipelines, 'evaluation', {
          threads: 2,
          seed: 4,
          rank,
          worldSize: 2,
          options,
        });
        const batches = await collect(ranked);
        const run = { threads: 2, seed: 4, rank, worldSize: 2, options };
        assert.deepEqual(batches.map(crossed), (await inMainThread(evaluation, run)).map(crossed), `rank ${rank}: as in the main thread`);
        batchesPerRank.push(batches.length);
        for (const { rows, mask, index } of batches as CollatedPaddedBatch<number>[]) {
          assert.deepEqual(mask.shape, [batchSize]);
          for (let row = 0; row < batchSize; row++) {
            if (mask.data[row] === 0) {
              assert.equal(index.data[row], -1, 'a pad row has no index');
              continue;
            }
            const at = Number(index.data[row]);
            assert.equal(Number((rows as { data: ArrayLike<number> }).data[row]), at, `the row at index ${at} is element ${at}`);
            counted[at]!++;
          }
        }
      }
      assert.equal(batchesPerRank[0], batchesPerRank[1], 'every rank runs the same number of steps');
      assert.equal(batchesPerRank[0], Math.ceil(Math.ceil(SIZE / 2) / batchSize));
      assert.deepEqual(counted, new Array<number>(SIZE).fill(1));
    });

    it(`issue 12: a break returns once every part has closed its ${kind} dataset's file handles`, async () => {
      const openFiles = (): string[] => openFilesUnder(scratch.dir);
      const options: RandomAccessOptions = { dataset: datasets[kind], batchSize: 8 };
      await using batches = workerPipeline<typeof shuffledElements>(pipelines, 'shuffledElements', { threads: 2, seed: 3, options });
      let taken = 0;
      for await (const elements of toLoader(batches)) {
        assert.equal(elements.length, 8);
        if (++taken === 3) {
          // A tfrecordDataset keeps its file handles between reads (up to 16); webDatasetIndexed
          // opens a shard for each read, so it may hold none at this moment.
          if (kind === 'tfrecord') assert.ok(openFiles().length > 0, 'the parts hold their files open between reads');
          break;
        }
      }
      assert.deepEqual(openFiles(), []);
      assert.equal(batches.stats().threads, 2, 'the threads are still up: the parts closed their datasets');
    });
  }
});
