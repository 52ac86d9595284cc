/**
 * The property of issue 13 for indexed pipelines: the batches a consumer received before a
 * checkpoint followed by those a new loader (a new pipeline object too) gives when resumed from
 * the checkpoint's JSON are the uninterrupted run's: the same sequence when the pipeline keeps
 * order, the same multiset when an unordered `parallelMap` reorders items. Many seeded random
 * cases over dataset size, world size (every rank), batch size, sampler, end of epoch, stages and
 * checkpoint step; a failing case is named by its number and parameters.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Observable } from 'rxjs';
import { batch } from '../../operators/batch.js';
import { epochs } from '../../operators/epochs.js';
import { padToBatch } from '../../operators/padToBatch.js';
import { parallelMap } from '../../operators/parallelMap.js';
import { prefetch } from '../../operators/prefetch.js';
import { toLoader, type Loader } from '../../src/loader.js';
import type { LoaderState } from '../../src/loaderState.js';
import { Random } from '../../src/random.js';
import type { EndOfEpoch } from '../../src/rankPlan.js';
import { blockShuffle, globalShuffle, sequential, type SamplerSpec } from '../../src/sampler.js';
import type { PaddedBatch } from '../../src/tensor.js';
import { fromRandomAccess } from '../../sources/core/fromRandomAccess.js';
import { iterate, jitter, numbersDataset, randomShardEnds, roundTrip, sortedItems, until } from './resumeFixtures.js';

/** One random case: a dataset of the numbers `[0, n)` (each item its own index) and a pipeline. */
interface Case {
  readonly id: number;
  readonly n: number;
  readonly shardEnds: readonly number[];
  readonly worldSize: number;
  readonly batchSize: number;
  readonly sampler: SamplerSpec;
  readonly endOfEpoch: EndOfEpoch;
  /** No `parallelMap`, an ordered one, or an unordered one whose completions reorder. */
  readonly map: 'none' | 'ordered' | 'unordered';
  readonly prefetch: boolean;
  readonly readSize: number;
}

function randomCase(id: number, random: Random): Case {
  const n = random.int(301);
  const samplers: SamplerSpec[] = [
    sequential(),
    globalShuffle({ seed: random.int(1000) }),
    blockShuffle({ seed: random.int(1000), shardsPerBlock: 1 + random.int(3) }),
  ];
  return {
    id,
    n,
    shardEnds: randomShardEnds(random, n),
    worldSize: 1 + random.int(4),
    batchSize: 1 + random.int(8),
    sampler: samplers[random.int(3)]!,
    endOfEpoch: (['drop', 'pad', 'wrap'] as const)[random.int(3)]!,
    map: (['none', 'ordered', 'unordered'] as const)[random.int(3)]!,
    prefetch: random.int(2) === 0,
    readSize: 1 + random.int(9),
  };
}

/** The case's items, on `rank`, before batching. A new pipeline object on every call. */
function items(c: Case, rank: number, random: Random): Observable<number> {
  let source = fromRandomAccess(numbersDataset(c.n, c.shardEnds), {
    sampler: c.sampler,
    batchSize: c.batchSize,
    endOfEpoch: c.endOfEpoch,
    rank,
    worldSize: c.worldSize,
    readSize: c.readSize,
  });
  if (c.map !== 'none') {
    source = source.pipe(
      parallelMap(
        async (x: number) => {
          await jitter(random);
          return x;
        },
        { ordered: c.map === 'ordered', concurrency: 4 },
      ),
    );
  }
  return c.prefetch ? source.pipe(prefetch(3)) : source;
}

function same(c: Case, got: readonly number[][], expected: readonly number[][], what: string): void {
  const where = `case ${c.id} ${JSON.stringify(c)}: ${what}`;
  if (c.map === 'unordered') assert.deepEqual(sortedItems(got), sortedItems(expected), where);
  else assert.deepEqual(got, expected, where);
}

