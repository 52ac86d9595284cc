/**
 * Elastic resume (issue 13): ranks of one run stop at a checkpoint, every rank's state is
 * gathered, and a run on another number of ranks (each rank's loader here, in one process, with
 * `{ rank, worldSize }`) resumes from all of them.
 *
 * The rule, over the samples of the epoch the old ranks received before the checkpoint together
 * with those the new ranks receive after it:
 * - `'pad'`: every sample exactly once, whatever the new world size and batch size;
 * - `'drop'`: every sample at most once; exactly the uninterrupted run's samples (the same tail
 *   dropped) when the global batch is kept (`W' x B' == W x B`) and the old ranks stopped at the
 *   same step.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Observable } from 'rxjs';
import { batch } from '../../operators/batch.js';
import { padToBatch } from '../../operators/padToBatch.js';
import { parallelMap } from '../../operators/parallelMap.js';
import { toLoader, type Loader } from '../../src/loader.js';
import { LoaderStateError, type LoaderState } from '../../src/loaderState.js';
import { Random } from '../../src/random.js';
import { RankPlan } from '../../src/rankPlan.js';
import { globalShuffle, sequential, type SamplerSpec } from '../../src/sampler.js';
import type { PaddedBatch } from '../../src/tensor.js';
import { fromRandomAccess } from '../../sources/core/fromRandomAccess.js';
import { iterate, jitter, numbersDataset, randomShardEnds, sortedItems, until } from './resumeFixtures.js';

interface Run {
  readonly n: number;
  readonly shardEnds: readonly number[];
  readonly sampler: SamplerSpec;
  readonly endOfEpoch: 'drop' | 'pad';
  readonly unordered: boolean;
}

/** Rank `rank` of `worldSize` ranks reading batches of `batchSize`; a new pipeline on each call. */
function rankLoader(run: Run, worldSize: number, rank: number, batchSize: number, random: Random, state?: LoaderState[]): Loader<number[]> {
  let items: Observable<number> = fromRandomAccess(numbersDataset(run.n, run.shardEnds), {
    sampler: run.sampler,
    batchSize,
    endOfEpoch: run.endOfEpoch,
    rank,
    worldSize,
    readSize: 5,
  });
  if (run.unordered) {
    items = items.pipe(
      parallelMap(
        async (x: number) => {
          await jitter(random);
          return x;
        },
        { ordered: false, concurrency: 4 },
      ),
    );
  }
  return toLoader(items.pipe(batch(batchSize)), { state });
}

/** Every rank of a run, one epoch each: their samples together. */
async function wholeRun(run: Run, worldSize: number, batchSize: number, random: Random): Promise<number[]> {
  const all: number[][] = [];
  for (let rank = 0; rank < worldSize; rank++) all.push(...(await iterate(rankLoader(run, worldSize, rank, batchSize, random))));
  return sortedItems(all);
}

/**
 * Old ranks stop after `steps[rank]` batches each and save; new ranks resume from all the states.
 * @returns The samples received before and after, together; and the new ranks' next epoch.
 */
async function elastic(
  run: Run,
  old: { worldSize: number; batchSize: number; steps: readonly number[] },
  next: { worldSize: number; batchSize: number },
  random: Random,
): Promise<{ together: number[]; nextEpoch: number[] }> {
  const received: number[][] = [];
  const states: LoaderState[] = [];
  for (let rank = 0; rank < old.worldSize; rank++) {
    const { received: batches, state } = await until(rankLoader(run, old.worldSize, rank, old.batchSize, random), old.steps[rank]!);
    received.push(...batches);
    states.push(state);
  }
  const shuffled = [...states].reverse(); // in any order
  const nextEpoch: number[][] = [];
  for (let rank = 0; rank < next.worldSize; rank++) {
    const loader = rankLoader(run, next.worldSize, rank, next.batchSize, random, shuffled);
    const after = await iterate(loader);
    received.push(...after);
    nextEpoch.push(...(await iterate(loader)));
  }
  return { together: sortedItems(received), nextEpoch: sortedItems(nextEpoch) };
}

function randomRun(random: Random, endOfEpoch: 'drop' | 'pad', unordered: boolean): Run {
  const n = random.int(200);
  return {
    n,
    shardEnds: randomShardEnds(random, n),
    sampler: random.int(2) === 0 ? sequential() : globalShuffle({ seed: random.int(1000) }),
    endOfEpoch,
    unordered,
  };
}

const range = (n: number): number[] => Array.from({ length: n }, (_, i) => i);

/** Each sample at most once: no duplicate in a sorted list. */
function atMostOnce(sorted: readonly number[], n: number, what: string): void {
  sorted.forEach((x, i) => {
    assert.ok(x >= 0 && x < n, what);
    if (i > 0) assert.notEqual(x, sorted[i - 1], `${what}: ${x} twice`);
  });
}

/** (old W x B) -> (new W' x B'): the global batch kept, and not. */
const RESHAPES: readonly [[number, number], [number, number]][] = [
  [
    [4, 3],
    [2, 6],
  ],
  [
    [4, 3],
    [3, 4],
  ],
  [
    [4, 3],
    [1, 12],
  ],
  [
    [2, 6],
    [4, 3],
  ],
  [
    [4, 3],
    [3, 5],
  ],
  [
    [4, 2],
    [2, 3],
  ],
  [
    [2, 4],
    [4, 3],
  ],
];

