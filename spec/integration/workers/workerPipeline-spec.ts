import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { lastValueFrom, map, toArray } from 'rxjs';
import { batch } from '../../../operators/batch.js';
import { ExecutorClosedError, WorkerPipelineError, workerPipeline } from '../../../src/adapters/piscina.js';
import { AbortedError, InvalidArgumentError, RxfeedError } from '../../../src/errors.js';
import { toLoader } from '../../../src/loader.js';
import { globalShuffle } from '../../../src/sampler.js';
import { fromRandomAccess } from '../../../sources/core/fromRandomAccess.js';
import { itemsDataset } from '../../../sources/core/itemsDataset.js';
import { fromWebDataset } from '../../../sources/webdataset/index.js';
import { packTar, scratchDir } from '../../sources/webdataset/tarFixtures.js';
import { openFilesUnder } from './loopback.js';
import type { asyncNumbers, counted, exits, failing, numbers, shardKeys, shuffledBatches, Tagged, unsplit } from './fixtures/pipelines.js';

const pipelines = new URL('./fixtures/pipelines.js', import.meta.url);

async function collect<T>(source: import('rxjs').Observable<T>): Promise<T[]> {
  const items: T[] = [];
  for await (const item of toLoader(source)) items.push(item);
  return items;
}

/** Parts' items taken one from each part in turn; a part that ran out leaves the turn. */
function roundRobin<T>(parts: readonly (readonly T[])[]): T[] {
  const merged: T[] = [];
  for (let k = 0; merged.length < parts.reduce((sum, part) => sum + part.length, 0); k++) {
    for (const part of parts) if (k < part.length) merged.push(part[k]!);
  }
  return merged;
}

