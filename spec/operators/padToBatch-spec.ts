import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setImmediate as setImmediateP } from 'node:timers/promises';
import { filter, from, lastValueFrom, map, Observable, of, tap, toArray } from 'rxjs';
import { TestScheduler } from 'rxjs/testing';
import { collate } from '../../operators/collate.js';
import { NoPadTemplateError, padToBatch, SizeMismatchError } from '../../operators/padToBatch.js';
import { parallelMap } from '../../operators/parallelMap.js';
import { prefetch } from '../../operators/prefetch.js';
import { toLoader, type Loader } from '../../src/loader.js';
import { LoaderStateError, type LoaderState } from '../../src/loaderState.js';
import { Random } from '../../src/random.js';
import type { PaddedBatch } from '../../src/tensor.js';
import {
  bindContext,
  Flow,
  fromItems,
  InvalidArgumentError,
  RxfeedError,
  shard,
  sizeOf,
  UnknownSizeError,
  withInfo,
  type SplitInfo,
} from '../../src/index.js';

const testScheduler = () => new TestScheduler((actual, expected) => assert.deepEqual(actual, expected));

const split = (globalSize: number, worldSize: number, rank: number, layout: 'contiguous' | 'strided' = 'contiguous'): SplitInfo => ({
  globalSize,
  worldSize,
  rank,
  maxRankSize: Math.ceil(globalSize / worldSize),
  firstIndex: layout === 'strided' ? rank : Math.floor((rank * globalSize) / worldSize),
  stride: layout === 'strided' ? worldSize : 1,
});

const padded = <T>(rows: T[], mask: number[], index: number[]): PaddedBatch<T> => ({
  rows,
  mask: Uint8Array.from(mask),
  index: Float64Array.from(index),
});

/** Subscribe synchronously and collect everything (the sources here are synchronous). */
function collectSync<T>(source: Observable<T>): { values: T[]; error?: unknown; completed: boolean } {
  const values: T[] = [];
  const result: { values: T[]; error?: unknown; completed: boolean } = { values, completed: false };
  source.subscribe({
    next: (value) => values.push(value),
    error: (error: unknown) => (result.error = error),
    complete: () => (result.completed = true),
  });
  return result;
}