describe('elastic resume: another world size and batch size (issue 13)', () => {
  for (const unordered of [false, true]) {
    const how = unordered ? 'with an unordered parallelMap' : 'in order';
    it(`issue 13: 'pad', ${how}: every sample exactly once across old and new ranks, ranks stopped at the same or different steps`, async () => {
      const random = new Random(unordered ? 21 : 20);
      for (let round = 0; round < 25; round++) {
        const run = randomRun(random, 'pad', unordered);
        for (const [[W, B], [W2, B2]] of RESHAPES) {
          const steps = Math.ceil(run.n / (W * B));
          const k = random.int(steps + 1);
          const spread = random.int(2) === 0;
          // With batch (no padToBatch), a rank with no real element in the last step has a batch fewer.
          const batches = (rank: number): number =>
            Math.ceil(new RankPlan(run.n, { worldSize: W, rank, batchSize: B, endOfEpoch: 'pad' }).size / B);
          const stopped = range(W).map((rank) => Math.min(batches(rank), k + (spread ? rank % 3 : 0)));
          const what = `round ${round} ${JSON.stringify(run)} ${W}x${B} stopped at ${stopped} -> ${W2}x${B2}`;
          const { together, nextEpoch } = await elastic(
            run,
            { worldSize: W, batchSize: B, steps: stopped },
            { worldSize: W2, batchSize: B2 },
            random,
          );
          assert.deepEqual(together, range(run.n), what);
          assert.deepEqual(nextEpoch, range(run.n), `${what}: the next epoch on the new ranks`);
        }
      }
    });

    it(`issue 13: 'drop', ${how}: exactly the uninterrupted run's samples with the global batch kept and one step; at most once otherwise`, async () => {
      const random = new Random(unordered ? 23 : 22);
      for (let round = 0; round < 25; round++) {
        const run = randomRun(random, 'drop', unordered);
        for (const [[W, B], [W2, B2]] of RESHAPES) {
          const steps = Math.floor(run.n / (W * B));
          const k = random.int(steps + 1);
          const spread = random.int(2) === 0 && steps > 0;
          const stopped = range(W).map((rank) => Math.min(steps, k + (spread ? rank % 3 : 0)));
          const what = `round ${round} ${JSON.stringify(run)} ${W}x${B} stopped at ${stopped} -> ${W2}x${B2}`;
          const { together } = await elastic(run, { worldSize: W, batchSize: B, steps: stopped }, { worldSize: W2, batchSize: B2 }, random);
          atMostOnce(together, run.n, what);
          if (W * B === W2 * B2 && stopped.every((s) => s === stopped[0])) {
            assert.deepEqual(together, await wholeRun(run, W, B, random), `${what}: the uninterrupted run's samples`);
          }
        }
      }
    });
  }

  it('issue 13: a padToBatch evaluation resumed on another world size: every new rank the same steps, each index once through the mask', async () => {
    const random = new Random(25);
    for (let round = 0; round < 40; round++) {
      const n = random.int(120);
      const dataset = numbersDataset(n, [n]);
      const [[W, B], [W2, B2]] = RESHAPES[random.int(RESHAPES.length)]!;
      const evaluation = (worldSize: number, rank: number, batchSize: number, state?: LoaderState[]): Loader<PaddedBatch<number>> =>
        toLoader(
          fromRandomAccess(dataset, { sampler: globalShuffle({ seed: 3 }), batchSize, endOfEpoch: 'pad', rank, worldSize }).pipe(
            padToBatch(batchSize, { fill: () => -1 }),
          ),
          { state },
        );
      const counts = new Array<number>(n).fill(0);
      const count = (batches: readonly PaddedBatch<number>[]): void => {
        for (const { rows, mask, index } of batches) {
          rows.forEach((row, i) => {
            if (mask[i] === 0) return;
            assert.equal(index[i], row);
            counts[row]!++;
          });
        }
      };
      const k = random.int(Math.ceil(n / (W * B)) + 1);
      const states: LoaderState[] = [];
      for (let rank = 0; rank < W; rank++) {
        const { received, state } = await until(evaluation(W, rank, B), k);
        count(received);
        states.push(state);
      }
      const steps: number[] = [];
      for (let rank = 0; rank < W2; rank++) {
        const after = await iterate(evaluation(W2, rank, B2, states));
        steps.push(after.length);
        count(after);
      }
      const what = `round ${round}: N=${n} ${W}x${B} at step ${k} -> ${W2}x${B2}`;
      assert.ok(
        steps.every((s) => s === steps[0]),
        `${what}: steps ${steps}`,
      );
      assert.deepEqual(counts, new Array<number>(n).fill(1), what);
    }
  });

  it('issue 13: one rank state alone on another world size is RXFEED_ERR_STATE_MISMATCH naming the part', async () => {
    const random = new Random(24);
    const run: Run = { n: 50, shardEnds: [50], sampler: globalShuffle({ seed: 9 }), endOfEpoch: 'pad', unordered: false };
    const { state } = await until(rankLoader(run, 4, 0, 3, random), 2);
    const { state: other } = await until(rankLoader(run, 4, 1, 3, random), 2);
    for (const given of [[state], [state, other]]) {
      await assert.rejects(iterate(rankLoader(run, 2, 0, 6, random, given)), (error: unknown) => {
        assert.ok(error instanceof LoaderStateError, String(error));
        assert.equal(error.code, 'RXFEED_ERR_STATE_MISMATCH');
        assert.equal(error.part, 'fromRandomAccess#0@0');
        assert.match(error.message, /give toLoader the states of all 4 ranks/);
        return true;
      });
    }
    // On the same world size and batch size, a rank's own state is enough.
    const [after] = [await iterate(rankLoader(run, 4, 0, 3, random, [state]))];
    const whole = await iterate(rankLoader(run, 4, 0, 3, random));
    assert.deepEqual(after, whole.slice(2));
  });
});
