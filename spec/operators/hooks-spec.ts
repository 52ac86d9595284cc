import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { lastValueFrom, take, toArray } from 'rxjs';
import { TestScheduler } from 'rxjs/testing';
import { hooks, SkipItem } from '../../operators/hooks.js';
import { fromItems, sizeOf } from '../../src/index.js';

const testScheduler = () => new TestScheduler((actual, expected) => assert.deepEqual(actual, expected));

describe('hooks', () => {
  it('calls the fastai callbacks in order around batching', async () => {
    const calls: string[] = [];
    const out = await lastValueFrom(
      fromItems([1, 2, 3, 4, 5]).pipe(
        hooks(2, {
          beforeIter: () => calls.push('beforeIter'),
          afterItem: (x) => (calls.push(`afterItem ${x}`), x * 10),
          beforeBatch: (xs) => (calls.push(`beforeBatch ${xs}`), xs),
          collate: (xs) => xs.reduce((a, b) => a + b, 0),
          afterBatch: (sum) => (calls.push(`afterBatch ${sum}`), sum),
          afterIter: () => calls.push('afterIter'),
        }),
        toArray(),
      ),
    );
    assert.deepEqual(out, [30, 70, 50]);
    assert.deepEqual(calls, [
      'beforeIter',
      'afterItem 1',
      'afterItem 2',
      'beforeBatch 10,20',
      'afterBatch 30',
      'afterItem 3',
      'afterItem 4',
      'beforeBatch 30,40',
      'afterBatch 70',
      'afterItem 5',
      'beforeBatch 50',
      'afterBatch 50',
      'afterIter',
    ]);
  });

  it('drops items whose afterItem throws SkipItem, and fails on any other error', () => {
    testScheduler().run(({ cold, expectObservable }) => {
      const values = { a: 1, b: -1, c: 2, d: 3 };
      const skipNegative = (x: number) => {
        if (x < 0) throw new SkipItem('negative');
        return x;
      };
      expectObservable(cold('abcd|', values).pipe(hooks(2, { afterItem: skipNegative }))).toBe('--x-(y|)', {
        x: [1, 2],
        y: [3],
      });
      const boom = new Error('decode failed');
      const failing = (x: number) => {
        if (x < 0) throw boom;
        return x;
      };
      expectObservable(cold('abcd|', values).pipe(hooks(2, { afterItem: failing }))).toBe('-#', {}, boom);
    });
  });

  it('runs afterIter only when the subscription completes, and drops a remainder when asked', async () => {
    let afterIter = 0;
    await lastValueFrom(fromItems([1, 2, 3, 4]).pipe(hooks(2, { afterIter: () => afterIter++ }), take(1)));
    assert.equal(afterIter, 0);
    const out = await lastValueFrom(fromItems([1, 2, 3]).pipe(hooks(2, { dropRemainder: true }), toArray()));
    assert.deepEqual(out, [[1, 2]]);
  });

  it('knows its size unless items can be skipped', () => {
    assert.equal(sizeOf(fromItems([1, 2, 3]).pipe(hooks(2))), 2);
    assert.equal(sizeOf(fromItems([1, 2, 3]).pipe(hooks(2, { dropRemainder: true }))), 1);
    assert.equal(sizeOf(fromItems([1, 2, 3]).pipe(hooks(2, { afterItem: (x) => x }))), undefined);
  });
});