describe('padToBatch', () => {
  it('emits full real batches as they fill, then pads the last one (mask 0, index -1)', () => {
    testScheduler().run(({ cold, expectObservable, expectSubscriptions }) => {
      // 10 samples over 2 ranks: at most 5 per rank, so every rank emits 3 batches of 2.
      const source = withInfo(cold('-a-b-c-d-e-|', { a: 5, b: 6, c: 7, d: 8, e: 9 }), { split: split(10, 2, 1) });
      const expected = '            ---x---y---(z|)';
      const subscriptions = '       ^----------!';
      expectObservable(source.pipe(padToBatch(2))).toBe(expected, {
        x: padded([5, 6], [1, 1], [5, 6]),
        y: padded([7, 8], [1, 1], [7, 8]),
        z: padded([9, 9], [1, 0], [9, -1]),
      });
      expectSubscriptions(source.subscriptions).toBe(subscriptions);
    });
  });

  it('emits the all-pad batches a short rank still owes, repeating its first row', () => {
    testScheduler().run(({ cold, expectObservable }) => {
      // maxRankSize 5 with batch 2: every rank emits 3 batches; this rank got only 2 samples.
      const source = withInfo(cold('ab|', { a: 7, b: 8 }), {
        split: { globalSize: 9, worldSize: 2, rank: 1, maxRankSize: 5, firstIndex: 4, stride: 1 },
      });
      // Global indices come from the split (rank 1 holds 4..8), not from the rows' values.
      expectObservable(source.pipe(padToBatch(2))).toBe('-x(yz|)', {
        x: padded([7, 8], [1, 1], [4, 5]),
        y: padded([7, 7], [0, 0], [-1, -1]),
        z: padded([7, 7], [0, 0], [-1, -1]),
      });
    });
  });

  it('takes the global size and world size as options when the input has no split', () => {
    testScheduler().run(({ cold, expectObservable }) => {
      // 10 samples over 4 ranks: at most ceil(10 / 4) = 3 per rank, so 2 batches of 2.
      const source = cold('ab|', { a: 2, b: 6 });
      expectObservable(source.pipe(padToBatch(2, { size: 10, worldSize: 4 }))).toBe('-x(y|)', {
        x: padded([2, 6], [1, 1], [2, 6]),
        y: padded([2, 2], [0, 0], [-1, -1]),
      });
    });
  });

  it('defaults the world size to WORLD_SIZE, as torchrun sets it', () => {
    const saved = process.env['WORLD_SIZE'];
    process.env['WORLD_SIZE'] = '3';
    try {
      const batches = of(0, 3).pipe(padToBatch(1, { size: 7 })); // ceil(7 / 3) = 3 batches of 1
      assert.equal(sizeOf(batches), 3);
    } finally {
      if (saved === undefined) delete process.env['WORLD_SIZE'];
      else process.env['WORLD_SIZE'] = saved;
    }
  });

  it("uses the input's own size on a single rank", async () => {
    const saved = process.env['WORLD_SIZE'];
    delete process.env['WORLD_SIZE'];
    try {
      const batches = fromItems([1, 2, 3]).pipe(padToBatch(2));
      assert.equal(sizeOf(batches), 2);
      assert.deepEqual(await lastValueFrom(batches.pipe(toArray())), [padded([1, 2], [1, 1], [1, 2]), padded([3, 3], [1, 0], [3, -1])]);
    } finally {
      if (saved !== undefined) process.env['WORLD_SIZE'] = saved;
    }
  });

  it('fails with UnknownSizeError when subscribed to an input of unknown size with no size option', async () => {
    const saved = process.env['WORLD_SIZE'];
    process.env['WORLD_SIZE'] = '2';
    try {
      // Known only at subscribe time: a plain operator may sit between a sized source and padToBatch.
      await assert.rejects(lastValueFrom(of(1, 2).pipe(padToBatch(2))), UnknownSizeError);
      await assert.rejects(lastValueFrom(withInfo(of(1, 2), { size: 2 }).pipe(padToBatch(2))), (error: unknown) => {
        assert.ok(error instanceof RxfeedError);
        assert.equal(error.code, 'RXFEED_ERR_UNKNOWN_SIZE');
        assert.match(error.message, /padToBatch/);
        return true;
      });
    } finally {
      if (saved === undefined) delete process.env['WORLD_SIZE'];
      else process.env['WORLD_SIZE'] = saved;
    }
  });

  it('fails with SizeMismatchError at the first sample too many, before a wrong batch is emitted', () => {
    testScheduler().run(({ cold, expectObservable, expectSubscriptions }) => {
      // The split says at most 3 per rank; this rank receives a fourth.
      const source = withInfo(cold('abcd-|', { a: 0, b: 1, c: 2, d: 3 }), { split: split(6, 2, 0) });
      const error = new SizeMismatchError('padToBatch', 4, 3, 'split by shard: 6 samples over 2 rank(s)');
      expectObservable(source.pipe(padToBatch(2))).toBe('-x-#', { x: padded([0, 1], [1, 1], [0, 1]) }, error);
      expectSubscriptions(source.subscriptions).toBe('^--!');
    });
    const { error } = collectSync(of(0, 1, 2, 3).pipe(padToBatch(4, { size: 5, worldSize: 2 })));
    assert.ok(error instanceof SizeMismatchError);
    assert.equal(error.code, 'RXFEED_ERR_SIZE_MISMATCH');
    assert.equal(error.received, 4);
    assert.equal(error.expected, 3);
    assert.match(error.message, /received 4 samples, more than the 3/);
  });

  it('refuses size or worldSize options that contradict the split recorded by shard', () => {
    const source = withInfo(of(1), { split: split(10, 2, 0) });
    assert.throws(() => source.pipe(padToBatch(2, { size: 11 })), InvalidArgumentError);
    assert.throws(() => source.pipe(padToBatch(2, { worldSize: 3 })), InvalidArgumentError);
    assert.doesNotThrow(() => source.pipe(padToBatch(2, { size: 10, worldSize: 2 })));
  });

  it('rejects a batch size, size or world size out of range', () => {
    assert.throws(() => padToBatch(0), InvalidArgumentError);
    assert.throws(() => padToBatch(2.5), InvalidArgumentError);
    assert.throws(() => padToBatch(2, { size: -1 }), InvalidArgumentError);
    assert.throws(() => padToBatch(2, { worldSize: 0 }), InvalidArgumentError);
  });

  it('a rank with no sample pads every batch from fill(), with no template', () => {
    testScheduler().run(({ cold, expectObservable }) => {
      // 1 sample over 2 ranks: rank 1 gets nothing but owes one batch.
      const source = withInfo(cold<string>('--|'), { split: split(1, 2, 1) });
      const fill = (template?: string) => template ?? 'blank';
      expectObservable(source.pipe(padToBatch(2, { fill }))).toBe('--(x|)', {
        x: padded(['blank', 'blank'], [0, 0], [-1, -1]),
      });
    });
  });

  it('a rank with no sample and no fill fails with NoPadTemplateError', () => {
    testScheduler().run(({ cold, expectObservable }) => {
      const source = withInfo(cold<string>('--|'), { split: split(1, 2, 1) });
      expectObservable(source.pipe(padToBatch(2))).toBe('--#', undefined, new NoPadTemplateError(1));
    });
    const { error } = collectSync(withInfo(of<number>(), { split: split(1, 2, 1) }).pipe(padToBatch(2)));
    assert.ok(error instanceof NoPadTemplateError);
    assert.equal(error.code, 'RXFEED_ERR_NO_PAD_TEMPLATE');
  });

  it('fill(template) makes pad rows from the batch, or the rank, first real row', () => {
    testScheduler().run(({ cold, expectObservable }) => {
      const source = withInfo(cold('abc|', { a: { id: 'a' }, b: { id: 'b' }, c: { id: 'c' } }), {
        split: { globalSize: 16, worldSize: 2, rank: 0, maxRankSize: 8, firstIndex: 0, stride: 1 },
      });
      const fill = (template?: { id: string }) => ({ id: `pad of ${template?.id}` });
      expectObservable(source.pipe(padToBatch(2, { fill, indexOf: (_, position) => 100 + position }))).toBe('-x-(yzw|)', {
        x: padded([{ id: 'a' }, { id: 'b' }], [1, 1], [100, 101]),
        y: padded([{ id: 'c' }, { id: 'pad of c' }], [1, 0], [102, -1]),
        z: padded([{ id: 'pad of a' }, { id: 'pad of a' }], [0, 0], [-1, -1]),
        w: padded([{ id: 'pad of a' }, { id: 'pad of a' }], [0, 0], [-1, -1]),
      });
    });
  });

  it('takes the index from item.index, a number item, or else the rank-local position', () => {
    const rows = [{ index: 40 }, { index: 41 }];
    const [objects] = collectSync(withInfo(of(...rows), { size: 2 }).pipe(padToBatch(2, { worldSize: 1 }))).values;
    assert.deepEqual(objects, padded(rows, [1, 1], [40, 41]));
    const [numbers] = collectSync(of(7, 3).pipe(padToBatch(2, { size: 2, worldSize: 1 }))).values;
    assert.deepEqual(numbers, padded([7, 3], [1, 1], [7, 3]));
    const [strings] = collectSync(of('p', 'q', 'r').pipe(padToBatch(4, { size: 3, worldSize: 1 }))).values;
    assert.deepEqual(strings, padded(['p', 'q', 'r', 'p'], [1, 1, 1, 0], [0, 1, 2, -1]));
  });

  it('records the number of batches as the output size', () => {
    assert.equal(sizeOf(of(1).pipe(padToBatch(4, { size: 100, worldSize: 8 }))), 4); // ceil(13 / 4)
    assert.equal(sizeOf(withInfo(of(1), { split: split(0, 4, 2) }).pipe(padToBatch(4))), 0);
  });

  it('disposes the rows of the batch being built on unsubscribe, and releases the source', () => {
    const log: string[] = [];
    const held = (name: string) => ({ name, dispose: () => log.push(`dispose ${name}`) });
    const items = { a: held('a'), b: held('b'), c: held('c') };
    testScheduler().run(({ cold, expectObservable, expectSubscriptions }) => {
      const source = withInfo(cold('a-b-c-|', items), { split: split(6, 1, 0) });
      expectObservable(source.pipe(padToBatch(2)), '^---!').toBe('--x-', {
        x: padded([items.a, items.b], [1, 1], [0, 1]),
      });
      expectSubscriptions(source.subscriptions).toBe('^---!');
    });
    assert.deepEqual(log, []);
    testScheduler().run(({ cold, expectObservable }) => {
      const source = withInfo(cold('a-b-c-|', items), { split: split(6, 1, 0) });
      expectObservable(source.pipe(padToBatch(2)), '^-----!').toBe('--x---', {
        x: padded([items.a, items.b], [1, 1], [0, 1]),
      });
    });
    assert.deepEqual(log, ['dispose c']);
  });

  it('emits owed all-pad batches only while no stage downstream is full', () => {
    const scheduler = testScheduler();
    scheduler.run(({ cold, expectObservable }) => {
      // A consumer stage of capacity 1 that holds each batch for 3 frames.
      const flow = new Flow();
      let held = 0;
      flow.register({ name: 'consumer', capacity: 1, occupancy: () => held });
      const source = withInfo(cold('a|', { a: 5 }), {
        split: { globalSize: 8, worldSize: 2, rank: 1, maxRankSize: 4, firstIndex: 4, stride: 1 },
      });
      const consumed = source.pipe(
        padToBatch(1),
        tap(() => {
          held++;
          scheduler.schedule(() => {
            held--;
            flow.notify();
          }, 3);
        }),
      );
      const bound = new Observable<PaddedBatch<number>>((subscriber) =>
        bindContext({ flow, epoch: 0 }, () => consumed.subscribe(subscriber)),
      );
      expectObservable(bound).toBe('a--b--c--(d|)', {
        a: padded([5], [1], [4]),
        b: padded([5], [0], [-1]),
        c: padded([5], [0], [-1]),
        d: padded([5], [0], [-1]),
      });
    });
  });

  it('feeds collate: rows, mask and index come out as host tensors', () => {
    const source = of({ x: 1.5 }, { x: 2.5 }, { x: 3.5 });
    const [out, second] = collectSync(source.pipe(padToBatch(2, { size: 3, worldSize: 1 }), collate())).values;
    assert.deepEqual(out, {
      rows: { x: { data: Float64Array.of(1.5, 2.5), shape: [2], dtype: 'float64' } },
      mask: { data: Uint8Array.of(1, 1), shape: [2], dtype: 'bool' },
      index: { data: Float64Array.of(0, 1), shape: [2], dtype: 'float64' },
    });
    assert.deepEqual(second, {
      rows: { x: { data: Float64Array.of(3.5, 3.5), shape: [2], dtype: 'float64' } },
      mask: { data: Uint8Array.of(1, 0), shape: [2], dtype: 'bool' },
      index: { data: Float64Array.of(2, -1), shape: [2], dtype: 'float64' },
    });
  });
});

