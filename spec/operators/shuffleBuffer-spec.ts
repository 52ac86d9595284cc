import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setImmediate as setImmediateP } from 'node:timers/promises';
import { filter, lastValueFrom, map, take, toArray, type Observable } from 'rxjs';
import { TestScheduler } from 'rxjs/testing';
import { batch } from '../../operators/batch.js';
import { parallelMap } from '../../operators/parallelMap.js';
import { prefetch } from '../../operators/prefetch.js';
import { shuffleBuffer } from '../../operators/shuffleBuffer.js';
import { bindContext, PipelineContext } from '../../src/context.js';
import { InvalidArgumentError } from '../../src/errors.js';
import { Flow } from '../../src/flow.js';
import { sizeOf } from '../../src/info.js';
import { toLoader } from '../../src/loader.js';
import { LoaderStateError, type LoaderState } from '../../src/loaderState.js';
import { Random } from '../../src/random.js';
import { fromItems } from '../../sources/core/fromItems.js';
import { fromPuller } from '../../sources/core/fromPuller.js';

const testScheduler = () => new TestScheduler((actual, expected) => assert.deepEqual(actual, expected));

const range = (n: number): number[] => Array.from({ length: n }, (_, i) => i);

/** Let other callbacks (the pipeline's wake-ups) run: a consumer much slower than the source. */
async function slowly(): Promise<void> {
  for (let i = 0; i < 5; i++) await new Promise((resolve) => setImmediate(resolve));
}

/** Subscribe within an explicit epoch, as `epochs` does, and collect the whole output. */
function collect<T>(source: Observable<T>, epoch = 0): Promise<T[]> {
  return bindContext({ flow: new Flow(), epoch }, () => lastValueFrom(source.pipe(toArray())));
}

/** A source over 0..n-1 that counts the items pulled from it and whether it was closed. */
function countedSource(n: number): { source: Observable<number>; pulled: () => number; closed: () => number } {
  let pulled = 0;
  let closed = 0;
  const source = fromPuller<number>(
    () => {
      let next = 0;
      return {
        pull: () => {
          if (next >= n) return null;
          pulled++;
          return [next++];
        },
        close: () => {
          closed++;
        },
      };
    },
    { size: n },
  );
  return { source, pulled: () => pulled, closed: () => closed };
}

