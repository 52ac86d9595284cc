import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { firstValueFrom, from, lastValueFrom, toArray } from 'rxjs';
import { parallelMap } from '../../../operators/parallelMap.js';
import { decodeImage } from '../../../src/adapters/decodeImage.js';
import {
  decodeImageFieldsTask,
  decodeImageTask,
  ExecutorClosedError,
  workerExecutor,
  WorkerTaskError,
  workerFn,
} from '../../../src/adapters/piscina.js';
import { InvalidArgumentError, TaskError } from '../../../src/errors.js';
import type { TaskContext } from '../../../src/executor.js';
import { fromItems, toLoader } from '../../../src/index.js';
import { digitJpegs, digitSamples } from '../../adapters/fixtures/sampleImages.js';
import type { failAt, hold, inspect, mix } from './fixtures/tasks.js';

const tasksModule = new URL('./fixtures/tasks.js', import.meta.url);
const executor = workerExecutor({ threads: 2 });
after(() => executor.close());

function byteItems(count: number): { bytes: Uint8Array }[] {
  return Array.from({ length: count }, (_, i) => ({ bytes: Uint8Array.from({ length: 64 + i }, (_, j) => (i * 31 + j) & 0xff) }));
}

function signalContext(index: number): TaskContext {
  return { index, epoch: 0, signal: new AbortController().signal };
}

describe('workerExecutor under parallelMap', () => {
  it('ordered output equals the single-thread output for the same seed', async () => {
    const task = workerFn<typeof mix>(tasksModule, 'mix', { seed: 11, options: { delayMs: 5 } });
    const threaded = await lastValueFrom(fromItems(byteItems(60)).pipe(parallelMap(task, { executor, concurrency: 8 }), toArray()));
    const { mix: mixHere } = await import('./fixtures/tasks.js');
    const single = await lastValueFrom(
      fromItems(byteItems(60)).pipe(
        parallelMap((value: { bytes: Uint8Array }, { index, epoch }) => mixHere(value, { index, epoch, seed: 11, options: undefined }), {
          concurrency: 1,
        }),
        toArray(),
      ),
    );
    const strip = ({ thread: _thread, ...rest }: { thread: number }): object => rest;
    assert.deepEqual(threaded.map(strip), single.map(strip));
    assert.deepEqual(
      threaded.map((r) => r.index),
      Array.from({ length: 60 }, (_, i) => i),
    );
    // The work really ran on worker threads, and on both of them.
    const threads = new Set(threaded.map((r) => r.thread));
    assert.ok(!threads.has(0), 'no task ran on the main thread');
    assert.equal(threads.size, 2);
  });

  it('decodes JPEGs in workers exactly as the main thread does (random crop and flip from the seed)', async () => {
    const options = { resize: [96, 96] as const, crop: { size: [80, 72] as const, random: true }, randomFlip: true };
    const decoded = await lastValueFrom(
      fromItems(await digitJpegs(24)).pipe(parallelMap(decodeImageTask(options, { seed: 5 }), { executor }), toArray()),
    );
    const jpegs = await digitJpegs(24);
    for (const [index, image] of decoded.entries()) {
      const here = await decodeImage(jpegs[index]!, { index, epoch: 0, seed: 5, options });
      assert.deepEqual(image.shape, [80, 72, 3]);
      assert.equal(image.dtype, 'uint8');
      assert.ok(image.data instanceof Uint8Array);
      assert.deepEqual(image.data, here.data, `item ${index}`);
    }
  });

  it('unordered mode delivers every item exactly once', async () => {
    const task = workerFn<typeof mix>(tasksModule, 'mix', { seed: 2, options: { delayMs: 9 } });
    const out = await lastValueFrom(
      fromItems(byteItems(80)).pipe(parallelMap(task, { executor, concurrency: 6, ordered: false }), toArray()),
    );
    assert.deepEqual(
      out.map((r) => r.index).sort((a, b) => a - b),
      Array.from({ length: 80 }, (_, i) => i),
    );
  });

  it('a for-await break leaves no thread busy, no pending task, and no thread killed', async () => {
    const task = workerFn<typeof hold>(tasksModule, 'hold', { options: { ms: 20 } });
    const completedBefore = executor.stats().completed;
    const items = Array.from({ length: 200 }, (_, i) => i);
    const seen: number[] = [];
    for await (const value of toLoader(fromItems(items).pipe(parallelMap(task, { executor, concurrency: 8 })))) {
      seen.push(value);
      if (seen.length === 5) break;
    }
    assert.deepEqual(seen, [0, 1, 2, 3, 4]);
    await executor.idle();
    const stats = executor.stats();
    assert.equal(stats.queued, 0);
    assert.equal(stats.running, 0);
    assert.equal(stats.poolQueued, 0);
    assert.equal(stats.threads, 2, 'running tasks were let finish, not aborted with their thread');
    // Queued tasks were dropped: far fewer than 200 ran (at most what was consumed, in flight and queued).
    const ran = stats.completed - completedBefore;
    assert.ok(ran <= 5 + 2 + 8, `ran ${ran} tasks`); // consumed + loader prefetch + parallelMap slots
    // The same threads keep working.
    const again = await lastValueFrom(fromItems([7, 8, 9]).pipe(parallelMap(task, { executor }), toArray()));
    assert.deepEqual(again, [7, 8, 9]);
    assert.equal(executor.stats().threads, 2);
  });

  it('issue 10: a failing worker task reaches the for-await loop as a WorkerTaskError, a TaskError with its codes', async () => {
    const task = workerFn<typeof failAt>(tasksModule, 'failAt', { options: { at: 3 } });
    await assert.rejects(
      (async () => {
        for await (const value of toLoader(fromItems([10, 11, 12, 13, 14, 15]).pipe(parallelMap(task, { executor, concurrency: 2 })))) {
          assert.ok(value < 13);
        }
      })(),
      (error: unknown) => {
        assert.ok(error instanceof WorkerTaskError, String(error));
        assert.ok(error instanceof TaskError);
        assert.equal(error.code, 'RXFEED_ERR_WORKER_TASK');
        assert.equal(error.index, 3);
        assert.equal(error.task, 'tasks.js#failAt');
        assert.equal(error.remoteCode, 'RXFEED_ERR_DECODE');
        assert.equal(error.message, 'worker task tasks.js#failAt failed on item 3: Error: bad item 13');
        // The task's own error, rebuilt from the worker thread.
        const cause = error.cause as Error & { code?: string };
        assert.equal(cause.message, 'bad item 13');
        assert.equal(cause.code, 'RXFEED_ERR_DECODE');
        return true;
      },
    );
    await executor.idle();
  });

  it('a decode error in a worker names the item and keeps the decode error code', async () => {
    const samples = await digitSamples();
    const items = samples.slice(0, 4).map((s) => ({ png: s.png, cls: s.cls }));
    items[2] = { png: new TextEncoder().encode('not an image at all'), cls: 0 };
    await assert.rejects(
      lastValueFrom(fromItems(items).pipe(parallelMap(decodeImageFieldsTask({ fields: ['png'] }), { executor }))),
      (error: unknown) => {
        assert.ok(error instanceof WorkerTaskError);
        assert.equal(error.index, 2);
        assert.equal(error.remoteCode, 'RXFEED_ERR_DECODE');
        assert.match(error.message, /decode item 2: field 'png'/);
        return true;
      },
    );
  });
});

