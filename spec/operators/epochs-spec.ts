import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { lastValueFrom, take, toArray, type Observable } from 'rxjs';
import { TestScheduler } from 'rxjs/testing';
import { epochs } from '../../operators/epochs.js';
import { fromItems, fromPuller, InvalidArgumentError, operate, parallelMap, prefetch, sizeOf, toLoader } from '../../src/index.js';

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

describe('epochs: the epoch the consumer sees (issue 10.2, 10.3)', () => {
  /** 20 items per epoch, each tagged with the epoch its subscription reads, pulled asynchronously. */
  const tagged = () =>
    fromPuller<{ epoch: number; i: number }>(({ epoch }) => {
      let i = 0;
      return { pull: async () => (i < 20 ? [{ epoch, i: i++ }] : null) };
    });

  it('onEpoch(e) fires after the consumer received all of epoch e - 1 and before any of epoch e', async () => {
    const events: string[] = [];
    const pipeline = tagged().pipe(
      epochs(2, { onEpoch: (epoch) => events.push(`onEpoch ${epoch}`) }),
      parallelMap(async (item: { epoch: number; i: number }) => item, { concurrency: 4 }),
      prefetch(3),
    );
    const perEpoch = new Map<number, number>();
    let current = -1;
    for await (const item of toLoader(pipeline, { prefetch: 4 })) {
      const announced = Number(events.at(-1)!.split(' ')[1]);
      assert.equal(item.epoch, announced, `item ${item.i} of epoch ${item.epoch} arrived after ${events.at(-1)}`);
      if (item.epoch !== current) current = item.epoch;
      perEpoch.set(item.epoch, (perEpoch.get(item.epoch) ?? 0) + 1);
    }
    assert.deepEqual(events, ['onEpoch 0', 'onEpoch 1']);
    assert.deepEqual(
      [...perEpoch],
      [
        [0, 20],
        [1, 20],
      ],
    );
  });

  it('a stage after epochs() reads the epoch of the item passing, not 0', async () => {
    const seen: string[] = [];
    const pipeline = tagged().pipe(
      epochs(3),
      parallelMap(async (item: { epoch: number; i: number }) => item),
      operateEpochProbe(seen),
    );
    await lastValueFrom(toLoader(pipeline).pipe(toArray()));
    assert.equal(seen.length, 60);
    assert.ok(
      seen.every((pair) => pair.split(':')[0] === pair.split(':')[1]),
      seen.find((p) => p.split(':')[0] !== p.split(':')[1]),
    );
  });

  it('re-iterating a loader with epochs(n) reads the next n epochs, not the same ones', async () => {
    const loader = toLoader(tagged().pipe(epochs(2)));
    const firstEpochs = new Set((await lastValueFrom(loader.pipe(toArray()))).map((item) => item.epoch));
    const secondEpochs = new Set((await lastValueFrom(loader.pipe(toArray()))).map((item) => item.epoch));
    assert.deepEqual([...firstEpochs], [0, 1]);
    assert.deepEqual([...secondEpochs], [2, 3]);
  });
});

/** Records, for each item, `<epoch the context reports>:<epoch the item belongs to>`. */
function operateEpochProbe(seen: string[]) {
  return (source: Observable<{ epoch: number; i: number }>) =>
    operate<{ epoch: number; i: number }, { epoch: number; i: number }>(source, (op) => {
      op.subscribe(source, {
        next: (item) => {
          seen.push(`${op.context.epoch}:${item.epoch}`);
          op.next(item);
        },
      });
    });
}
