import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { firstValueFrom, from, lastValueFrom, toArray } from 'rxjs';
import { parallelMap } from '../../../operators/parallelMap.js';
import { WorkerExitError, workerExecutor, WorkerTaskError, workerFn, type WorkerExecutor } from '../../../src/adapters/piscina.js';
import { TaskError } from '../../../src/errors.js';
import { fromItems } from '../../../src/index.js';
import type { exhaustAt, exitAt, exitLaterAt } from './fixtures/tasks.js';

const tasksModule = new URL('./fixtures/tasks.js', import.meta.url);

/** What each item's own `run` ended with: its value, or its error. */
async function outcomes(
  executor: WorkerExecutor,
  task: ReturnType<typeof workerFn<typeof exitAt>>,
  count: number,
): Promise<PromiseSettledResult<unknown>[]> {
  return Promise.allSettled(
    Array.from({ length: count }, (_, index) =>
      firstValueFrom(from(executor.run(task, 100 + index, { index, epoch: 0, signal: new AbortController().signal }))),
    ),
  );
}

/**
 * One thread, one message at a time, 8 items per message: item 0 goes alone (the queue is empty
 * when it arrives), items 1..8 wait for it and then travel together in one message.
 */
function oneThread(extra: Parameters<typeof workerExecutor>[0] = {}): WorkerExecutor {
  return workerExecutor({ threads: 1, tasksPerThread: 1, batchSize: 8, ...extra });
}

/** The error the pipeline ends with is the culprit's own WorkerExitError, a TaskError (issue 10). */
function assertBlame(error: unknown, culprit: number, detail: RegExp): void {
  assert.ok(error instanceof WorkerExitError, String(error));
  assert.ok(error instanceof WorkerTaskError);
  assert.ok(error instanceof TaskError);
  assert.equal(error.code, 'RXFEED_ERR_WORKER_EXIT');
  assert.equal(error.index, culprit);
  assert.equal(error.culprit, culprit);
  assert.match(error.message, new RegExp(`failed on item ${culprit}: .*thread died running this item`));
  assert.match(error.message, detail);
}

describe('workerExecutor: a worker thread that dies (issue 9.12)', () => {
  it('issue 9.12: process.exit on item 6, inside a message of items 1..8, is blamed on item 6', async () => {
    const executor = oneThread();
    try {
      const task = workerFn<typeof exitAt>(tasksModule, 'exitAt', { options: { at: 6 } });
      await assert.rejects(
        lastValueFrom(fromItems(Array.from({ length: 9 }, (_, i) => 100 + i)).pipe(parallelMap(task, { executor, concurrency: 16 }))),
        (error: unknown) => {
          assertBlame(error, 6, /exited with code: 3/);
          return true;
        },
      );
      // Each item's own answer: item 0 (its own message) delivered; 6 blamed; its neighbours lost, naming 6.
      const settled = await outcomes(executor, task, 9);
      assert.deepEqual(settled[0], { status: 'fulfilled', value: 100 });
      for (const [index, outcome] of settled.entries()) {
        if (index === 0) continue;
        assert.equal(outcome.status, 'rejected', `item ${index}`);
        const reason = (outcome as PromiseRejectedResult).reason as WorkerExitError;
        assert.ok(reason instanceof WorkerExitError, `item ${index}: ${String(reason)}`);
        assert.equal(reason.index, index);
        assert.equal(reason.culprit, 6, `item ${index}`);
        if (index !== 6) assert.match(reason.message, /lost: its worker thread died running item 6/);
      }
      // The pool replaced the thread: the executor keeps working.
      const again = await lastValueFrom(fromItems([1, 2, 3]).pipe(parallelMap(task, { executor }), toArray()));
      assert.deepEqual(again, [1, 2, 3]);
    } finally {
      await executor.close();
    }
  });

  it('issue 9.12: a thread out of memory on item 5 is blamed on item 5, with the worker error code', async () => {
    const executor = oneThread({ resourceLimits: { maxOldGenerationSizeMb: 32, maxYoungGenerationSizeMb: 4 } });
    try {
      const task = workerFn<typeof exhaustAt>(tasksModule, 'exhaustAt', { options: { at: 5 } });
      await assert.rejects(
        lastValueFrom(fromItems(Array.from({ length: 9 }, (_, i) => 100 + i)).pipe(parallelMap(task, { executor, concurrency: 16 }))),
        (error: unknown) => {
          assertBlame(error, 5, /memory limit/);
          assert.equal((error as WorkerExitError).remoteCode, 'ERR_WORKER_OUT_OF_MEMORY');
          return true;
        },
      );
    } finally {
      await executor.close();
    }
  });

  it('issue 9.12: an async task that exits after an await, with its message and another in flight, is blamed exactly', async () => {
    const executor = workerExecutor({ threads: 1, tasksPerThread: 2, batchSize: 8 });
    try {
      const task = workerFn<typeof exitLaterAt>(tasksModule, 'exitLaterAt', { options: { at: 11 } });
      await assert.rejects(
        lastValueFrom(fromItems(Array.from({ length: 20 }, (_, i) => i)).pipe(parallelMap(task, { executor, concurrency: 20 }))),
        (error: unknown) => {
          assertBlame(error, 11, /exited with code: 4/);
          return true;
        },
      );
    } finally {
      await executor.close();
    }
  });
});