describe('padToBatch: exactly-once coverage over ranks (property)', () => {
  /** Rank r's contiguous even range of 0..n-1 (as shard gives when the size is known). */
  const contiguous = (n: number, worldSize: number, rank: number): number[] => {
    const start = Math.floor((rank * n) / worldSize);
    const end = Math.floor(((rank + 1) * n) / worldSize);
    return Array.from({ length: end - start }, (_, i) => start + i);
  };
  /** Rank r's strided share: i with i % worldSize === r. */
  const strided = (n: number, worldSize: number, rank: number): number[] =>
    Array.from({ length: n }, (_, i) => i).filter((i) => i % worldSize === rank);

  it('every rank emits the same number of full batches, masks sum to N, every index once', () => {
    let cases = 0;
    for (let n = 0; n <= 40; n++) {
      for (let worldSize = 1; worldSize <= 6; worldSize++) {
        for (let batchSize = 1; batchSize <= 7; batchSize++) {
          for (const [layout, share] of [
            ['contiguous', contiguous],
            ['strided', strided],
          ] as const) {
            for (const sizeFrom of ['split', 'options'] as const) {
              cases++;
              const label = `N=${n} W=${worldSize} B=${batchSize} ${layout} size from ${sizeFrom}`;
              const counts: number[] = [];
              const seen = new Array<number>(n).fill(0);
              let maskSum = 0;
              for (let rank = 0; rank < worldSize; rank++) {
                const rows = share(n, worldSize, rank);
                // Samples as objects carrying their global index, as a real dataset's would.
                const samples = from(rows.map((index) => ({ index })));
                const input =
                  sizeFrom === 'split' ? withInfo(samples, { size: rows.length, split: split(n, worldSize, rank, layout) }) : samples;
                const operator = padToBatch<{ index: number }>(batchSize, {
                  ...(sizeFrom === 'options' ? { size: n, worldSize } : {}),
                  fill: (template) => template ?? { index: -2 },
                });
                const piped = input.pipe(operator);
                const { values, error, completed } = collectSync(piped);
                assert.equal(error, undefined, label);
                assert.ok(completed, label);
                assert.equal(sizeOf(piped), values.length, label);
                counts.push(values.length);
                for (const batch of values) {
                  assert.equal(batch.rows.length, batchSize, label);
                  for (let k = 0; k < batchSize; k++) {
                    if (batch.mask[k] === 1) {
                      maskSum++;
                      assert.equal(batch.index[k], batch.rows[k]!.index, label);
                      seen[batch.index[k]!]!++;
                    } else {
                      assert.equal(batch.mask[k], 0, label);
                      assert.equal(batch.index[k], -1, label);
                    }
                  }
                }
              }
              assert.ok(
                counts.every((count) => count === Math.ceil(Math.ceil(n / worldSize) / batchSize)),
                `${label}: batch counts ${counts.join(',')}`,
              );
              assert.equal(maskSum, n, label);
              assert.ok(
                seen.every((times) => times === 1),
                `${label}: indices seen ${seen.join(',')}`,
              );
            }
          }
        }
      }
    }
    assert.equal(cases, 41 * 6 * 7 * 4);
  });
});

