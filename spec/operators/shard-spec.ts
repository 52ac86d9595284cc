import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { lastValueFrom, of, toArray, type Observable } from 'rxjs';
import { TestScheduler } from 'rxjs/testing';
import { shard } from '../../operators/shard.js';
import { fromItems, infoOf, InvalidArgumentError, sizeOf, TooFewShardsError, withInfo } from '../../src/index.js';

const testScheduler = () => new TestScheduler((actual, expected) => assert.deepEqual(actual, expected));
const range = (n: number) => Array.from({ length: n }, (_, i) => i);
const collect = <T>(source: Observable<T>) => lastValueFrom(source.pipe(toArray()));

describe('shard', () => {
  it('takes every W-th element when the size is unknown', () => {
    testScheduler().run(({ cold, expectObservable, expectSubscriptions }) => {
      const source = cold('-a-b-c-d-e-|');
      expectObservable(source.pipe(shard({ rank: 1, worldSize: 2 }))).toBe('---b---d---|');
      expectSubscriptions(source.subscriptions).toBe('^----------!');
    });
  });

  it('splits a rank by worker inside the rank share (nested split)', () => {
    testScheduler().run(({ cold, expectObservable }) => {
      const source = cold('abcdefgh|');
      // rank 0 of 2 gets a c e g; worker 1 of 2 takes the 2nd and 4th of those.
      expectObservable(source.pipe(shard({ rank: 0, worldSize: 2, workerIndex: 1, numWorkers: 2 }))).toBe('--c---g-|');
    });
  });

  it('gives contiguous even ranges when the size is known, and stops reading at the range end', async () => {
    const pulled: number[] = [];
    const source = fromItems(
      function* () {
        for (let i = 0; i < 10; i++) yield (pulled.push(i), i);
      },
      { size: 10, chunkSize: 1 },
    );
    const part = source.pipe(shard({ rank: 1, worldSize: 3 }));
    assert.equal(sizeOf(part), 3);
    assert.deepEqual(await collect(part), [3, 4, 5]);
    assert.deepEqual(infoOf(part).split, { globalSize: 10, worldSize: 3, rank: 1, maxRankSize: 4, firstIndex: 3, stride: 1 });
    assert.deepEqual(pulled, [0, 1, 2, 3, 4, 5]);
  });

  it('reads only its range through selectRange when the source offers one', async () => {
    const asked: [number, number][] = [];
    const source = withInfo(of('unused'), {
      size: 100,
      selectRange: (start: number, end: number) => {
        asked.push([start, end]);
        return fromItems(range(end - start).map((i) => `item ${start + i}`));
      },
    });
    const part = source.pipe(shard({ rank: 2, worldSize: 4, workerIndex: 1, numWorkers: 2 }));
    assert.equal(sizeOf(part), 13);
    // A worker's part is not a rank's stream: no split for padToBatch to misread.
    assert.equal(infoOf(part).split, undefined);
    // The range is opened when the pipeline is subscribed, with the placement resolved then.
    assert.deepEqual(asked, []);
    assert.equal((await collect(part))[0], 'item 62');
    assert.deepEqual(asked, [[62, 75]]);
  });

  it('covers every element exactly once over ranks x workers, with imbalance of at most one', async () => {
    for (let n = 0; n <= 23; n++) {
      for (let worldSize = 1; worldSize <= 4; worldSize++) {
        for (let numWorkers = 1; numWorkers <= 3; numWorkers++) {
          const contiguous: number[] = [];
          const strided: number[] = [];
          const rankTotals: number[] = [];
          for (let rank = 0; rank < worldSize; rank++) {
            let rankTotal = 0;
            for (let workerIndex = 0; workerIndex < numWorkers; workerIndex++) {
              const placement = { rank, worldSize, workerIndex, numWorkers };
              const part = await collect(fromItems(range(n)).pipe(shard(placement)));
              rankTotal += part.length;
              contiguous.push(...part);
              strided.push(...(await collect(fromItems(() => range(n)).pipe(shard(placement)))));
            }
            rankTotals.push(rankTotal);
          }
          const where = `n=${n} W=${worldSize} K=${numWorkers}`;
          assert.deepEqual(contiguous, range(n), where);
          assert.deepEqual(
            [...strided].sort((a, b) => a - b),
            range(n),
            where,
          );
          assert.ok(Math.max(...rankTotals) - Math.min(...rankTotals) <= 1, where);
          assert.equal(Math.max(...rankTotals), Math.ceil(n / worldSize), where);
        }
      }
    }
  });

  it('gives whole files in file mode, rank first then worker', () => {
    const selections: number[][] = [];
    const files = range(10).map((i) => `shard-${i}.tar`);
    const source = withInfo(of(0), {
      files,
      selectFiles: (indices: readonly number[]) => {
        selections.push([...indices]);
        return of(1);
      },
    });
    source.pipe(shard({ mode: 'file', rank: 1, worldSize: 2, workerIndex: 0, numWorkers: 2 }));
    source.pipe(shard({ mode: 'file', rank: 1, worldSize: 2, workerIndex: 1, numWorkers: 2 }));
    assert.deepEqual(selections, [
      [1, 5, 9],
      [3, 7],
    ]);
  });

  it('fails when applied, not later, with fewer files than rank x worker slots', () => {
    const source = withInfo(of(0), { files: ['a.tar', 'b.tar', 'c.tar'], selectFiles: () => of(0) });
    assert.throws(
      () => source.pipe(shard({ mode: 'file', rank: 0, worldSize: 2, numWorkers: 2 })),
      (error) => {
        assert.ok(error instanceof TooFewShardsError);
        assert.equal(error.code, 'RXFEED_ERR_TOO_FEW_SHARDS');
        assert.match(error.message, /3 file\(s\) cannot be split over 4/);
        return true;
      },
    );
  });

  it('rejects file mode on a source that does not list files', () => {
    assert.throws(() => fromItems([1]).pipe(shard({ mode: 'file' })), InvalidArgumentError);
  });

  it('reads rank and world size from RANK and WORLD_SIZE, as torchrun sets them', async () => {
    const saved = { RANK: process.env.RANK, WORLD_SIZE: process.env.WORLD_SIZE };
    process.env.RANK = '2';
    process.env.WORLD_SIZE = '3';
    try {
      assert.deepEqual(await collect(fromItems(range(9)).pipe(shard())), [6, 7, 8]);
      // Resolved when the pipeline is subscribed (once per loader), and the error names each origin.
      process.env.RANK = '3';
      await assert.rejects(
        collect(fromItems(range(9)).pipe(shard())),
        /shard\.rank: 3 \(from RANK\) is not below worldSize 3 \(from WORLD_SIZE\)/,
      );
    } finally {
      for (const [key, value] of Object.entries(saved)) {
        if (value === undefined) delete process.env[key];
        else process.env[key] = value;
      }
    }
  });
});