describe('shuffleBuffer', () => {
  it('fills to size, then emits one held item per arrival, then drains on complete', () => {
    testScheduler().run(({ cold, expectObservable, expectSubscriptions }) => {
      const source = cold('-a-b-c-d-e-|');
      const out = source.pipe(
        shuffleBuffer(3, { seed: 1 }),
        map(() => 'x'),
      );
      expectObservable(out).toBe('-------x-x-(xxx|)');
      expectSubscriptions(source.subscriptions).toBe('^----------!');
    });
  });

  it('with initial < size, starts after `initial` items and grows by one per item emitted', () => {
    testScheduler().run(({ cold, expectObservable }) => {
      // initial 1, size 2: a fills; b adds and emits (grows to 1 more); c adds (now full);
      // d and e each replace a held item; complete drains the 2 held.
      const source = cold('-a-b-c-d-e-|');
      expectObservable(
        source.pipe(
          shuffleBuffer(2, { seed: 1, initial: 1 }),
          map(() => 'x'),
        ),
      ).toBe('---x---x-x-(xx|)');
    });
    testScheduler().run(({ cold, expectObservable }) => {
      // initial 1, size 4: every second arrival emits while the buffer grows.
      const source = cold('-a-b-c-d-e-f-|');
      expectObservable(
        source.pipe(
          shuffleBuffer(4, { seed: 1, initial: 1 }),
          map(() => 'x'),
        ),
      ).toBe('---x---x---x-(xxx|)');
    });
  });

  it('emits every item exactly once, in the same order for the same seed', () => {
    let first: string[] = [];
    let second: string[] = [];
    testScheduler().run(({ cold }) => {
      const source = cold('-a-b-c-d-e-|');
      source.pipe(shuffleBuffer(3, { seed: 7 }), toArray()).subscribe((all) => (first = all));
      source.pipe(shuffleBuffer(3, { seed: 7 }), toArray()).subscribe((all) => (second = all));
    });
    assert.deepEqual([...first].sort(), ['a', 'b', 'c', 'd', 'e']);
    assert.deepEqual(second, first);
  });

  it('is deterministic per (seed, epoch, rank, worker) and reshuffles each epoch', async () => {
    const items = range(200);
    const order = (options: Parameters<typeof shuffleBuffer>[1], epoch = 0) =>
      collect(fromItems(items).pipe(shuffleBuffer<number>(50, options)), epoch);
    const base = await order({ seed: 3 });
    assert.deepEqual(
      [...base].sort((a, b) => a - b),
      items,
    );
    assert.notDeepEqual(base, items);
    assert.deepEqual(await order({ seed: 3 }), base);
    assert.deepEqual(await order({ seed: 3, rank: 0, workerIndex: 0 }), base);
    const variants = [
      await order({ seed: 4 }),
      await order({ seed: 3 }, 1),
      await order({ seed: 3, rank: 1 }),
      await order({ seed: 3, workerIndex: 1 }),
    ];
    for (const variant of variants) assert.notDeepEqual(variant, base);
    assert.deepEqual(await order({ seed: 3 }, 1), variants[1]);
  });

  it("issue 12: inside a worker pipeline's part, the part's worker index is mixed in without being given", async () => {
    const items = range(200);
    const inPart = (part: { rank: number; worldSize: number; workerIndex: number; numWorkers: number }): Promise<number[]> =>
      new Promise((resolve, reject) => {
        const out: number[] = [];
        bindContext(new PipelineContext({ flow: new Flow(), part }), () =>
          fromItems(items)
            .pipe(shuffleBuffer<number>(50, { seed: 3 }))
            .subscribe({ next: (item) => out.push(item), error: reject, complete: () => resolve(out) }),
        );
      });
    const given = await collect(fromItems(items).pipe(shuffleBuffer<number>(50, { seed: 3, workerIndex: 1 })), 0);
    assert.deepEqual(await inPart({ rank: 0, worldSize: 1, workerIndex: 1, numWorkers: 2 }), given);
    assert.deepEqual(
      await inPart({ rank: 0, worldSize: 1, workerIndex: 0, numWorkers: 2 }),
      await collect(fromItems(items).pipe(shuffleBuffer<number>(50, { seed: 3 })), 0),
    );
  });

  it('takes the rank from RANK (torchrun) when none is given, read when subscribed', async () => {
    const saved = process.env.RANK;
    const savedWorld = process.env.WORLD_SIZE;
    try {
      const fromEnv = shuffleBuffer<number>(20, { seed: 9 });
      const explicit = shuffleBuffer<number>(20, { seed: 9, rank: 2 });
      const rankZero = shuffleBuffer<number>(20, { seed: 9 });
      process.env.RANK = '2';
      process.env.WORLD_SIZE = '4';
      const a = await collect(fromItems(range(100)).pipe(fromEnv));
      delete process.env.RANK;
      delete process.env.WORLD_SIZE;
      assert.deepEqual(await collect(fromItems(range(100)).pipe(explicit)), a);
      assert.notDeepEqual(await collect(fromItems(range(100)).pipe(rankZero)), a);
    } finally {
      if (saved === undefined) delete process.env.RANK;
      else process.env.RANK = saved;
      if (savedWorld === undefined) delete process.env.WORLD_SIZE;
      else process.env.WORLD_SIZE = savedWorld;
    }
  });

  it('without a seed, shuffles differently on each subscription', async () => {
    const shuffled = fromItems(range(100)).pipe(shuffleBuffer<number>(100));
    const a = await collect(shuffled);
    const b = await collect(shuffled);
    assert.deepEqual(
      [...a].sort((x, y) => x - y),
      range(100),
    );
    assert.notDeepEqual(a, b);
  });

  it('moves items: with size >= n, every item reaches the first place for some seed', async () => {
    const firsts = new Set<number>();
    for (let seed = 0; seed < 200; seed++) {
      const [first] = await collect(fromItems(range(5)).pipe(shuffleBuffer<number>(5, { seed })));
      firsts.add(first!);
    }
    assert.deepEqual([...firsts].sort(), range(5));
  });

  it('requires a size and checks every option', () => {
    assert.throws(
      () => shuffleBuffer(undefined as unknown as number),
      (error: unknown) => {
        assert.ok(error instanceof InvalidArgumentError);
        assert.equal(error.argument, 'shuffleBuffer.size');
        assert.equal(error.code, 'RXFEED_ERR_INVALID_ARG');
        return true;
      },
    );
    for (const size of [0, -1, 1.5, Number.POSITIVE_INFINITY]) {
      assert.throws(() => shuffleBuffer(size), InvalidArgumentError, `size ${size}`);
    }
    assert.throws(() => shuffleBuffer(4, { initial: 0 }), InvalidArgumentError);
    assert.throws(() => shuffleBuffer(4, { initial: 5 }), InvalidArgumentError);
    assert.throws(() => shuffleBuffer(4, { seed: 0.5 }), InvalidArgumentError);
    assert.throws(() => shuffleBuffer(4, { rank: -1 }), InvalidArgumentError);
    assert.throws(() => shuffleBuffer(4, { workerIndex: 1.5 }), InvalidArgumentError);
  });

  it('keeps the dataset size', () => {
    assert.equal(sizeOf(fromItems(range(10)).pipe(shuffleBuffer(4, { seed: 1 }))), 10);
  });

  it('propagates errors and disposes the items it held', () => {
    const disposed: string[] = [];
    testScheduler().run(({ cold, expectObservable, expectSubscriptions }) => {
      const item = (name: string) => ({ name, dispose: () => disposed.push(name) });
      const boom = new Error('read failed');
      const source = cold('-a-b-#', { a: item('a'), b: item('b') }, boom);
      expectObservable(source.pipe(shuffleBuffer(3, { seed: 1 }))).toBe('-----#', undefined, boom);
      expectSubscriptions(source.subscriptions).toBe('^----!');
    });
    assert.deepEqual(disposed.sort(), ['a', 'b']);
  });

  it('releases the source on unsubscribe and disposes the items it held', () => {
    let disposed = 0;
    testScheduler().run(({ cold, expectObservable, expectSubscriptions }) => {
      const item = () => ({ dispose: () => void disposed++ });
      const source = cold('-a-b-c-d-e-f-g-|', { a: item(), b: item(), c: item(), d: item(), e: item(), f: item(), g: item() });
      const out = source.pipe(
        shuffleBuffer(3, { seed: 1 }),
        take(2),
        map(() => 'x'),
      );
      expectObservable(out).toBe('-------x-(x|)');
      expectSubscriptions(source.subscriptions).toBe('^--------!');
    });
    // Two were emitted (and are the consumer's), three were held and are disposed.
    assert.equal(disposed, 3);
  });

  it('pauses its final drain while a stage downstream is full', async () => {
    const flow = new Flow();
    const received: number[] = [];
    const stage = flow.register({ name: 'test', capacity: 1, occupancy: () => received.length });
    let completed = false;
    const subscription = bindContext({ flow, epoch: 0 }, () =>
      fromItems(range(10))
        .pipe(shuffleBuffer<number>(10, { seed: 1 }))
        .subscribe({ next: (value) => received.push(value), complete: () => (completed = true) }),
    );
    const seen: number[] = [];
    while (!completed || received.length > 0) {
      // The reservoir absorbed all ten; its drain stops as soon as the stage holds one.
      assert.ok(received.length <= 1, `stage holds ${received.length}`);
      if (received.length === 1) {
        seen.push(received.shift()!);
        stage.left();
      }
      await new Promise((resolve) => setImmediate(resolve));
    }
    subscription.unsubscribe();
    assert.deepEqual(
      seen.sort((a, b) => a - b),
      range(10),
    );
  });

  it('bounds the items pulled ahead of a slow for-await consumer by size + prefetch', async () => {
    const { source, pulled, closed } = countedSource(300);
    const size = 16;
    const prefetch = 2;
    const loader = toLoader(source.pipe(shuffleBuffer(size, { seed: 5 })), { prefetch });
    let consumed = 0;
    let maxAhead = 0;
    const seen: number[] = [];
    for await (const value of loader) {
      consumed++;
      seen.push(value);
      maxAhead = Math.max(maxAhead, pulled() - consumed);
      await slowly();
    }
    assert.deepEqual(
      seen.sort((a, b) => a - b),
      range(300),
    );
    // The reservoir, the loader's queue, and one pulled chunk (one item here) in the source.
    assert.ok(maxAhead <= size + prefetch + 1, `pulled ${maxAhead} items ahead`);
    assert.ok(maxAhead >= size, 'the reservoir fills');
    assert.equal(closed(), 1);
  });

  it('closes the source before a `break` returns and disposes the held items', async () => {
    const disposed = new Set<number>();
    let closed = false;
    let pulled = 0;
    const source = fromPuller<{ id: number; dispose(): void }>(() => {
      let next = 0;
      return {
        pull: () => {
          pulled++;
          const id = next++;
          return [{ id, dispose: () => disposed.add(id) }];
        },
        close: async () => {
          await new Promise((resolve) => setTimeout(resolve, 5));
          closed = true;
        },
      };
    });
    const taken: number[] = [];
    for await (const item of toLoader(source.pipe(shuffleBuffer(8, { seed: 2 })), { prefetch: 2 })) {
      taken.push(item.id);
      if (taken.length === 3) break;
    }
    assert.equal(closed, true, 'closed before break returned');
    // Everything pulled was either consumed or disposed, nothing both.
    assert.equal(taken.length + disposed.size, pulled);
    for (const id of taken) assert.ok(!disposed.has(id));
  });
});