describe('padToBatch: global indices for any row type after shard (issue 10.4)', () => {
  it('object rows over 1..5 ranks, contiguous and strided, with and without a map between', async () => {
    for (let worldSize = 1; worldSize <= 5; worldSize++) {
      for (const n of [0, 1, 7, 13]) {
        for (const layout of ['contiguous', 'strided'] as const) {
          for (const between of ['nothing', 'a plain map'] as const) {
            const label = `W=${worldSize} N=${n} ${layout}, ${between} between`;
            // Episodes, documents: objects with no index of their own.
            const rows = Array.from({ length: n }, (_, i) => ({ name: `row ${i}` }));
            const covered: number[] = [];
            const batchCounts: number[] = [];
            for (let rank = 0; rank < worldSize; rank++) {
              // A sized source splits into contiguous ranges; an unsized one is strided.
              const source = layout === 'contiguous' ? fromItems(rows) : fromItems(() => rows);
              const part = source.pipe(shard({ rank, worldSize }));
              const mapped = between === 'nothing' ? part : part.pipe(map((row) => ({ ...row })));
              const batches = await lastValueFrom(
                mapped.pipe(padToBatch(3, { size: n, fill: (template) => template ?? { name: 'pad' } }), toArray()),
              );
              batchCounts.push(batches.length);
              for (const batch of batches) {
                batch.rows.forEach((row, k) => {
                  if (batch.mask[k] === 0) return;
                  assert.equal(row.name, `row ${batch.index[k]}`, `${label}: rank ${rank} labels its row with its global index`);
                  covered.push(batch.index[k]!);
                });
              }
            }
            assert.deepEqual(
              covered.sort((a, b) => a - b),
              rows.map((_, i) => i),
              `${label}: every index once`,
            );
            assert.equal(new Set(batchCounts).size <= 1, true, `${label}: every rank emits as many batches`);
          }
        }
      }
    }
  });
});

