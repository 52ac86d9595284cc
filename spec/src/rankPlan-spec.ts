import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { InvalidArgumentError } from '../../src/errors.js';
import { RankPlan, WorkerShare, type EndOfEpoch } from '../../src/rankPlan.js';

function positionsOf(plan: RankPlan): number[] {
  return Array.from({ length: plan.size }, (_, k) => plan.position(k));
}

describe('RankPlan: the global plan (issue 11)', () => {
  it('issue 11: W ranks x batch sizes x drop/pad/wrap: every rank the same steps, every position as specified', () => {
    for (const worldSize of [1, 2, 3, 4, 8]) {
      for (const batchSize of [1, 2, 3, 5, 16]) {
        for (const length of [0, 1, 2, 7, 31, 64, 100, 257]) {
          for (const endOfEpoch of ['drop', 'pad', 'wrap'] as EndOfEpoch[]) {
            const plans = Array.from({ length: worldSize }, (_, rank) => new RankPlan(length, { worldSize, rank, batchSize, endOfEpoch }));
            const group = worldSize * batchSize;
            const what = `W=${worldSize} B=${batchSize} N=${length} ${endOfEpoch}`;
            const steps = endOfEpoch === 'drop' ? Math.floor(length / group) : Math.ceil(length / group);
            const counts = new Array<number>(length).fill(0);
            for (const plan of plans) {
              assert.equal(plan.steps, steps, what);
              assert.equal(plan.maxRankSize, steps * batchSize, what);
              if (endOfEpoch !== 'pad') assert.equal(plan.size, steps * batchSize, what);
              const positions = positionsOf(plan);
              // Step s's slice of rank r: positions [s*G + r*B, s*G + (r+1)*B), in order.
              positions.forEach((position, k) => {
                const step = Math.floor(k / batchSize);
                const expected = step * group + plan.rank * batchSize + (k % batchSize);
                assert.equal(position, expected < length ? expected : expected % length, what);
                counts[position]!++;
              });
            }
            if (endOfEpoch === 'drop') {
              counts.forEach((count, position) => assert.equal(count, position < steps * group ? 1 : 0, `${what} p=${position}`));
            } else if (endOfEpoch === 'pad') {
              assert.ok(
                counts.every((count) => count === 1),
                what,
              );
            } else {
              // Wrap: every position once, and the first steps*G - N of them once more.
              const extra = steps * group - length;
              counts.forEach((count, position) =>
                assert.equal(
                  count,
                  1 + Math.floor((extra - position - 1) / length + 1 > 0 ? (extra - position - 1) / length + 1 : 0),
                  `${what} p=${position}`,
                ),
              );
            }
          }
        }
      }
    }
  });

  it('issue 11: pad leaves a rank with no real position in the last step short, and maxRankSize covers it', () => {
    const plan = new RankPlan(10, { worldSize: 2, rank: 1, batchSize: 2, endOfEpoch: 'pad' });
    assert.deepEqual(positionsOf(plan), [2, 3, 6, 7]);
    assert.equal(plan.maxRankSize, 6);
    assert.deepEqual(positionsOf(new RankPlan(10, { worldSize: 2, rank: 0, batchSize: 2, endOfEpoch: 'pad' })), [0, 1, 4, 5, 8, 9]);
    assert.deepEqual(positionsOf(new RankPlan(10, { worldSize: 2, rank: 1, batchSize: 2, endOfEpoch: 'wrap' })), [2, 3, 6, 7, 0, 1]);
  });

  it('issue 11: rejects a rank outside the world, and sizes out of range', () => {
    assert.throws(() => new RankPlan(10, { worldSize: 2, rank: 2, batchSize: 1, endOfEpoch: 'drop' }), InvalidArgumentError);
    assert.throws(() => new RankPlan(10, { worldSize: 0, rank: 0, batchSize: 1, endOfEpoch: 'drop' }), InvalidArgumentError);
    assert.throws(() => new RankPlan(10, { worldSize: 1, rank: 0, batchSize: 0, endOfEpoch: 'drop' }), InvalidArgumentError);
    assert.throws(() => new RankPlan(-1, { worldSize: 1, rank: 0, batchSize: 1, endOfEpoch: 'drop' }), InvalidArgumentError);
    assert.throws(() => new RankPlan(10, { worldSize: 1, rank: 0, batchSize: 1, endOfEpoch: 'nope' as EndOfEpoch }), InvalidArgumentError);
  });
});

describe('WorkerShare: a rank plan split among loading workers (issue 12)', () => {
  it("issue 12: one batch from each worker in turn is the rank's own plan, for any number of workers; each owes whole batches", () => {
    for (const worldSize of [1, 3]) {
      for (const batchSize of [1, 4]) {
        for (const length of [0, 1, 9, 50, 97]) {
          for (const endOfEpoch of ['drop', 'pad', 'wrap'] as EndOfEpoch[]) {
            const plan = new RankPlan(length, { worldSize, rank: worldSize - 1, batchSize, endOfEpoch });
            for (const numWorkers of [1, 2, 3, 5]) {
              const what = `W=${worldSize} B=${batchSize} N=${length} ${endOfEpoch} workers=${numWorkers}`;
              const shares = Array.from({ length: numWorkers }, (_, worker) => new WorkerShare(plan, worker, numWorkers));
              // Cut each share into batches, then take one batch from each worker in turn.
              const batchesOf = (share: WorkerShare): number[][] => {
                const positions = Array.from({ length: share.size }, (_, j) => share.position(j));
                return Array.from({ length: Math.ceil(positions.length / batchSize) }, (_, b) =>
                  positions.slice(b * batchSize, (b + 1) * batchSize),
                );
              };
              const merged: number[] = [];
              const perWorker = shares.map(batchesOf);
              for (let b = 0; perWorker.some((batches) => b < batches.length); b++) {
                for (const batches of perWorker) if (b < batches.length) merged.push(...batches[b]!);
              }
              assert.deepEqual(merged, positionsOf(plan), what);
              assert.equal(
                shares.reduce((sum, share) => sum + share.maxRankSize, 0),
                plan.maxRankSize,
                `${what}: the workers owe the rank's batches`,
              );
              for (const share of shares) assert.equal(share.maxRankSize % batchSize, 0, what);
            }
          }
        }
      }
    }
  });

  it('issue 12: rejects a worker outside the workers', () => {
    const plan = new RankPlan(10, { worldSize: 1, rank: 0, batchSize: 2, endOfEpoch: 'drop' });
    assert.throws(() => new WorkerShare(plan, 2, 2), InvalidArgumentError);
    assert.throws(() => new WorkerShare(plan, 0, 0), InvalidArgumentError);
  });
});
