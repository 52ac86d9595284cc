import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { InvalidArgumentError, RxfeedError } from '../../../src/errors.js';
import { checkLayout, readCoalesced, type IndexRun } from '../../../sources/core/randomAccess.js';

/** readCoalesced over elements `index * 10`, recording the runs read. */
async function coalesce(indices: readonly number[], options: Partial<Parameters<typeof readCoalesced>[2]> = {}) {
  const runs: { first: number; end: number; shard: number; indices: number[] }[] = [];
  const elements = await readCoalesced(
    indices,
    (run: IndexRun) => {
      runs.push({ first: run.first, end: run.end, shard: run.shard, indices: [...run.indices] });
      return Promise.resolve([...run.indices].map((index) => index * 10));
    },
    { size: 100, where: 'spec.read', ...options },
  );
  return { elements, runs };
}

describe('readCoalesced (issue 11: the one coalescer every source uses)', () => {
  it('issue 11: answers in the order asked, repeats included, reading each distinct index once in runs of neighbours', async () => {
    const { elements, runs } = await coalesce([7, 3, 4, 5, 7, 90, 6, 3]);
    assert.deepEqual(elements, [70, 30, 40, 50, 70, 900, 60, 30]);
    assert.deepEqual(
      runs.map(({ first, end }) => [first, end]),
      [
        [3, 8],
        [90, 91],
      ],
    );
  });

  it('issue 11: a run never crosses a shard boundary nor holds more than maxRun', async () => {
    const { runs } = await coalesce([8, 9, 10, 11, 12, 13, 14], { shardEnds: [10, 100], maxRun: 3 });
    assert.deepEqual(
      runs.map(({ first, end, shard }) => [first, end, shard]),
      [
        [8, 10, 0],
        [10, 13, 1],
        [13, 15, 1],
      ],
    );
  });

  it('issue 11: contiguous: false groups any maxRun distinct indices, ascending', async () => {
    const { elements, runs } = await coalesce([50, 2, 30, 2, 99, 7], { contiguous: false, maxRun: 2 });
    assert.deepEqual(elements, [500, 20, 300, 20, 990, 70]);
    assert.deepEqual(
      runs.map((run) => run.indices),
      [[2, 7], [30, 50], [99]],
    );
  });

  it('issue 11: checks indices first, and a failed run disposes what the others read', async () => {
    await assert.rejects(coalesce([1, 100]), InvalidArgumentError);
    await assert.rejects(coalesce([1, -1]), InvalidArgumentError);
    await assert.rejects(coalesce([0.5]), InvalidArgumentError);
    const disposed: number[] = [];
    const boom = new Error('disk');
    await assert.rejects(
      readCoalesced(
        [1, 50],
        (run) =>
          run.first === 50
            ? new Promise<never>((_, reject) => setTimeout(() => reject(boom), 5))
            : Promise.resolve([{ [Symbol.dispose]: () => disposed.push(run.first) }]),
        { size: 100, where: 'spec.read' },
      ),
      boom,
    );
    assert.deepEqual(disposed, [1]);
    await assert.rejects(
      readCoalesced([1, 2], () => Promise.resolve([1]), { size: 100, where: 'spec.read' }),
      (error: unknown) => error instanceof RxfeedError && error.code === 'RXFEED_ERR_RANDOM_ACCESS',
    );
  });

  it('issue 11: an aborted signal reaches every run', async () => {
    const abort = new AbortController();
    abort.abort(new Error('stop'));
    await assert.rejects(
      readCoalesced(
        [1],
        (_run, signal) => {
          signal.throwIfAborted();
          return Promise.resolve([1]);
        },
        { size: 10, where: 'spec.read', signal: abort.signal },
      ),
      /stop/,
    );
  });

  it('issue 11: a layout must ascend to the size', () => {
    checkLayout({ shardEnds: [3, 3, 10] }, 10, 'spec');
    assert.throws(() => checkLayout({ shardEnds: [3, 2, 10] }, 10, 'spec'), InvalidArgumentError);
    assert.throws(() => checkLayout({ shardEnds: [3, 9] }, 10, 'spec'), InvalidArgumentError);
  });
});