describe('padToBatch over a strided shard of a streaming source, in a loader state (issue 13)', () => {
  it('issue 13: each rank resumed after any number of batches still counts every index exactly once, in as many batches as the others', async () => {
    const random = new Random(41);
    for (let trial = 0; trial < 40; trial++) {
      const size = random.int(60);
      const worldSize = 1 + random.int(3);
      const batchSize = 1 + random.int(5);
      const delayed = random.int(2) === 1;
      // An unsized generator: shard keeps every worldSize-th item by position, not a range.
      const make = (rank: number, state?: LoaderState): Loader<PaddedBatch<number>> => {
        let items: Observable<number> = fromItems(() => Array.from({ length: size }, (_, i) => i), { chunkSize: 4 }).pipe(
          shard({ rank, worldSize }),
        );
        if (delayed)
          items = items.pipe(
            parallelMap(async (i: number) => (await setImmediateP(), i), { concurrency: 2 }),
            prefetch(2),
          );
        return toLoader(items.pipe(padToBatch(batchSize, { size, worldSize, fill: () => -1 })), { state });
      };
      const counts = new Array<number>(size).fill(0);
      const steps: number[] = [];
      for (let rank = 0; rank < worldSize; rank++) {
        const take = (batch: PaddedBatch<number>): void => {
          batch.rows.forEach((row, i) => {
            if (batch.mask[i] === 1) {
              assert.equal(row, batch.index[i], 'a real row carries its own global index');
              counts[row]!++;
            }
          });
        };
        const first = make(rank);
        const stopAfter = random.int(Math.ceil(size / worldSize / batchSize) + 2);
        let batches = 0;
        let saved = first.state();
        if (stopAfter > 0) {
          for await (const batch of first) {
            take(batch);
            if (++batches === stopAfter) break;
          }
          saved = JSON.parse(JSON.stringify(first.state())) as LoaderState;
        }
        // A loop that ran to its end leaves nothing of this epoch to resume.
        if (stopAfter > 0 && batches < stopAfter) {
          steps.push(batches);
          continue;
        }
        for await (const batch of make(rank, saved)) {
          take(batch);
          batches++;
        }
        steps.push(batches);
      }
      const what = JSON.stringify({ size, worldSize, batchSize, delayed });
      assert.deepEqual(counts, new Array<number>(size).fill(1), what);
      assert.equal(new Set(steps).size, 1, `every rank ran the same steps: ${steps.join(', ')} ${what}`);
    }
  });

  it('issue 13: a shard in element mode after a filter cannot be resumed: the state says so, naming it', async () => {
    const loader = toLoader(
      fromItems(() => Array.from({ length: 20 }, (_, i) => i)).pipe(
        filter((i) => i % 3 !== 0),
        shard({ rank: 0, worldSize: 2 }),
      ),
    );
    const seen: number[] = [];
    for await (const item of loader) {
      seen.push(item);
      if (seen.length === 3) {
        assert.throws(
          () => loader.state(),
          (error: unknown) => error instanceof LoaderStateError && error.code === 'RXFEED_ERR_STATE_UNTRACKED' && error.part === 'shard',
        );
      }
    }
    assert.deepEqual(seen, [1, 4, 7, 10, 13, 16, 19]);
  });
});
