import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { lastValueFrom, toArray } from 'rxjs';
import { TestScheduler } from 'rxjs/testing';
import { parallelMap } from '../../operators/parallelMap.js';
import { fromItems, InvalidArgumentError, sizeOf, TaskError, type Executor, type TaskReference } from '../../src/index.js';

const testScheduler = () => new TestScheduler((actual, expected) => assert.deepEqual(actual, expected));

describe('parallelMap', () => {
  it('keeps input order when later tasks finish first', () => {
    testScheduler().run(({ cold, expectObservable, expectSubscriptions }) => {
      const source = cold('  -a-b-c-|');
      const durations: Record<string, string> = { a: '-----(x|)', b: '-(y|)', c: '-----(z|)' };
      const results = { x: 'A', y: 'B', z: 'C' };
      const out = source.pipe(parallelMap((v: string) => cold(durations[v]!, results), { concurrency: 3 }));
      expectObservable(out).toBe('------(AB)(C|)');
      expectSubscriptions(source.subscriptions).toBe('^------!');
    });
  });

  it('emits as tasks finish when ordered is false', () => {
    testScheduler().run(({ cold, expectObservable }) => {
      const source = cold('-a-b-c-|');
      const durations: Record<string, string> = { a: '-----(x|)', b: '-(y|)', c: '--(z|)' };
      const out = source.pipe(
        parallelMap((v: string) => cold(durations[v]!, { x: 'A', y: 'B', z: 'C' }), { concurrency: 3, ordered: false }),
      );
      expectObservable(out).toBe('----B-A(C|)');
    });
  });

  it('runs at most `concurrency` tasks at once, queueing the rest', () => {
    testScheduler().run(({ cold, expectObservable }) => {
      const source = cold('(abc|)');
      const out = source.pipe(parallelMap((v: string) => cold('---(r|)', { r: v.toUpperCase() }), { concurrency: 1 }));
      expectObservable(out).toBe('---A--B--(C|)');
    });
  });

  it("issue 15: concurrency 'auto' starts at one task in flight; other words are refused", () => {
    testScheduler().run(({ cold, expectObservable }) => {
      const source = cold('(abc|)');
      const out = source.pipe(parallelMap((v: string) => cold('---(r|)', { r: v.toUpperCase() }), { concurrency: 'auto' }));
      expectObservable(out).toBe('---A--B--(C|)');
    });
    assert.throws(
      () => parallelMap((v: string) => v, { concurrency: 'fast' as 'auto' }),
      (error: unknown) => error instanceof InvalidArgumentError && error.argument === 'parallelMap.concurrency',
    );
  });

  it("issue 15: concurrency 'auto' of a worker task starts with one task per thread of the executor", () => {
    testScheduler().run(({ cold, expectObservable }) => {
      const executor: Executor = {
        concurrency: 16,
        threads: 2,
        run: <T, R>(_task: unknown, value: T) => cold('------(r|)', { r: value as unknown as R }),
      };
      const task: TaskReference<string, string> = { module: 'pool', exportName: 'upper' };
      const out = cold('(abcde|)').pipe(parallelMap(task, { concurrency: 'auto', executor }));
      expectObservable(out).toBe('------(ab)--(cd)--(e|)');
    });
  });

  it('wraps a failing task in a TaskError naming the item index', () => {
    testScheduler().run(({ cold, expectObservable }) => {
      const source = cold('-a-b-|');
      const boom = new Error('bad sample');
      const out = source.pipe(parallelMap((v: string) => (v === 'b' ? cold('-#', {}, boom) : cold('-(r|)', { r: v }))));
      expectObservable(out).toBe('--a-#', { a: 'a' }, new TaskError(1, boom));
    });
  });

  it('aborts running tasks and releases the source on unsubscribe', () => {
    testScheduler().run(({ cold, expectObservable, expectSubscriptions }) => {
      const source = cold('-a-b-c-d-|');
      const inner = cold('----(r|)', { r: 'R' });
      const signals: AbortSignal[] = [];
      const out = source.pipe(
        parallelMap(
          (_: string, { signal }) => {
            signals.push(signal);
            return inner;
          },
          { concurrency: 2 },
        ),
      );
      expectObservable(out, '^------!').toBe('-----R-');
      expectSubscriptions(source.subscriptions).toBe('^------!');
      expectSubscriptions(inner.subscriptions).toBe(['-^---!', '---^---!', '-----^-!']);
    });
  });

  it('passes the item index and epoch to each task, and keeps the size', async () => {
    const source = fromItems(['a', 'b', 'c']);
    const mapped = source.pipe(parallelMap(async (v: string, { index, epoch }) => `${v}${index}/${epoch}`));
    assert.equal(sizeOf(mapped), 3);
    assert.deepEqual(await lastValueFrom(mapped.pipe(toArray())), ['a0/0', 'b1/0', 'c2/0']);
  });

  it('gives the same order whatever each task takes (ordered mode)', async () => {
    const run = async (jitter: (i: number) => number) =>
      lastValueFrom(
        fromItems(Array.from({ length: 50 }, (_, i) => i)).pipe(
          parallelMap(
            async (v: number) => {
              await new Promise((resolve) => setTimeout(resolve, jitter(v)));
              return v * 2;
            },
            { concurrency: 8 },
          ),
          toArray(),
        ),
      );
    const fastFirst = await run((i) => i % 5);
    const slowFirst = await run((i) => 5 - (i % 5));
    assert.deepEqual(
      fastFirst,
      Array.from({ length: 50 }, (_, i) => i * 2),
    );
    assert.deepEqual(slowFirst, fastFirst);
  });

  it('disposes finished results it will never emit', () => {
    const disposed: string[] = [];
    const result = (name: string) => ({ name, dispose: () => disposed.push(name) });
    testScheduler().run(({ cold, expectObservable }) => {
      const source = cold('(abcd|)');
      const out = source.pipe(parallelMap((v: string) => cold(v === 'a' ? '-----(r|)' : '-(r|)', { r: result(v) }), { concurrency: 4 }));
      // b, c and d finish at frame 1 but wait for a, which is still running when the consumer leaves.
      expectObservable(out, '^--!').toBe('');
    });
    assert.deepEqual(disposed, ['b', 'c', 'd']);
  });
});
