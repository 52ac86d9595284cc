import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { firstValueFrom, lastValueFrom, take, toArray, type Observable } from 'rxjs';
import { padToBatch } from '../../../operators/padToBatch.js';
import { batch } from '../../../operators/batch.js';
import { shard } from '../../../operators/shard.js';
import { InvalidArgumentError, RxfeedError } from '../../../src/errors.js';
import { sizeOf } from '../../../src/info.js';
import { toLoader } from '../../../src/loader.js';
import { blockShuffle, globalShuffle, indexList, orderOf, sequential } from '../../../src/sampler.js';
import { createTestScheduler } from '../../../src/testing/index.js';
import type { PaddedBatch } from '../../../src/tensor.js';
import { fromItems } from '../../../sources/core/fromItems.js';
import { fromRandomAccess } from '../../../sources/core/fromRandomAccess.js';
import { itemsDataset } from '../../../sources/core/itemsDataset.js';
import { mixDatasets } from '../../../sources/core/mixDatasets.js';
import { DatasetClosedError, type RandomAccess } from '../../../sources/core/randomAccess.js';
import { subsetDataset } from '../../../sources/core/subsetDataset.js';

const range = (n: number): number[] => Array.from({ length: n }, (_, i) => i);
const drain = <T>(source: Observable<T>): Promise<T[]> => lastValueFrom(source.pipe(toArray()), { defaultValue: [] });

/** A dataset of `size` elements `index * 10`, answering after a macrotask, recording every read. */
function asyncDataset(size: number): RandomAccess<{ value: number; disposed: boolean; [Symbol.dispose](): void }> & {
  reads: { indices: readonly number[]; signal: AbortSignal | undefined }[];
  inFlight: number;
  maxInFlight: number;
  disposed: number;
} {
  const dataset = {
    size,
    reads: [] as { indices: readonly number[]; signal: AbortSignal | undefined }[],
    inFlight: 0,
    maxInFlight: 0,
    disposed: 0,
    read: async (indices: readonly number[], signal?: AbortSignal) => {
      dataset.reads.push({ indices, signal });
      dataset.inFlight++;
      dataset.maxInFlight = Math.max(dataset.maxInFlight, dataset.inFlight);
      await new Promise((resolve) => setImmediate(resolve));
      dataset.inFlight--;
      return indices.map((index) => {
        const element = {
          value: index * 10,
          disposed: false,
          [Symbol.dispose]() {
            element.disposed = true;
            dataset.disposed++;
          },
        };
        return element;
      });
    },
    close: () => {},
  };
  return dataset;
}

