import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { filter, lastValueFrom, map, tap, toArray, type Observable } from 'rxjs';
import { fromItems, padToBatch, shard, toLoader, type fromPuller, type Loader } from '../../src/index.js';
import { installSecondCopy, type Library } from './secondCopy.js';

describe('the subscription context across two installed copies of rxfeed (issue 10)', () => {
  let mine: Library;
  let theirs: Library;
  let copyDir: string;

  before(async () => {
    ({ mine, theirs, copyDir } = await installSecondCopy());
    assert.notEqual(mine.toLoader, theirs.toLoader, 'two distinct copies were loaded');
  });

  after(() => {
    rmSync(copyDir, { recursive: true, force: true });
  });

  it("a loader of one copy hands its epoch and Flow to the other copy's sources", async () => {
    const opened: number[] = [];
    const theirFromPuller = theirs.fromPuller as typeof fromPuller;
    const source = theirFromPuller<number>(({ epoch }) => {
      opened.push(epoch);
      let next = 0;
      return { pull: async () => (next < 50 ? [next++] : null) };
    });
    let inFlight = 0;
    let mostInFlight = 0;
    const loader = (mine.toLoader as typeof toLoader)(source.pipe(tap(() => (mostInFlight = Math.max(mostInFlight, ++inFlight)))), {
      prefetch: 2,
    }) as Loader<number>;
    for (let pass = 0; pass < 2; pass++) {
      for await (const _ of loader) {
        inFlight--;
        await new Promise((resolve) => setImmediate(resolve));
      }
    }
    assert.deepEqual(opened, [0, 1], "the other copy's source saw each iteration's epoch");
    // The loader's stage (capacity 2) gauged the other copy's source: it ran at most a chunk ahead.
    assert.ok(mostInFlight <= 3, `at most prefetch + one item ahead, saw ${mostInFlight}`);
  });
});

describe('stream info through plain RxJS operators (issue 10.5)', () => {
  const rows = (n: number) => Array.from({ length: n }, (_, i) => ({ id: `row ${i}` }));

  it('shard, then map and tap, then padToBatch: the split arrives, no UnknownSizeError', async () => {
    const ranks = await Promise.all(
      [0, 1, 2].map((rank) =>
        lastValueFrom(
          fromItems(rows(10)).pipe(
            shard({ rank, worldSize: 3 }),
            map((row) => ({ ...row, seen: true })),
            tap(() => undefined),
            padToBatch(2),
            toArray(),
          ),
        ),
      ),
    );
    // Every rank emits ceil(ceil(10 / 3) / 2) = 2 batches; indices 0..9 appear exactly once.
    assert.deepEqual(
      ranks.map((batches) => batches.length),
      [2, 2, 2],
    );
    const indices = ranks.flatMap((batches) => batches.flatMap((batch) => [...batch.index].filter((i) => i >= 0)));
    assert.deepEqual(
      indices.sort((a, b) => a - b),
      [0, 1, 2, 3, 4, 5, 6, 7, 8, 9],
    );
  });

  it('a filter between keeps the batch count but is documented to shift indices', async () => {
    const batches = await lastValueFrom(
      fromItems(rows(8)).pipe(
        shard({ rank: 0, worldSize: 2 }),
        filter((row) => row.id !== 'row 1'),
        padToBatch(2),
        toArray(),
      ),
    );
    // Rank 0 owes ceil(4 / 2) = 2 batches whatever the filter dropped; 3 real rows, one pad.
    assert.equal(batches.length, 2);
    assert.deepEqual(
      batches.flatMap((batch) => [...batch.mask]),
      [1, 1, 1, 0],
    );
  });

  it('a source of unknown size after a map: padToBatch fails typed when subscribed', async () => {
    const unsized: Observable<number> = fromItems(() => [1, 2, 3]).pipe(map((x) => x));
    await assert.rejects(lastValueFrom(unsized.pipe(padToBatch(2, { worldSize: 2 }))), { code: 'RXFEED_ERR_UNKNOWN_SIZE' });
  });
});

describe('placement resolved once per loader subscription (issue 10)', () => {
  it('names the origin of each value in its errors', async () => {
    const saved = { RANK: process.env.RANK, WORLD_SIZE: process.env.WORLD_SIZE };
    try {
      process.env.WORLD_SIZE = '2';
      await assert.rejects(
        lastValueFrom(fromItems([1, 2, 3]).pipe(shard({ rank: 3 }))),
        /shard\.rank: 3 \(from shard\.rank\) is not below worldSize 2 \(from WORLD_SIZE\)/,
      );
      process.env.RANK = 'x';
      await assert.rejects(lastValueFrom(fromItems([1]).pipe(shard())), { code: 'RXFEED_ERR_INVALID_ARG', argument: 'env RANK' });
    } finally {
      for (const [key, value] of Object.entries(saved)) {
        if (value === undefined) delete process.env[key];
        else process.env[key] = value;
      }
    }
  });

  it('reads RANK once per subscription: every operator of a loader sees the same placement', async () => {
    const saved = process.env.RANK;
    const savedWorld = process.env.WORLD_SIZE;
    try {
      process.env.RANK = '1';
      process.env.WORLD_SIZE = '2';
      const loader = toLoader(
        fromItems(rows()).pipe(
          shard(),
          // Changing the environment mid-subscription cannot split the pipeline's view of it.
          tap(() => {
            process.env.RANK = '0';
          }),
          padToBatch(2),
        ),
      );
      const batches = await lastValueFrom(loader.pipe(toArray()));
      assert.deepEqual(
        batches.flatMap((batch) => [...batch.index]),
        [2, 3],
      );
    } finally {
      if (saved === undefined) delete process.env.RANK;
      else process.env.RANK = saved;
      if (savedWorld === undefined) delete process.env.WORLD_SIZE;
      else process.env.WORLD_SIZE = savedWorld;
    }
    function rows() {
      return [{ id: 'a' }, { id: 'b' }, { id: 'c' }, { id: 'd' }];
    }
  });
});