describe('workerPipeline (issue 12)', () => {
  it('issue 12: two threads each read their contiguous share; ordered output takes one item from each in turn', async () => {
    await using numbersInThreads = workerPipeline<typeof numbers>(pipelines, 'numbers', { threads: 2, options: { count: 101 } });
    const items = await collect(numbersInThreads);
    const values = Array.from({ length: 101 }, (_, i) => i);
    assert.deepEqual(
      items.map((item) => item.value),
      roundRobin([values.slice(0, 50), values.slice(50)]),
    );
    assert.deepEqual(
      items.map((item) => item.worker),
      roundRobin([Array<number>(50).fill(0), Array<number>(51).fill(1)]),
    );
  });

  it('issue 12: an async export is subscribed once its Observable is made, still split by its part', async () => {
    await using fromAsync = workerPipeline<typeof asyncNumbers>(pipelines, 'asyncNumbers', { threads: 2, options: { count: 9 } });
    const values = Array.from({ length: 9 }, (_, i) => i);
    assert.deepEqual(
      (await collect(fromAsync)).map((item) => item.value),
      roundRobin([values.slice(0, 4), values.slice(4)]),
    );
  });

  it('issue 12: each iteration reads the next epoch on the same threads (persistent), and unordered gives the same items', async () => {
    await using threads = workerPipeline<typeof numbers>(pipelines, 'numbers', { threads: 3, options: { count: 30 } });
    const loader = toLoader(threads);
    const epochs: Tagged[][] = [];
    for (let epoch = 0; epoch < 2; epoch++) {
      const items: Tagged[] = [];
      for await (const item of loader) items.push(item);
      epochs.push(items);
      assert.equal(threads.stats().threads, 3);
    }
    assert.deepEqual(
      epochs.map((items) => [...new Set(items.map((item) => item.epoch))]),
      [[0], [1]],
    );
    await using unordered = workerPipeline<typeof numbers>(pipelines, 'numbers', { threads: 3, ordered: false, options: { count: 30 } });
    const arrived = await collect(unordered);
    assert.deepEqual(
      arrived.map((item) => item.value).sort((a, b) => a - b),
      Array.from({ length: 30 }, (_, i) => i),
    );
  });

  it('issue 12: batches of a global shuffle read by index come out exactly as the main-thread pipeline gives them, for 1 to 3 threads', async () => {
    const options = { count: 203, batchSize: 8 };
    const dataset = itemsDataset(Array.from({ length: options.count }, (_, i) => i));
    const expected = async (epoch: number): Promise<number[][]> => {
      const loader = toLoader(
        fromRandomAccess(dataset, { sampler: globalShuffle({ seed: 5 }), batchSize: 8, endOfEpoch: 'wrap' }).pipe(
          batch(8),
          map((rows) => Array.from(rows)),
        ),
      );
      loader.epoch = epoch;
      return collect(loader);
    };
    for (const threads of [1, 2, 3]) {
      await using inThreads = workerPipeline<typeof shuffledBatches>(pipelines, 'shuffledBatches', { threads, seed: 5, options });
      const loader = toLoader(inThreads);
      for (const epoch of [0, 1]) {
        const batches: number[][] = [];
        for await (const rows of loader) {
          assert.ok(rows instanceof Float64Array, 'a typed array crosses threads as itself');
          batches.push(Array.from(rows));
        }
        assert.deepEqual(batches, await expected(epoch), `${threads} thread(s), epoch ${epoch}`);
      }
    }
  });

  it('issue 12: a throw in a part reaches the loop typed, after the items before it in the merged order; the other part is stopped', async () => {
    await using failingInThreads = workerPipeline<typeof failing>(pipelines, 'failing', {
      threads: 2,
      options: { count: 40, failAt: { worker: 1, item: 5 } },
    });
    const received: number[] = [];
    await assert.rejects(
      (async () => {
        for await (const value of toLoader(failingInThreads)) received.push(value);
      })(),
      (error: unknown) => {
        assert.ok(error instanceof WorkerPipelineError, String(error));
        assert.equal(error.code, 'RXFEED_ERR_WORKER_PIPELINE');
        assert.equal(error.remoteCode, 'RXFEED_ERR_DECODE');
        assert.equal(error.workerIndex, 1);
        assert.match(error.message, /pipelines\.js#failing: worker 1 failed: RxfeedError: cannot decode item 25/);
        assert.equal((error.cause as Error).message, 'cannot decode item 25');
        return true;
      },
    );
    // Worker 0's items 0..5 and worker 1's 20..24, one from each in turn, then worker 1's error.
    assert.deepEqual(
      received,
      roundRobin([
        [0, 1, 2, 3, 4, 5],
        [20, 21, 22, 23, 24],
      ]),
    );
    assert.equal(failingInThreads.stats().subscriptions, 0);
  });

  it('issue 12: a part that does not split its input fails typed at its first item; checkSplit: false lets each part read it all', async () => {
    await using everything = workerPipeline<typeof unsplit>(pipelines, 'unsplit', { threads: 2, options: { count: 10 } });
    await assert.rejects(collect(everything), (error: unknown) => {
      assert.ok(error instanceof WorkerPipelineError);
      assert.equal(error.remoteCode, 'RXFEED_ERR_WORKER_UNSPLIT');
      assert.match(error.message, /nothing in its pipeline split the input by worker .*each of the 2 threads would read the same items/);
      return true;
    });
    await using allowed = workerPipeline<typeof unsplit>(pipelines, 'unsplit', { threads: 2, checkSplit: false, options: { count: 10 } });
    assert.deepEqual(
      await collect(allowed),
      roundRobin([Array.from({ length: 10 }, (_, i) => i), Array.from({ length: 10 }, (_, i) => i)]),
    );
  });

  it('issue 12: a thread that dies fails the loop with RXFEED_ERR_WORKER_EXIT, and the next iteration runs on a new thread', async () => {
    await using dying = workerPipeline<typeof exits>(pipelines, 'exits', { threads: 2, options: { count: 20 } });
    const loader = toLoader(dying);
    await assert.rejects(collect(loader), (error: unknown) => {
      assert.ok(error instanceof WorkerPipelineError);
      assert.equal(error.code, 'RXFEED_ERR_WORKER_EXIT');
      assert.equal(error.workerIndex, 1);
      assert.match(error.message, /worker 1 its thread died: .*exited with code 3/);
      return true;
    });
    assert.equal(dying.stats().threads, 1, 'the dead thread left the pool');
    const values = Array.from({ length: 20 }, (_, i) => i);
    assert.deepEqual(await collect(loader), roundRobin([values.slice(0, 10), values.slice(10)]));
    assert.equal(dying.stats().threads, 2);
  });

  it('issue 12: under a consumer far slower than the parts, at most threads x credits + prefetch items are produced ahead of it', async () => {
    const produced = new Int32Array(new SharedArrayBuffer(4));
    const threads = 2;
    const credits = 3;
    const prefetch = 2;
    await using slowConsumer = workerPipeline<typeof counted>(pipelines, 'counted', {
      threads,
      credits,
      options: { count: 400, produced },
    });
    let consumed = 0;
    let most = 0;
    for await (const value of toLoader(slowConsumer, { prefetch })) {
      void value;
      consumed++;
      if (consumed % 10 === 0) await sleep(10); // the parts produce 100x faster than this
      const ahead = Atomics.load(produced, 0) - consumed;
      most = Math.max(most, ahead);
      assert.ok(ahead <= threads * credits + prefetch, `${ahead} items produced ahead of the consumer at item ${consumed}`);
      assert.ok(slowConsumer.stats().held <= threads * credits);
    }
    assert.equal(consumed, 400);
    assert.ok(most > prefetch, 'the parts did run ahead (the bound was reached, not trivially met)');
  });

  it('issue 12: break stops every part and returns only once each thread has closed its shard files', async () => {
    const scratch = scratchDir();
    try {
      const paths: string[] = [];
      for (let shard = 0; shard < 4; shard++) {
        const members = Array.from({ length: 50 }, (_, i) => ({
          name: `s${shard}-${String(i).padStart(3, '0')}.txt`,
          data: `${shard}:${i}`,
        }));
        paths.push(scratch.write(`shard-${shard}.tar`, await packTar(members)));
      }
      const openShards = (): string[] => openFilesUnder(scratch.dir);
      await using keys = workerPipeline<typeof shardKeys>(pipelines, 'shardKeys', { threads: 2, options: { paths } });
      let taken = 0;
      for await (const key of toLoader(keys)) {
        assert.equal(typeof key, 'string');
        if (++taken === 3) {
          assert.ok(openShards().length > 0, 'the parts are reading their shards');
          break;
        }
      }
      assert.deepEqual(openShards(), []);
      // Everything, ordered: shards 0 and 2 (worker 0) against 1 and 3 (worker 1), in turn.
      const all = await collect(keys);
      const mainThread = await lastValueFrom(
        fromWebDataset(paths).pipe(
          map((sample) => sample.__key__),
          toArray(),
        ),
      );
      assert.deepEqual(
        all,
        roundRobin([
          [...mainThread.slice(0, 50), ...mainThread.slice(100, 150)],
          [...mainThread.slice(50, 100), ...mainThread.slice(150)],
        ]),
      );
      assert.deepEqual(openShards(), []);
    } finally {
      scratch.cleanup();
    }
  });

  it("issue 12: aborting the loader's signal ends the loop with AbortedError once every part has stopped", async () => {
    await using numbersInThreads = workerPipeline<typeof numbers>(pipelines, 'numbers', { threads: 2, options: { count: 10_000 } });
    const abort = new AbortController();
    let received = 0;
    await assert.rejects(
      (async () => {
        for await (const item of toLoader(numbersInThreads, { signal: abort.signal })) {
          void item;
          if (++received === 5) abort.abort(new Error('stop now'));
        }
      })(),
      AbortedError,
    );
    assert.equal(received, 5);
    assert.deepEqual(numbersInThreads.stats(), { threads: 2, subscriptions: 0, held: 0 });
  });

  it('issue 12: close() ends an iteration in progress with ExecutorClosedError; later subscriptions fail the same way', async () => {
    const pipeline = workerPipeline<typeof numbers>(pipelines, 'numbers', { threads: 2, options: { count: 1000 } });
    const iterator = toLoader(pipeline)[Symbol.asyncIterator]();
    assert.equal((await iterator.next()).done, false);
    await pipeline.close();
    await assert.rejects(async () => {
      for (;;) if ((await iterator.next()).done === true) break;
    }, ExecutorClosedError);
    await assert.rejects(collect(pipeline), ExecutorClosedError);
    assert.equal(pipeline.stats().threads, 0);
  });

  it('issue 12: bad arguments fail typed when the pipeline is made, and a non-Observable export when it is read', async () => {
    assert.throws(() => workerPipeline(pipelines, 'numbers', { threads: 0 }), InvalidArgumentError);
    assert.throws(() => workerPipeline(pipelines, 'numbers', { credits: 1.5 }), InvalidArgumentError);
    assert.throws(() => workerPipeline('relative/module.js', 'numbers'), /workerPipeline\.module/);
    await using notObservable = workerPipeline(pipelines, 'notObservable', { threads: 1 });
    await assert.rejects(collect(notObservable), (error: unknown) => {
      assert.ok(error instanceof WorkerPipelineError);
      assert.equal(error.remoteCode, 'RXFEED_ERR_INVALID_ARG');
      assert.match(error.message, /pipelines\.js#notObservable must return an Observable or a promise of one, got 42/);
      return true;
    });
    await using missing = workerPipeline(pipelines, 'noSuchExport', { threads: 1 });
    await assert.rejects(collect(missing), /has no function export 'noSuchExport'/);
    await using unclonable = workerPipeline(pipelines, 'numbers', { threads: 1, options: { count: 1, f: () => 1 } as never });
    await assert.rejects(
      collect(unclonable),
      (error: unknown) => error instanceof InvalidArgumentError && /workerPipeline\.options/.test(error.message),
    );
    assert.ok(new WorkerPipelineError('m#e', 0, { name: 'Error', message: 'x' }) instanceof RxfeedError);
  });
});