describe('shuffleBuffer in a loader state (issue 13)', () => {
  const roundTrip = (state: LoaderState): LoaderState => JSON.parse(JSON.stringify(state)) as LoaderState;

  /** A pipeline through a shuffle buffer, with the stages that hold items around it drawn from `random`. */
  const pipelineOf = (random: Random) => {
    const n = random.int(250);
    const size = 1 + random.int(40);
    const initial = 1 + random.int(size);
    const batchSize = 1 + random.int(7);
    const dropSome = random.int(2) === 1;
    const delayed = random.int(2) === 1;
    const ordered = random.int(2) === 1;
    const prefetched = random.int(2) === 1;
    const make = (): Observable<number[]> => {
      let items: Observable<number> = fromItems(range(n), { chunkSize: 1 + random.int(9) });
      if (dropSome) items = items.pipe(filter((i) => i % 7 !== 3));
      items = items.pipe(
        map((i) => i * 10),
        shuffleBuffer(size, { seed: 9, initial }),
      );
      if (delayed) items = items.pipe(parallelMap(async (i: number) => (await setImmediateP(), i), { concurrency: 3, ordered }));
      if (prefetched) items = items.pipe(prefetch(4));
      return items.pipe(batch(batchSize));
    };
    return {
      make,
      batchSize,
      unordered: delayed && !ordered,
      describe: { n, size, initial, batchSize, dropSome, delayed, ordered, prefetched },
    };
  };

  it('issue 13: resumed after any number of batches, the items equal an uninterrupted run (same order unless unordered)', async () => {
    const random = new Random(13);
    for (let trial = 0; trial < 60; trial++) {
      const { make, batchSize, unordered, describe: what } = pipelineOf(random);
      const whole: number[] = [];
      for await (const rows of toLoader(make())) whole.push(...rows);
      const stopAfter = random.int(Math.ceil(whole.length / batchSize) + 1);
      const seen: number[] = [];
      const first = toLoader(make());
      let saved = first.state();
      if (stopAfter > 0) {
        for await (const rows of first) {
          seen.push(...rows);
          if (seen.length >= stopAfter * batchSize || seen.length === whole.length) break;
        }
        saved = roundTrip(first.state()); // after the break: where that loop stopped
      }
      for await (const rows of toLoader(make(), { state: saved })) seen.push(...rows);
      const expected = unordered ? [...whole].sort((a, b) => a - b) : whole;
      assert.deepEqual(unordered ? [...seen].sort((a, b) => a - b) : seen, expected, JSON.stringify({ ...what, stopAfter }));
    }
  });

  it('issue 13: a state saved by a buffer of another size, or over an input that ends before the buffer is back, is refused', async () => {
    const first = toLoader(fromItems(range(40)).pipe(shuffleBuffer(8, { seed: 1 })));
    let saved: LoaderState | undefined;
    for await (const _item of first) {
      saved = roundTrip(first.state());
      break;
    }
    await assert.rejects(
      lastValueFrom(toLoader(fromItems(range(40)).pipe(shuffleBuffer(9, { seed: 1 })), { state: saved }).pipe(toArray())),
      (error: unknown) =>
        error instanceof LoaderStateError && error.code === 'RXFEED_ERR_STATE_MISMATCH' && error.part === 'shuffleBuffer#0@0',
    );
    // The same buffer over a shorter input: the items it held never come back.
    const shorter = {
      ...saved!,
      parts: { ...saved!.parts, 'fromPuller#0@0': { kind: 'stream', rank: 0, consumed: { watermark: 0, extras: [] } } },
    };
    await assert.rejects(
      lastValueFrom(toLoader(fromItems(range(3)).pipe(shuffleBuffer(8, { seed: 1 })), { state: shorter }).pipe(toArray())),
      (error: unknown) => error instanceof LoaderStateError && error.code === 'RXFEED_ERR_STATE_MISMATCH',
    );
  });

  it('issue 13: shuffling batches (items of several source items) makes the state untracked, naming the buffer', async () => {
    const loader = toLoader(fromItems(range(40)).pipe(batch(2), shuffleBuffer(4, { seed: 1 })));
    for await (const _rows of loader) {
      assert.throws(
        () => loader.state(),
        (error: unknown) =>
          error instanceof LoaderStateError && error.code === 'RXFEED_ERR_STATE_UNTRACKED' && error.part === 'shuffleBuffer',
      );
      break;
    }
  });
});
