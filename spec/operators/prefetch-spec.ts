import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { lastValueFrom, toArray } from 'rxjs';
import { TestScheduler } from 'rxjs/testing';
import { prefetch } from '../../operators/prefetch.js';
import { fromItems, fromPuller, InvalidArgumentError, PREFETCH_AUTO_INITIAL, sizeOf, toLoader } from '../../src/index.js';

const testScheduler = () => new TestScheduler((actual, expected) => assert.deepEqual(actual, expected));

describe('prefetch', () => {
  it('delivers every item, in order, one per scheduler task', () => {
    testScheduler().run(({ cold, expectObservable, expectSubscriptions }) => {
      const source = cold('a-(bc|)');
      expectObservable(source.pipe(prefetch(4))).toBe('a-(bc|)');
      expectSubscriptions(source.subscriptions).toBe('^-!');
    });
  });

  it('does not hold back an error behind queued items', () => {
    testScheduler().run(({ cold, expectObservable }) => {
      expectObservable(cold('(ab#)').pipe(prefetch(4))).toBe('#');
    });
  });

  it('keeps the size and rejects a missing or bad buffer size', () => {
    assert.equal(sizeOf(fromItems([1, 2, 3]).pipe(prefetch(2))), 3);
    assert.throws(() => prefetch(0), InvalidArgumentError);
  });

  it('pauses the source when full: pulled minus consumed stays within its bound plus the loader queue', async () => {
    let pulled = 0;
    let consumed = 0;
    let maxAhead = 0;
    const source = fromPuller<number>(() => ({
      pull: () => (pulled < 200 ? [pulled++] : null),
    }));
    for await (const item of toLoader(source.pipe(prefetch(5)), { prefetch: 2 })) {
      consumed++;
      maxAhead = Math.max(maxAhead, pulled - consumed);
      assert.equal(item, consumed - 1);
      await new Promise((resolve) => setImmediate(resolve));
    }
    assert.equal(consumed, 200);
    // Bound: prefetch's 5 + the loader's 2 + one single-item chunk.
    assert.ok(maxAhead <= 8, `ran ${maxAhead} items ahead`);
  });

  it("issue 15: prefetch('auto') (and the loader's prefetch 'auto') start at PREFETCH_AUTO_INITIAL items", async () => {
    const readAhead = async (buffer: number | 'auto', queue: number | 'auto'): Promise<number> => {
      let pulled = 0;
      const source = fromPuller<number>(() => ({ pull: () => (pulled < 100 ? [pulled++] : null) }));
      const iterator = toLoader(source.pipe(prefetch(buffer)), { prefetch: queue })[Symbol.asyncIterator]();
      assert.deepEqual(await iterator.next(), { value: 0, done: false });
      for (let i = 0; i < 20; i++) await new Promise((resolve) => setImmediate(resolve));
      await iterator.return!();
      return pulled;
    };
    assert.equal(PREFETCH_AUTO_INITIAL, 2);
    assert.equal(await readAhead('auto', 'auto'), await readAhead(PREFETCH_AUTO_INITIAL, PREFETCH_AUTO_INITIAL));
    assert.throws(
      () => prefetch('fast' as 'auto'),
      (error: unknown) => error instanceof InvalidArgumentError && error.argument === 'prefetch.bufferSize',
    );
  });

  it('disposes queued items when the consumer leaves', async () => {
    const disposed: number[] = [];
    const items = Array.from({ length: 10 }, (_, i) => ({ i, dispose: () => disposed.push(i) }));
    for await (const item of toLoader(fromItems(items).pipe(prefetch(4)), { prefetch: 1 })) {
      if (item.i === 0) break;
    }
    // Item 0 was delivered; every other one was pulled (one chunk of the array) and is disposed
    // exactly once, wherever it waited: the source's chunk, prefetch's queue or the loader's.
    assert.deepEqual(
      [...disposed].sort((a, b) => a - b),
      [1, 2, 3, 4, 5, 6, 7, 8, 9],
    );
    assert.deepEqual(await lastValueFrom(fromItems([1, 2]).pipe(prefetch(1), toArray())), [1, 2]);
  });
});
