import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { lastValueFrom, take, toArray } from 'rxjs';
import { TestScheduler } from 'rxjs/testing';
import { epochs } from '../../operators/epochs.js';
import { fromItems, fromPuller, InvalidArgumentError, sizeOf } from '../../src/index.js';

const testScheduler = () => new TestScheduler((actual, expected) => assert.deepEqual(actual, expected));

describe('epochs', () => {
  it('re-subscribes the source once per epoch', () => {
    testScheduler().run(({ cold, expectObservable, expectSubscriptions }) => {
      const source = cold('-a-b|');
      expectObservable(source.pipe(epochs(3))).toBe('-a-b-a-b-a-b|');
      expectSubscriptions(source.subscriptions).toBe(['^---!', '----^---!', '--------^---!']);
    });
  });

  it('tells each subscription its epoch number, from `start`', async () => {
    const seen: number[] = [];
    const source = fromPuller<number>(({ epoch }) => {
      let done = false;
      return { pull: () => (done ? null : ((done = true), [epoch])) };
    });
    assert.deepEqual(await lastValueFrom(source.pipe(epochs(3, { start: 2, onEpoch: (e) => seen.push(e) }), toArray())), [2, 3, 4]);
    assert.deepEqual(seen, [2, 3, 4]);
  });

  it('repeats a synchronous source many times without growing the stack, and stops on take', async () => {
    const out = await lastValueFrom(fromItems([1]).pipe(epochs(), take(100_000), toArray()));
    assert.equal(out.length, 100_000);
  });

  it('multiplies a known size, and knows none for an endless repeat', () => {
    assert.equal(sizeOf(fromItems([1, 2, 3]).pipe(epochs(4))), 12);
    assert.equal(sizeOf(fromItems([1, 2, 3]).pipe(epochs())), undefined);
    assert.throws(() => epochs(-1), InvalidArgumentError);
  });
});
