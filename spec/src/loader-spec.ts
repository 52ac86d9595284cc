import assert from 'node:assert/strict';
import { subscribe as subscribeChannel, unsubscribe as unsubscribeChannel } from 'node:diagnostics_channel';
import { describe, it } from 'node:test';
import { firstValueFrom, lastValueFrom, map, take, toArray } from 'rxjs';
import { TestScheduler } from 'rxjs/testing';
import {
  AbortedError,
  fromItems,
  fromPuller,
  InvalidArgumentError,
  METRICS_CHANNEL,
  parallelMap,
  shuffleBuffer,
  sizeOf,
  toLoader,
  type FlowMetrics,
} from '../../src/index.js';

/** A source of 0, 1, 2 ... (endless unless `limit`) that records its pulls and its release. */
function countingSource(options: { limit?: number; closeDelayMs?: number; failAt?: number } = {}) {
  const log = { pulled: 0, closed: 0, events: [] as string[] };
  const source = fromPuller<number>(() => ({
    pull: async () => {
      if (options.failAt !== undefined && log.pulled === options.failAt) throw new Error(`bad item ${log.pulled}`);
      if (options.limit !== undefined && log.pulled >= options.limit) return null;
      return [log.pulled++];
    },
    close: async () => {
      if (options.closeDelayMs) await new Promise((resolve) => setTimeout(resolve, options.closeDelayMs));
      log.closed++;
      log.events.push('closed');
    },
  }));
  return { source, log };
}

describe('toLoader', () => {
  it('is an Observable, an AsyncIterable and sized like its pipeline', async () => {
    const loader = toLoader(fromItems([1, 2, 3]).pipe(parallelMap(async (x: number) => x * 2)));
    assert.equal(sizeOf(loader), 3);
    assert.deepEqual(await lastValueFrom(loader.pipe(toArray())), [2, 4, 6]);
    const seen: number[] = [];
    for await (const x of loader) seen.push(x);
    assert.deepEqual(seen, [2, 4, 6]);
  });

  it('releases the source before `break` returns, even when closing takes time', async () => {
    const { source, log } = countingSource({ closeDelayMs: 20 });
    for await (const x of toLoader(source)) {
      if (x === 3) break;
    }
    log.events.push('after break');
    assert.deepEqual(log.events, ['closed', 'after break']);
  });

  it('releases the source before an error thrown in the loop body propagates', async () => {
    const { source, log } = countingSource({ closeDelayMs: 10 });
    await assert.rejects(async () => {
      for await (const x of toLoader(source)) {
        if (x === 2) throw new Error('step failed');
      }
    }, /step failed/);
    assert.equal(log.closed, 1);
  });

  it('surfaces a source error to the loop only after every source is released', async () => {
    const { source, log } = countingSource({ failAt: 4, closeDelayMs: 10 });
    const seen: number[] = [];
    await assert.rejects(async () => {
      for await (const x of toLoader(source)) seen.push(x);
    }, /bad item 4/);
    assert.deepEqual(seen, [0, 1, 2, 3]);
    assert.equal(log.closed, 1);
  });

  it('holds at most `prefetch` items ahead of a slow consumer', async () => {
    const { source, log } = countingSource({ limit: 100 });
    let consumed = 0;
    let maxAhead = 0;
    for await (const x of toLoader(source, { prefetch: 3 })) {
      assert.equal(x, consumed);
      consumed++;
      maxAhead = Math.max(maxAhead, log.pulled - consumed);
      await new Promise((resolve) => setTimeout(resolve, 1));
    }
    assert.equal(consumed, 100);
    assert.ok(maxAhead <= 4, `pulled ${maxAhead} items ahead with a bound of 3 + 1 chunk`);
  });

  it('disposes queued items when the loop breaks', async () => {
    const disposed: number[] = [];
    const items = Array.from({ length: 5 }, (_, i) => ({ i, dispose: () => disposed.push(i) }));
    for await (const item of toLoader(fromItems(items, { chunkSize: 1 }), { prefetch: 3 })) {
      if (item.i === 0) break;
    }
    assert.deepEqual(disposed, [1, 2, 3]);
  });

  it('ends iterations and subscriptions on abort with an AbortedError, releasing sources', async () => {
    const controller = new AbortController();
    const { source, log } = countingSource();
    const seen: number[] = [];
    await assert.rejects(
      async () => {
        for await (const x of toLoader(source, { signal: controller.signal })) {
          seen.push(x);
          if (x === 2) controller.abort(new Error('stop now'));
        }
      },
      (error) => error instanceof AbortedError && error.code === 'RXFEED_ERR_ABORTED',
    );
    assert.deepEqual(seen, [0, 1, 2]);
    assert.equal(log.closed, 1);
    await assert.rejects(firstValueFrom(toLoader(source, { signal: controller.signal })), AbortedError);
  });

  it('await using ends active iterations and waits for their release', async () => {
    const { source, log } = countingSource({ closeDelayMs: 10 });
    {
      await using loader = toLoader(source);
      const iterator = loader[Symbol.asyncIterator]();
      assert.deepEqual(await iterator.next(), { value: 0, done: false });
      loader.subscribe();
    }
    assert.equal(log.closed, 2);
  });

  it('take(n) as a plain subscription releases the source', async () => {
    const { source, log } = countingSource();
    assert.deepEqual(await lastValueFrom(toLoader(source).pipe(take(3), toArray())), [0, 1, 2]);
    await new Promise((resolve) => setTimeout(resolve, 0));
    assert.equal(log.closed, 1);
  });

  it('publishes stage readings through metrics() and the diagnostics channel', () => {
    const readings: unknown[] = [];
    const listener = (message: unknown) => readings.push(message);
    subscribeChannel(METRICS_CHANNEL, listener);
    const scheduler = new TestScheduler((a, b) => assert.deepEqual(a, b));
    try {
      scheduler.run(({ cold, expectObservable }) => {
        const loader = toLoader(cold('a-b-c-d-e-f-|').pipe(parallelMap((x: string) => cold('---(r|)', { r: x }), { concurrency: 2 })), {
          scheduler,
        });
        loader.subscribe();
        const snapshots = loader.metrics(5).pipe(
          take(2),
          map((all: FlowMetrics[]) =>
            all.map((m) => m.stages.map((s) => `${s.name} ${s.occupancy}/${s.capacity} in ${s.itemsIn} out ${s.itemsOut}`)),
          ),
        );
        expectObservable(snapshots).toBe('-----x----(y|)', {
          x: [['parallelMap 2/2 in 3 out 1']],
          y: [['parallelMap 2/2 in 6 out 4']],
        });
      });
    } finally {
      unsubscribeChannel(METRICS_CHANNEL, listener);
    }
    assert.equal(readings.length, 2);
  });

  it('rejects a bad prefetch', () => {
    assert.throws(() => toLoader(fromItems([1]), { prefetch: 0 }), InvalidArgumentError);
  });
});