describe('indexed checkpoint and resume, property (issue 13)', () => {
  it('issue 13: before + after a resume from JSON == the uninterrupted run, for every rank, at k = 0, k = all, any k, after completion, and resumed twice', async () => {
    const random = new Random(1313);
    for (let id = 0; id < 70; id++) {
      const c = randomCase(id, random);
      for (let rank = 0; rank < c.worldSize; rank++) {
        const make = (state?: LoaderState): Loader<number[]> => toLoader(items(c, rank, random).pipe(batch(c.batchSize)), { state });
        const reference = make();
        const epoch0 = await iterate(reference);
        const epoch1 = await iterate(reference);
        const total = epoch0.length;
        for (const k of [0, total, random.int(total + 1)]) {
          const first = await until(make(), k);
          assert.equal(first.state.epoch, 0, `case ${id}`);
          const resumed = make(first.state);
          same(c, [...first.received, ...(await iterate(resumed))], epoch0, `rank ${rank} resumed at ${k}`);
          // The resumed loader's next iteration is a plain epoch 1.
          same(c, await iterate(resumed), epoch1, `rank ${rank} resumed at ${k}, then epoch 1`);
        }
        // Resumed twice: a checkpoint inside the resumed run, and a resume from it.
        const k1 = random.int(total + 1);
        const k2 = random.int(total - k1 + 1);
        const first = await until(make(), k1);
        const second = await until(make(first.state), k2);
        const rest = await iterate(make(second.state));
        same(c, [...first.received, ...second.received, ...rest], epoch0, `rank ${rank} resumed at ${k1}, then ${k2} more`);
        // A checkpoint after the iteration completed is the start of the next epoch.
        const done = make();
        await iterate(done);
        const after = roundTrip(done.state());
        assert.deepEqual(after, { format: 'rxfeed.loader-state', version: 1, epoch: 1, parts: {} }, `case ${id}`);
        same(c, await iterate(make(after)), epoch1, `rank ${rank} resumed after completion`);
      }
    }
  });

  it('issue 13: a resumed padToBatch evaluation counts every index exactly once through the mask, across all ranks', async () => {
    const random = new Random(1314);
    for (let id = 0; id < 70; id++) {
      const c: Case = { ...randomCase(id, random), endOfEpoch: 'pad' };
      if (c.map === 'unordered') continue; // a row's index comes from its position in the rank's order
      const counts = new Array<number>(c.n).fill(0);
      let steps: number | undefined;
      for (let rank = 0; rank < c.worldSize; rank++) {
        const make = (state?: LoaderState): Loader<PaddedBatch<number>> =>
          toLoader(items(c, rank, random).pipe(padToBatch(c.batchSize, { fill: () => -1 })), { state });
        const whole = await iterate(make());
        steps ??= whole.length;
        assert.equal(whole.length, steps, `case ${id}: every rank runs the same steps`);
        const k = random.int(whole.length + 1);
        const first = await until(make(), k);
        const rest = await iterate(make(first.state));
        const batches = [...first.received, ...rest];
        assert.equal(batches.length, steps, `case ${id} ${JSON.stringify(c)} rank ${rank} resumed at ${k}: the same steps`);
        for (const { rows, mask, index } of batches) {
          assert.equal(rows.length, c.batchSize);
          rows.forEach((row, i) => {
            if (mask[i] === 0) return assert.equal(index[i], -1, `case ${id}`);
            assert.equal(index[i], row, `case ${id} rank ${rank}: the row's index`);
            counts[row]!++;
          });
        }
      }
      assert.deepEqual(counts, new Array<number>(c.n).fill(1), `case ${id} ${JSON.stringify(c)}`);
    }
  });

  it('issue 13: oneBatch on a resumed loader is its first batch after the checkpoint, and neither the state nor the iteration moves', async () => {
    const random = new Random(1316);
    for (let id = 0; id < 20; id++) {
      const c: Case = { ...randomCase(id, random), map: 'none' };
      const make = (state?: LoaderState): Loader<number[]> => toLoader(items(c, 0, random).pipe(batch(c.batchSize)), { state });
      const whole = await iterate(make());
      if (whole.length === 0) continue;
      const k = random.int(whole.length);
      const first = await until(make(), k);
      const resumed = make(first.state);
      assert.deepEqual(await resumed.oneBatch(), whole[k], `case ${id} ${JSON.stringify(c)} at ${k}`);
      assert.deepEqual(roundTrip(resumed.state()), first.state);
      assert.deepEqual([...first.received, ...(await iterate(resumed))], whole, `case ${id} at ${k}`);
    }
  });

  it('issue 13: epochs(n) inside a loader resumes at the inner epoch it was in, where it was', async () => {
    const random = new Random(1315);
    for (let id = 0; id < 40; id++) {
      const c = randomCase(id, random);
      const count = 1 + random.int(3);
      const rank = random.int(c.worldSize);
      const make = (state?: LoaderState): Loader<number[]> =>
        toLoader(items(c, rank, random).pipe(batch(c.batchSize), epochs(count)), { state });
      const reference = make();
      const whole = await iterate(reference);
      const next = await iterate(reference); // the loader's second iteration: epochs count..2*count-1
      for (const k of [0, whole.length, random.int(whole.length + 1)]) {
        const first = await until(make(), k);
        const resumed = make(first.state);
        same(c, [...first.received, ...(await iterate(resumed))], whole, `epochs(${count}) resumed at ${k}`);
        same(c, await iterate(resumed), next, `epochs(${count}) resumed at ${k}, then the next iteration`);
      }
    }
  });
});
