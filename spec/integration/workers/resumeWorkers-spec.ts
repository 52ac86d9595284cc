/**
 * Worker pipelines resumed on another number of threads (issue 13): an indexed pipeline
 * checkpointed with 3 threads mid-epoch resumes with 1 and 2 threads and gives exactly the rest
 * of the main thread's uninterrupted run (the same multiset when the merge or a stage is
 * unordered); a stage that cannot be saved inside a part makes `state()` fail naming it.
 */
import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import type { Observable } from 'rxjs';
import { batch } from '../../../operators/batch.js';
import { workerPipeline, type WorkerPipeline } from '../../../src/adapters/workerPipeline.js';
import { toLoader } from '../../../src/loader.js';
import { LoaderStateError } from '../../../src/loaderState.js';
import { globalShuffle } from '../../../src/sampler.js';
import { fromRandomAccess } from '../../../sources/core/fromRandomAccess.js';
import { itemsDataset } from '../../../sources/core/itemsDataset.js';
import { iterate, sortedItems, until } from '../../src/resumeFixtures.js';
import type { bufferedBatches, indexedBatches, ResumeOptions, unorderedBatches } from './fixtures/resumePipelines.js';

const pipelines = new URL('./fixtures/resumePipelines.js', import.meta.url);
const SEED = 5;

/** The main thread's uninterrupted run: the same source and batches, no parts. */
async function mainThread(options: ResumeOptions): Promise<number[][]> {
  const dataset = itemsDataset(Array.from({ length: options.count }, (_, i) => i));
  const { batchSize, endOfEpoch } = options;
  return iterate(
    toLoader(fromRandomAccess(dataset, { sampler: globalShuffle({ seed: SEED }), batchSize, endOfEpoch }).pipe(batch(batchSize))),
  );
}

const rows = (batches: readonly Float64Array[]): number[][] => batches.map((b) => Array.from(b));

describe('worker pipelines resumed on another thread count (issue 13)', () => {
  const open: WorkerPipeline<Float64Array>[] = [];
  const start = (
    name: 'indexedBatches' | 'unorderedBatches',
    threads: number,
    options: ResumeOptions,
    ordered = true,
  ): Observable<Float64Array> => {
    const made = workerPipeline<typeof indexedBatches | typeof unorderedBatches>(pipelines, name, {
      threads,
      seed: SEED,
      options,
      ordered,
    });
    open.push(made);
    return made;
  };
  afterEach(async () => {
    for (const made of open.splice(0)) await made[Symbol.asyncDispose]();
  });

  for (const endOfEpoch of ['pad', 'drop'] as const) {
    it(`issue 13: '${endOfEpoch}': checkpointed with 3 threads, resumed with 1 and 2: exactly the main thread's run`, async () => {
      const options: ResumeOptions = { count: 203, batchSize: 4, endOfEpoch };
      const expected = await mainThread(options);
      const threeThreads = start('indexedBatches', 3, options);
      const resumers = [start('indexedBatches', 1, options), start('indexedBatches', 2, options)];
      for (const k of [0, 1, 7, 20, expected.length]) {
        const first = await until(toLoader(threeThreads), k);
        for (const [i, resumer] of resumers.entries()) {
          const rest = await iterate(toLoader(resumer, { state: first.state }));
          assert.deepEqual([...rows(first.received), ...rows(rest)], expected, `k=${k}, ${i + 1} thread(s)`);
        }
      }
    });
  }

  it('issue 13: an unordered merge of the parts, and an unordered parallelMap inside them: the same multiset, none twice', async () => {
    const options: ResumeOptions = { count: 157, batchSize: 3, endOfEpoch: 'pad' };
    const expected = sortedItems(await mainThread(options));
    for (const [name, ordered] of [
      ['indexedBatches', false],
      ['unorderedBatches', true],
      ['unorderedBatches', false],
    ] as const) {
      const threeThreads = start(name, 3, options, ordered);
      const resumers = [start(name, 1, options, ordered), start(name, 2, options, ordered)];
      for (const k of [1, 23]) {
        const first = await until(toLoader(threeThreads), k);
        for (const [i, resumer] of resumers.entries()) {
          const rest = await iterate(toLoader(resumer, { state: first.state }));
          assert.deepEqual(
            sortedItems([...rows(first.received), ...rows(rest)]),
            expected,
            `${name} ordered=${ordered} k=${k}, ${i + 1} thread(s)`,
          );
        }
      }
    }
  });

  it('issue 13: a shuffleBuffer inside a thread makes state() throw RXFEED_ERR_STATE_UNTRACKED naming it', async () => {
    const options: ResumeOptions = { count: 60, batchSize: 4, endOfEpoch: 'drop' };
    const buffered = workerPipeline<typeof bufferedBatches>(pipelines, 'bufferedBatches', { threads: 2, seed: SEED, options });
    open.push(buffered);
    const loader = toLoader(buffered);
    let thrown: unknown;
    for await (const _ of loader) {
      try {
        loader.state();
      } catch (error) {
        thrown = error;
      }
      break;
    }
    assert.ok(thrown instanceof LoaderStateError, String(thrown));
    assert.equal(thrown.code, 'RXFEED_ERR_STATE_UNTRACKED');
    assert.match(thrown.part ?? '', /^workerPipeline#0@0\/w\d\/shuffleBuffer#0@0$/);
  });
});