describe('toLoader: every iteration is the next epoch (issue 10.2)', () => {
  const range = (n: number) => Array.from({ length: n }, (_, i) => i);
  const shuffled = () => fromItems(range(100)).pipe(shuffleBuffer<number>(100, { seed: 5 }));

  async function iterate<T>(loader: AsyncIterable<T>): Promise<T[]> {
    const out: T[] = [];
    for await (const item of loader) out.push(item);
    return out;
  }

  it('for await twice over the same loader: epochs 0 then 1, reshuffled', async () => {
    const loader = toLoader(shuffled());
    assert.equal(loader.epoch, 0);
    const first = await iterate(loader);
    assert.equal(loader.epoch, 0);
    const second = await iterate(loader);
    assert.equal(loader.epoch, 1);
    assert.notDeepEqual(second, first);
    assert.deepEqual(
      [...second].sort((a, b) => a - b),
      range(100),
    );
    // The same epochs read through a fresh loader give the same orders: reproducible.
    const again = toLoader(shuffled());
    assert.deepEqual(await iterate(again), first);
    assert.deepEqual(await iterate(again), second);
  });

  it('loader.epoch = k resumes at epoch k, as DistributedSampler.set_epoch', async () => {
    const reference = toLoader(shuffled());
    const orders = [await iterate(reference), await iterate(reference), await iterate(reference)];
    const resumed = toLoader(shuffled());
    resumed.epoch = 2;
    assert.deepEqual(await iterate(resumed), orders[2]);
    resumed.epoch = 1;
    assert.deepEqual(await iterate(resumed), orders[1]);
    assert.deepEqual(await iterate(resumed), orders[2]);
    assert.throws(() => (resumed.epoch = -1), InvalidArgumentError);
  });

  it("tfjs-data's generator pattern: a new iterator per epoch, driven by next()", async () => {
    const loader = toLoader(shuffled());
    // What tf.data.generator(() => loader[Symbol.asyncIterator]()) does once per fitDataset epoch.
    const epoch = async (): Promise<number[]> => {
      const iterator = loader[Symbol.asyncIterator]();
      const out: number[] = [];
      for (let step = await iterator.next(); !step.done; step = await iterator.next()) out.push(step.value);
      return out;
    };
    const orders = [await epoch(), await epoch(), await epoch()];
    assert.equal(new Set(orders.map((order) => order.join())).size, 3, 'three different orders');
  });

  it('plain subscriptions advance the epoch too', async () => {
    const loader = toLoader(shuffled());
    const first = await lastValueFrom(loader.pipe(toArray()));
    const second = await lastValueFrom(loader.pipe(toArray()));
    assert.notDeepEqual(second, first);
    assert.equal(loader.epoch, 1);
  });
});
