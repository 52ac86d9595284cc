// The properties the core promises for whole pipelines: bounded memory under a slow consumer,
// exactly-once distributed evaluation, determinism whatever the timing, and release on every
// kind of early end.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { filter, lastValueFrom, map, take, toArray, type Observable } from 'rxjs';
import { batch } from '../../operators/batch.js';
import { concatSources } from '../../operators/concatSources.js';
import { padToBatch } from '../../operators/padToBatch.js';
import { shuffleBuffer } from '../../operators/shuffleBuffer.js';
import { fromItems, parallelMap, shard, toLoader } from '../../src/index.js';
import { recordingSource } from '../../src/testing/index.js';

const range = (n: number) => Array.from({ length: n }, (_, i) => i);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const spin = (ms: number) => {
  const end = performance.now() + ms;
  while (performance.now() < end);
};

describe('pipelines', () => {
  describe('bounded memory', () => {
    // filter -> shuffleBuffer(64) -> parallelMap(4) -> batch(8) -> loader(prefetch 2):
    // bound = 2 batches x 8 (loader) + 4 (parallelMap) + 64 (shuffle buffer) + 7 (partial batch)
    //       + 1 (one pulled chunk of the source)
    const SHUFFLE = 64;
    const CONCURRENCY = 4;
    const BATCH = 8;
    const PREFETCH = 2;
    const BOUND = PREFETCH * BATCH + CONCURRENCY + SHUFFLE + (BATCH - 1) + 1;

    function instrumentedPipeline() {
      const { source, record } = recordingSource(range(3000));
      const counts = { dropped: 0, consumed: 0, maxHeld: 0 };
      const pipeline = source.pipe(
        filter((x) => {
          // Measured as each item arrives: the moment the most items are held.
          counts.maxHeld = Math.max(counts.maxHeld, record.pulled - counts.dropped - counts.consumed);
          const keep = x % 3 !== 0;
          if (!keep) counts.dropped++;
          return keep;
        }),
        shuffleBuffer(SHUFFLE, { seed: 1 }),
        parallelMap(async (x: number) => x, { concurrency: CONCURRENCY }),
        batch(BATCH),
      );
      return { pipeline, record, counts };
    }

    it('holds a fast source within the documented bound under a 100x slower for-await consumer', async () => {
      const { pipeline, record, counts } = instrumentedPipeline();
      for await (const rows of toLoader(pipeline, { prefetch: PREFETCH })) {
        await sleep(1); // about 100x the time the pipeline needs per batch
        counts.consumed += rows.length;
      }
      assert.equal(counts.consumed, 2000);
      assert.equal(record.closed, 1);
      assert.ok(counts.maxHeld <= BOUND, `held ${counts.maxHeld} items with a documented bound of ${BOUND}`);
      assert.ok(counts.maxHeld > SHUFFLE, 'the shuffle buffer filled');
    });

    it('holds the same bound, less the loader queue, with plain subscribe()', async () => {
      const { pipeline, record, counts } = instrumentedPipeline();
      await new Promise<void>((resolve, reject) =>
        pipeline.subscribe({
          next: (rows) => {
            spin(0.2);
            counts.consumed += rows.length;
          },
          error: reject,
          complete: resolve,
        }),
      );
      assert.equal(counts.consumed, 2000);
      assert.equal(record.closed, 1);
      const bound = BOUND - PREFETCH * BATCH;
      assert.ok(counts.maxHeld <= bound, `held ${counts.maxHeld} items with a documented bound of ${bound}`);
    });
  });

  describe('exactly-once distributed evaluation', () => {
    it('gives every rank the same batch count and counts every sample once (shard + padToBatch)', async () => {
      let cases = 0;
      for (const n of [0, 1, 2, 5, 7, 16, 17, 31, 64, 101]) {
        for (const worldSize of [1, 2, 3, 4, 8]) {
          for (const numWorkers of [1, 2, 3]) {
            for (const batchSize of [1, 3, 4, 16]) {
              cases++;
              const where = `N=${n} W=${worldSize} K=${numWorkers} B=${batchSize}`;
              const batchCounts: number[] = [];
              const seen: number[] = [];
              let maskSum = 0;
              for (let rank = 0; rank < worldSize; rank++) {
                // One rank's loader reads its workers' shares one after another.
                const workers = range(numWorkers).map((workerIndex) =>
                  fromItems(range(n)).pipe(shard({ rank, worldSize, workerIndex, numWorkers })),
                );
                const batches = await lastValueFrom(
                  concatSources(...workers).pipe(padToBatch(batchSize, { size: n, worldSize, fill: () => -1 }), toArray()),
                );
                batchCounts.push(batches.length);
                for (const { rows, mask, index } of batches) {
                  assert.equal(rows.length, batchSize, where);
                  for (let row = 0; row < batchSize; row++) {
                    maskSum += mask[row]!;
                    if (mask[row] === 1) {
                      assert.equal(index[row], rows[row], where);
                      seen.push(index[row]!);
                    } else {
                      assert.equal(index[row], -1, where);
                    }
                  }
                }
              }
              assert.ok(
                batchCounts.every((c) => c === batchCounts[0]),
                `${where}: batch counts ${batchCounts}`,
              );
              assert.equal(maskSum, n, where);
              assert.deepEqual(
                seen.sort((a, b) => a - b),
                range(n),
                where,
              );
            }
          }
        }
      }
      assert.equal(cases, 600);
    });

    it('takes the split recorded by shard when padToBatch follows it directly', async () => {
      const perRank = await Promise.all(
        range(3).map((rank) => lastValueFrom(fromItems(range(10)).pipe(shard({ rank, worldSize: 3 }), padToBatch(2), toArray()))),
      );
      assert.deepEqual(
        perRank.map((b) => b.length),
        [2, 2, 2],
      );
      // Contiguous ranges [0, 3), [3, 6), [6, 10): the last rank has one more sample.
      assert.deepEqual(
        perRank.map((b) => b.flatMap((x) => [...x.mask])),
        [
          [1, 1, 1, 0],
          [1, 1, 1, 0],
          [1, 1, 1, 1],
        ],
      );
    });
  });

  describe('determinism', () => {
    async function shuffledThroughJitter(seed: number, jitter: (x: number) => number): Promise<number[]> {
      return lastValueFrom(
        fromItems(range(500)).pipe(
          shuffleBuffer(100, { seed }),
          parallelMap(
            async (x: number) => {
              await sleep(jitter(x));
              return x;
            },
            { concurrency: 8 },
          ),
          toArray(),
        ),
      );
    }

    it('gives the same order for the same seed whatever each task takes (ordered mode)', async () => {
      const a = await shuffledThroughJitter(42, (x) => x % 3);
      const b = await shuffledThroughJitter(42, (x) => 2 - (x % 3));
      const c = await shuffledThroughJitter(43, () => 0);
      assert.deepEqual(a, b);
      assert.deepEqual(
        [...a].sort((x, y) => x - y),
        range(500),
      );
      assert.notDeepEqual(a, c);
    });
  });

  describe('cancellation', () => {
    type Item = { readonly id: number; dispose(): void };
    function disposableSource(count: number) {
      const disposed = new Set<number>();
      const items: Item[] = range(count).map((id) => ({
        id,
        dispose: () => {
          assert.ok(!disposed.has(id), `item ${id} disposed twice`);
          disposed.add(id);
        },
      }));
      const { source, record } = recordingSource(items, { chunkSize: 4 });
      return { source, record, disposed };
    }
    const stages = (source: Observable<Item>) =>
      source.pipe(
        shuffleBuffer(16, { seed: 3 }),
        parallelMap(async (item: Item) => item, { concurrency: 3 }),
        batch(5),
      );

    it('break releases the source before it returns and disposes every held item', async () => {
      const { source, record, disposed } = disposableSource(200);
      const delivered: number[] = [];
      for await (const rows of toLoader(stages(source), { prefetch: 2 })) {
        delivered.push(...rows.map((r) => r.id));
        if (delivered.length >= 10) break;
      }
      assert.equal(record.closed, 1);
      // Every item pulled was either delivered to the loop or disposed, exactly once.
      assert.equal(delivered.length + disposed.size, record.pulled);
      assert.ok(delivered.every((id) => !disposed.has(id)));
    });

    it('take(n) and unsubscribe release the source and dispose held items', async () => {
      const first = disposableSource(200);
      const taken = await lastValueFrom(stages(first.source).pipe(take(2), toArray()));
      assert.equal(first.record.closed, 1);
      assert.equal(taken.flat().length + first.disposed.size, first.record.pulled);

      const second = disposableSource(200);
      const subscription = stages(second.source).subscribe();
      await sleep(5);
      subscription.unsubscribe();
      assert.equal(second.record.closed, 1);
    });

    it('an error downstream releases the source before the loop sees it', async () => {
      const { source, record } = disposableSource(200);
      const failing = stages(source).pipe(
        map((rows) => {
          if (rows[0]!.id >= 0 && record.pulled > 30) throw new Error('collate failed');
          return rows;
        }),
      );
      await assert.rejects(async () => {
        for await (const rows of toLoader(failing)) void rows;
      }, /collate failed/);
      assert.equal(record.closed, 1);
    });
  });
});