describe('workerExecutor message batching', () => {
  it('sends queued items together, answers each one, and fails only the item that failed', async () => {
    const batching = workerExecutor({ threads: 1, tasksPerThread: 1, batchSize: 4 });
    try {
      const task = workerFn<typeof mix>(tasksModule, 'mix', { seed: 3 });
      const out = await lastValueFrom(fromItems(byteItems(30)).pipe(parallelMap(task, { executor: batching, concurrency: 16 }), toArray()));
      assert.deepEqual(
        out.map((r) => r.index),
        Array.from({ length: 30 }, (_, i) => i),
      );
      assert.equal(batching.stats().completed, 30);
      const failing = workerFn<typeof failAt>(tasksModule, 'failAt', { options: { at: 5 } });
      const seen: number[] = [];
      await assert.rejects(
        new Promise<void>((resolve, reject) => {
          fromItems(Array.from({ length: 12 }, (_, i) => 100 + i))
            .pipe(parallelMap(failing, { executor: batching, concurrency: 12 }))
            .subscribe({ next: (v) => seen.push(v), error: reject, complete: resolve });
        }),
        (error: unknown) => error instanceof TaskError && error.index === 5,
      );
      assert.deepEqual(seen, [100, 101, 102, 103, 104]);
      await batching.idle();
    } finally {
      await batching.close();
    }
  });
});