describe('fromRandomAccess (issue 11)', () => {
  it('issue 11: the sequential sampler reads what fromItems reads, item for item', async () => {
    const items = range(300).map((i) => ({ id: i }));
    assert.deepEqual(await drain(fromRandomAccess(itemsDataset(items))), await drain(fromItems(items)));
    assert.deepEqual(await drain(fromRandomAccess(itemsDataset(items), { sampler: sequential(), readSize: 7, readsInFlight: 1 })), items);
  });

  it('issue 11: marble: a synchronous dataset emits its order at once, in virtual time', () => {
    createTestScheduler().run(({ expectObservable }) => {
      expectObservable(fromRandomAccess(itemsDataset(['a', 'b', 'c']), { sampler: indexList([2, 0, 1]) })).toBe('(cab|)');
    });
  });

  it('issue 11: each loader iteration reads the next epoch of the global shuffle; setting epoch replays one', async () => {
    const size = 500;
    const loader = toLoader(fromRandomAccess(asyncDataset(size), { sampler: globalShuffle({ seed: 7 }) }));
    const epochs: number[][] = [];
    for (let epoch = 0; epoch < 3; epoch++) {
      const seen: number[] = [];
      for await (const element of loader) seen.push(element.value / 10);
      epochs.push(seen);
      const order = orderOf(globalShuffle({ seed: 7 }), size, epoch);
      assert.deepEqual(
        seen,
        range(size).map((p) => order.at(p)),
      );
    }
    assert.notDeepEqual(epochs[0], epochs[1]);
    loader.epoch = 1;
    const replay: number[] = [];
    for await (const element of loader) replay.push(element.value / 10);
    assert.deepEqual(replay, epochs[1]);
  });

  it('issue 11: exact distributed evaluation: W ranks x batch sizes, pad + padToBatch count every index once with equal batch counts', async () => {
    for (const worldSize of [1, 2, 3, 4]) {
      for (const batchSize of [1, 3, 8]) {
        for (const size of [0, 1, 17, 100]) {
          const dataset = itemsDataset(range(size).map((i) => i * 10));
          const counts = new Array<number>(size).fill(0);
          const batchCounts = new Set<number>();
          for (let rank = 0; rank < worldSize; rank++) {
            const batches = await drain(
              fromRandomAccess(dataset, { sampler: globalShuffle({ seed: 3 }), worldSize, rank, batchSize, endOfEpoch: 'pad' }).pipe(
                padToBatch(batchSize, { fill: () => -1 }),
              ),
            );
            batchCounts.add(batches.length);
            for (const { rows, mask, index } of batches as PaddedBatch<number>[]) {
              assert.equal(rows.length, batchSize);
              rows.forEach((row, r) => {
                if (mask[r] === 0) return;
                assert.equal(row, index[r]! * 10, 'the index names the row');
                counts[index[r]!]!++;
              });
            }
          }
          const what = `W=${worldSize} B=${batchSize} N=${size}`;
          assert.equal(batchCounts.size, 1, `${what}: every rank the same number of batches`);
          assert.ok(
            counts.every((count) => count === 1),
            `${what}: every index exactly once`,
          );
        }
      }
    }
  });

  it("issue 11: 'drop' and 'wrap' give every rank the same number of full batches", async () => {
    const dataset = itemsDataset(range(23));
    for (const endOfEpoch of ['drop', 'wrap'] as const) {
      const perRank = await Promise.all(
        [0, 1, 2].map((rank) =>
          drain(
            fromRandomAccess(dataset, { sampler: globalShuffle({ seed: 1 }), worldSize: 3, rank, batchSize: 4, endOfEpoch }).pipe(batch(4)),
          ),
        ),
      );
      const expectedBatches = endOfEpoch === 'drop' ? 1 : 2;
      for (const batches of perRank) {
        assert.equal(batches.length, expectedBatches);
        assert.ok(batches.every((rows) => rows.length === 4));
      }
      const all = perRank.flat(2);
      if (endOfEpoch === 'drop') assert.equal(new Set(all).size, 12);
      else
        assert.deepEqual(
          [...new Set(all)].sort((a, b) => a - b),
          range(23),
        ); // 24 rows: one index twice
    }
  });

  it('issue 11: the size is known at pipe time, and a loader reports its length in batches', () => {
    const dataset = itemsDataset(range(10));
    assert.equal(sizeOf(fromRandomAccess(dataset, { worldSize: 2, rank: 1, batchSize: 2, endOfEpoch: 'pad' })), 4);
    assert.equal(sizeOf(fromRandomAccess(dataset, { worldSize: 2, rank: 1, batchSize: 2 })), 4);
    assert.equal(sizeOf(fromRandomAccess(dataset, { worldSize: 3, rank: 0, batchSize: 2, endOfEpoch: 'wrap' })), 4);
    assert.equal(toLoader(fromRandomAccess(dataset, { batchSize: 3, endOfEpoch: 'wrap' }).pipe(batch(3))).length, 4);
    assert.equal(toLoader(fromRandomAccess(dataset, { sampler: () => [1, 2] })).length, undefined);
  });

  it("issue 11: oneBatch gives the next iteration's first batch without advancing the epoch", async () => {
    const loader = toLoader(
      fromRandomAccess(itemsDataset(range(50)), { sampler: globalShuffle({ seed: 2 }), batchSize: 5 }).pipe(batch(5)),
    );
    const first = await loader.oneBatch();
    assert.deepEqual(await loader.oneBatch(), first);
    assert.equal(loader.epoch, 0);
    const seen: number[][] = [];
    for await (const rows of loader) seen.push(rows);
    assert.deepEqual(seen[0], first);
    const next = await loader.oneBatch(); // epoch 1's first batch
    for await (const rows of loader) {
      assert.deepEqual(rows, next);
      break;
    }
    await assert.rejects(
      toLoader(fromRandomAccess(itemsDataset([]))).oneBatch(),
      (error: unknown) => error instanceof RxfeedError && error.code === 'RXFEED_ERR_EMPTY_LOADER',
    );
  });

  it('issue 11: holds at most readsInFlight reads of readSize indices, even when the consumer is slow', async () => {
    const dataset = asyncDataset(1000);
    const loader = toLoader(fromRandomAccess(dataset, { sampler: globalShuffle({ seed: 1 }), readSize: 16, readsInFlight: 3 }), {
      prefetch: 1,
    });
    let received = 0;
    for await (const element of loader) {
      received++;
      // Never more than 3 reads ahead of the consumer, each of at most 16 indices.
      const asked = dataset.reads.reduce((sum, read) => sum + read.indices.length, 0);
      assert.ok(asked - received <= 3 * 16 + 1, `asked ${asked}, received ${received}`);
      if (received % 50 === 0) await new Promise((resolve) => setTimeout(resolve, 1));
      assert.ok(element.value >= 0);
    }
    assert.equal(received, 1000);
    assert.ok(dataset.maxInFlight <= 3);
    assert.ok(dataset.reads.every((read) => read.indices.length <= 16));
  });

  it('issue 11: a break aborts the reads in flight and disposes every element not emitted', async () => {
    const dataset = asyncDataset(1000);
    const emitted: { disposed: boolean }[] = [];
    for await (const element of toLoader(fromRandomAccess(dataset, { readSize: 10, readsInFlight: 4 }))) {
      emitted.push(element);
      if (emitted.length === 15) break;
    }
    await new Promise((resolve) => setTimeout(resolve, 5)); // the reads in flight settle
    const read = dataset.reads.reduce((sum, r) => sum + r.indices.length, 0);
    assert.ok(
      dataset.reads.every((r) => r.signal?.aborted === true),
      'every read was given the aborted signal',
    );
    // Every element read is either emitted (the loop's to dispose) or disposed by the source or the loader.
    assert.equal(dataset.disposed + emitted.filter((element) => !element.disposed).length, read);
    assert.ok(emitted.every((element) => !element.disposed));
  });

  it('issue 11: a failing read ends the stream with its error; a short answer fails typed', async () => {
    const failing: RandomAccess<number> = { size: 10, read: () => Promise.reject(new Error('disk')), close: () => {} };
    await assert.rejects(drain(fromRandomAccess(failing)), /disk/);
    const short: RandomAccess<number> = { size: 10, read: (indices) => indices.slice(1), close: () => {} };
    await assert.rejects(
      drain(fromRandomAccess(short)),
      (error: unknown) => error instanceof RxfeedError && error.code === 'RXFEED_ERR_RANDOM_ACCESS',
    );
  });

  it('issue 11: bad options and datasets fail typed, at pipe time where possible', async () => {
    const dataset = itemsDataset([1, 2, 3]);
    assert.throws(() => fromRandomAccess({} as RandomAccess<number>), InvalidArgumentError);
    assert.throws(() => fromRandomAccess({ size: -1, read: () => [], close: () => {} }), InvalidArgumentError);
    assert.throws(
      () => fromRandomAccess({ size: 3, read: () => [], close: () => {}, layout: { shardEnds: [1, 2] } }),
      InvalidArgumentError,
    );
    assert.throws(() => fromRandomAccess(dataset, { batchSize: 0 }), InvalidArgumentError);
    assert.throws(() => fromRandomAccess(dataset, { readSize: 1.5 }), InvalidArgumentError);
    assert.throws(() => fromRandomAccess(dataset, { rank: 2, worldSize: 2 }), InvalidArgumentError);
    await assert.rejects(drain(fromRandomAccess(dataset, { sampler: blockShuffle({ seed: 1 }) })), InvalidArgumentError);
    await assert.rejects(drain(fromRandomAccess(dataset, { endOfEpoch: 'nope' as 'drop' })), InvalidArgumentError);
  });

  it('issue 11: a closed dataset fails typed', async () => {
    const dataset = itemsDataset([1, 2, 3]);
    await dataset.close();
    await assert.rejects(drain(fromRandomAccess(dataset)), DatasetClosedError);
  });

  it('issue 11: subsetDataset reads the chosen indices or range, keeps the shards a range overlaps, and does not close its parent', async () => {
    const parent: RandomAccess<number> = {
      ...itemsDataset(range(20).map((i) => i * 2)),
      layout: { shardEnds: [5, 10, 20], shardNames: ['a', 'b', 'c'] },
    };
    const picked = subsetDataset(parent, [19, 0, 0, 7]);
    assert.deepEqual(await drain(fromRandomAccess(picked)), [38, 0, 0, 14]);
    const middle = subsetDataset(parent, { start: 7, end: 12 });
    assert.deepEqual(middle.layout, { shardEnds: [3, 5], shardNames: ['b', 'c'] });
    assert.deepEqual(
      await drain(fromRandomAccess(middle, { sampler: blockShuffle({ seed: 1, shardsPerBlock: 1 }) })).then((v) => v.sort((a, b) => a - b)),
      [14, 16, 18, 20, 22],
    );
    await middle.close();
    assert.throws(() => middle.read([0]), DatasetClosedError);
    assert.deepEqual(parent.read([1]), [2]);
    assert.throws(() => subsetDataset(parent, [20]), InvalidArgumentError);
    assert.throws(() => subsetDataset(parent, { start: 5, end: 21 }), InvalidArgumentError);
  });

  it('issue 11: mixDatasets: shares by weight summing to the size, distinct samples below a dataset size, even repeats above', async () => {
    const a = itemsDataset(range(100).map((i) => `a${i}`));
    const b = itemsDataset(range(10).map((i) => `b${i}`));
    // Default size: the largest with no repeat: b (weight 1/4) runs out at 40.
    const mixed = mixDatasets([a, b], { weights: [3, 1], seed: 5 });
    assert.equal(mixed.size, 40);
    assert.deepEqual(mixed.layout, { shardEnds: [30, 40] });
    const all = await drain(fromRandomAccess(mixed, { sampler: globalShuffle({ seed: 1 }) }));
    assert.equal(all.filter((s) => s.startsWith('a')).length, 30);
    assert.equal(new Set(all.filter((s) => s.startsWith('a'))).size, 30);
    assert.deepEqual(
      all.filter((s) => s.startsWith('b')).sort(),
      range(10)
        .map((i) => `b${i}`)
        .sort(),
    );
    // Oversampling: 25 of b's 10 elements each appear 2 or 3 times.
    const over = mixDatasets([a, b], { weights: [3, 1], size: 100, seed: 5 });
    const bs = (await drain(fromRandomAccess(over))).filter((s) => s.startsWith('b'));
    assert.equal(bs.length, 25);
    const counts = new Map<string, number>();
    for (const s of bs) counts.set(s, (counts.get(s) ?? 0) + 1);
    assert.equal(counts.size, 10);
    assert.ok([...counts.values()].every((count) => count === 2 || count === 3));
    assert.throws(() => mixDatasets([a, b], { weights: [1] }), InvalidArgumentError);
    assert.throws(() => mixDatasets([a, b], { weights: [1, 0] }), InvalidArgumentError);
  });

  it('issue 11: a take(n) downstream stops reading', async () => {
    const dataset = asyncDataset(10_000);
    assert.equal((await firstValueFrom(fromRandomAccess(dataset, { readSize: 8 }).pipe(take(3), toArray()))).length, 3);
    assert.ok(dataset.reads.length <= 4);
  });
});

describe('fromRandomAccess and shard (issue 11)', () => {
  it('issue 11: shard after a rank share of the global plan fails typed instead of splitting it again', async () => {
    const split = fromRandomAccess(itemsDataset(range(10)), { worldSize: 2, rank: 0 });
    await assert.rejects(drain(split.pipe(shard({ worldSize: 2, rank: 0 }))), InvalidArgumentError);
    // One rank in all: nothing was split, so shard may split it.
    assert.deepEqual(
      await drain(fromRandomAccess(itemsDataset(range(4)), { worldSize: 1 }).pipe(shard({ worldSize: 2, rank: 1 }))),
      [2, 3],
    );
  });
});
