import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { filter, lastValueFrom, map, take, toArray, type Observable } from 'rxjs';
import { TestScheduler } from 'rxjs/testing';
import { batch } from '../../operators/batch.js';
import { fromItems, InvalidArgumentError, sizeOf, toLoader, withInfo } from '../../src/index.js';

const testScheduler = () => new TestScheduler((actual, expected) => assert.deepEqual(actual, expected));

/** A sample that records its own disposal, as a tfjs tensor would be released. */
class Held {
  constructor(
    readonly name: string,
    readonly log: string[],
  ) {}
  dispose(): void {
    this.log.push(`dispose ${this.name}`);
  }
}

const helds = (log: string[], names: string) =>
  Object.fromEntries([...names].map((name) => [name, new Held(name, log)])) as Record<string, Held>;

describe('batch', () => {
  it('emits arrays of `size` items as soon as each is full, and the rest at completion', () => {
    testScheduler().run(({ cold, expectObservable, expectSubscriptions }) => {
      const source = cold('      a-b-c-d-e-|');
      const expected = '         --x---y---(z|)';
      const subscriptions = '    ^---------!';
      expectObservable(source.pipe(batch(2))).toBe(expected, { x: ['a', 'b'], y: ['c', 'd'], z: ['e'] });
      expectSubscriptions(source.subscriptions).toBe(subscriptions);
    });
  });

  it('drops a short last batch with dropRemainder', () => {
    testScheduler().run(({ cold, expectObservable }) => {
      const source = cold('abcde|');
      expectObservable(source.pipe(batch(2, { dropRemainder: true }))).toBe('-x-y-|', { x: ['a', 'b'], y: ['c', 'd'] });
    });
  });

  it('emits no empty batch when the input ends on a batch boundary, or is empty', () => {
    testScheduler().run(({ cold, expectObservable }) => {
      expectObservable(cold('abcd|').pipe(batch(2))).toBe('-x-y|', { x: ['a', 'b'], y: ['c', 'd'] });
      expectObservable(cold('---|').pipe(batch(2))).toBe('---|');
    });
  });

  it('issue 12: batches made at their full size hold exactly their items, holes nowhere (undefined items kept)', async () => {
    const items = [1, undefined, 3, 4, undefined];
    const batches = await lastValueFrom(fromItems(items).pipe(batch(2), toArray()));
    assert.deepEqual(batches, [[1, undefined], [3, 4], [undefined]]);
    for (const one of batches) assert.deepEqual(Object.keys(one).length, one.length);
    // Above the presized bound, batches grow with what arrives.
    const large = await lastValueFrom(fromItems(Array.from({ length: 40_001 }, (_, i) => i)).pipe(batch(20_000), toArray()));
    assert.deepEqual(
      large.map((one) => one.length),
      [20_000, 20_000, 1],
    );
    assert.ok(large.flat().every((item, i) => item === i));
  });

  it('batch(1) wraps each item', () => {
    testScheduler().run(({ cold, expectObservable }) => {
      expectObservable(cold('a-b|').pipe(batch(1))).toBe('x-y|', { x: ['a'], y: ['b'] });
    });
  });

  it('passes an error on at once, disposing the partial batch', () => {
    const log: string[] = [];
    const items = helds(log, 'abc');
    testScheduler().run(({ cold, expectObservable, expectSubscriptions }) => {
      const source = cold('abc#', items);
      expectObservable(source.pipe(batch(2))).toBe('-x-#', { x: [items.a, items.b] });
      expectSubscriptions(source.subscriptions).toBe('^--!');
    });
    assert.deepEqual(log, ['dispose c']);
  });

  it('disposes the partial batch when unsubscribed, and releases the source then', () => {
    const log: string[] = [];
    const items = helds(log, 'abcde');
    testScheduler().run(({ cold, expectObservable, expectSubscriptions }) => {
      const source = cold('a-b-c-d-e|', items);
      const unsubscribe = '^----!';
      expectObservable(source.pipe(batch(2)), unsubscribe).toBe('--x---', { x: [items.a, items.b] });
      expectSubscriptions(source.subscriptions).toBe('^----!');
    });
    assert.deepEqual(log, ['dispose c']);
  });

  it('disposes the items dropped by dropRemainder', () => {
    const log: string[] = [];
    const items = helds(log, 'abc');
    testScheduler().run(({ cold, expectObservable }) => {
      expectObservable(cold('abc|', items).pipe(batch(2, { dropRemainder: true }))).toBe('-x-|', {
        x: [items.a, items.b],
      });
    });
    assert.deepEqual(log, ['dispose c']);
  });

  it('a take(n) downstream stops the source after the n-th batch, with nothing left to dispose', () => {
    const log: string[] = [];
    const items = helds(log, 'abcdef');
    testScheduler().run(({ cold, expectObservable, expectSubscriptions }) => {
      const source = cold('abcdef|', items);
      expectObservable(source.pipe(batch(3), take(1))).toBe('--(x|)', { x: [items.a, items.b, items.c] });
      expectSubscriptions(source.subscriptions).toBe('^-!');
    });
    assert.deepEqual(log, []);
  });

  it('carries the dataset size: ceil(n / size), or floor with dropRemainder; unknown stays unknown', () => {
    const sized = withInfo(fromItems([1]), { size: 10 });
    assert.equal(sizeOf(sized.pipe(batch(3))), 4);
    assert.equal(sizeOf(sized.pipe(batch(3, { dropRemainder: true }))), 3);
    assert.equal(sizeOf(sized.pipe(batch(5))), 2);
    assert.equal(sizeOf(fromItems([]).pipe(batch(4))), 0);
    assert.equal(sizeOf(fromItems([1, 2, 3]).pipe(filter(Boolean), batch(2))), undefined);
  });

  it('rejects a size that is not a positive integer', () => {
    for (const size of [0, -1, 1.5, Number.NaN, Infinity]) {
      assert.throws(() => batch(size), InvalidArgumentError);
    }
  });

  it('batches a real source through a loader, with backpressure, in order', async () => {
    const source: Observable<number> = fromItems(
      function* () {
        for (let i = 0; i < 10; i++) yield i;
      },
      { size: 10 },
    );
    const out: number[][] = [];
    const loader = toLoader(
      source.pipe(
        map((x) => x * 2),
        batch(4),
      ),
      { prefetch: 1 },
    );
    for await (const group of loader) out.push(group);
    assert.deepEqual(out, [
      [0, 2, 4, 6],
      [8, 10, 12, 14],
      [16, 18],
    ]);
    assert.deepEqual(await lastValueFrom(fromItems([1, 2, 3]).pipe(batch(2), toArray())), [[1, 2], [3]]);
  });
});