describe('workerExecutor transfers', () => {
  it('moves a buffer the item owns: the sender is left with a detached buffer', async () => {
    const bytes = Uint8Array.from([5, 6, 7, 8]);
    const task = workerFn<typeof inspect>(tasksModule, 'inspect');
    const seen = await firstValueFrom(from(executor.run(task, bytes, signalContext(0))));
    assert.deepEqual(seen, { byteLength: 4, first: 5, ownsBuffer: true });
    assert.equal(bytes.byteLength, 0, 'transferred, not cloned');
    assert.equal(bytes.buffer.byteLength, 0);
  });

  it('copies a pooled Node Buffer first, leaving the pool intact', async () => {
    const pooled = Buffer.from([9, 1, 2]);
    assert.ok(pooled.buffer.byteLength > pooled.byteLength, 'Buffer.from uses the shared pool');
    const task = workerFn<typeof inspect>(tasksModule, 'inspect');
    const seen = await firstValueFrom(from(executor.run(task, pooled, signalContext(0))));
    assert.deepEqual(seen, { byteLength: 3, first: 9, ownsBuffer: true });
    assert.deepEqual([...pooled], [9, 1, 2]);
  });

  it('moves the result back: each result array owns its buffer', async () => {
    const task = workerFn<typeof mix>(tasksModule, 'mix');
    const result = await firstValueFrom(from(executor.run(task, { bytes: Uint8Array.from([1, 2, 3]) }, signalContext(4))));
    assert.deepEqual([...result.doubled], [2, 4, 6]);
    assert.equal(result.doubled.buffer.byteLength, 3);
  });

  it('with transfer off, clones and leaves the sender intact', async () => {
    const cloning = workerExecutor({ threads: 1, transfer: false });
    try {
      const bytes = Uint8Array.from([1, 2]);
      const seen = await firstValueFrom(from(cloning.run(workerFn<typeof inspect>(tasksModule, 'inspect'), bytes, signalContext(0))));
      assert.equal(seen.byteLength, 2);
      assert.equal(bytes.byteLength, 2);
    } finally {
      await cloning.close();
    }
  });
});

describe('workerExecutor lifecycle and arguments', () => {
  it('defaults to availableParallelism() - 1 threads (at least 1), 2 messages of up to 8 items per thread', async () => {
    const { availableParallelism } = await import('node:os');
    const defaults = workerExecutor();
    try {
      const threads = Math.max(1, availableParallelism() - 1);
      assert.equal(defaults.pool.maxThreads, threads);
      assert.equal(defaults.concurrency, threads * 2 * 8 * 2);
    } finally {
      await defaults.close();
    }
  });

  it('refuses closures, relative module paths and bad thread counts', () => {
    assert.throws(() => executor.run((x: number) => x, 1, signalContext(0)), InvalidArgumentError);
    assert.throws(() => workerFn('./tasks.js', 'mix'), InvalidArgumentError);
    assert.throws(() => workerFn(new URL('https://example.com/tasks.js'), 'mix'), InvalidArgumentError);
    assert.throws(() => workerExecutor({ threads: 0 }), InvalidArgumentError);
  });

  it('issue 10: refuses a module that is no valid file URL or path with InvalidArgumentError, not a TypeError or URIError', () => {
    for (const module of ['file://host:99999999/tasks.js', '/tasks\uD800.js', 42 as unknown as string]) {
      assert.throws(
        () => workerFn(module, 'mix'),
        (error: unknown) => error instanceof InvalidArgumentError && error.argument === 'workerFn.module',
        String(module),
      );
    }
  });

  it('reports a missing export with the module and export names', async () => {
    const task = workerFn(tasksModule, 'noSuchExport');
    await assert.rejects(firstValueFrom(from(executor.run(task, 1, signalContext(6)))), (error: unknown) => {
      assert.ok(error instanceof WorkerTaskError);
      assert.equal(error.index, 6);
      assert.equal(error.remoteCode, 'RXFEED_ERR_INVALID_ARG');
      assert.match(error.message, /has no function export 'noSuchExport'/);
      return true;
    });
  });

  it('after close, tasks fail with ExecutorClosedError and the threads are gone', async () => {
    const closing = workerExecutor({ threads: 1 });
    const task = workerFn<typeof inspect>(tasksModule, 'inspect');
    assert.equal((await firstValueFrom(from(closing.run(task, Uint8Array.of(3), signalContext(0))))).first, 3);
    await closing.close();
    await assert.rejects(firstValueFrom(from(closing.run(task, Uint8Array.of(3), signalContext(0)))), ExecutorClosedError);
    assert.equal(closing.pool.threads.length, 0);
  });
});
