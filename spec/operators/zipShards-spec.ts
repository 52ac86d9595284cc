import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { lastValueFrom, take, toArray, type Observable } from 'rxjs';
import { TestScheduler } from 'rxjs/testing';
import { zipShards } from '../../operators/zipShards.js';
import { sizeOf } from '../../src/info.js';
import { toLoader } from '../../src/loader.js';
import { Random } from '../../src/random.js';
import { fromItems } from '../../sources/core/fromItems.js';
import { fromPuller } from '../../sources/core/fromPuller.js';

const testScheduler = () => new TestScheduler((actual, expected) => assert.deepEqual(actual, expected));

async function ticks(count: number): Promise<void> {
  for (let i = 0; i < count; i++) await new Promise((resolve) => setImmediate(resolve));
}

/** A source over `items` that counts pulls and closes; pulls may take some event-loop turns. */
function counted<T>(items: readonly T[], delay: (i: number) => number = () => 0) {
  const counts = { pulled: 0, opened: 0, closed: 0 };
  const source = fromPuller<T>(
    () => {
      counts.opened++;
      let next = 0;
      return {
        pull: async () => {
          const wait = delay(next);
          if (wait > 0) await ticks(wait);
          if (next >= items.length) return null;
          counts.pulled++;
          return [items[next++]!];
        },
        close: () => void counts.closed++,
      };
    },
    { size: items.length },
  );
  return { source, counts };
}

const range = (n: number, offset = 0): number[] => Array.from({ length: n }, (_, i) => i + offset);

describe('zipShards', () => {
  it('emits a tuple once every source has an item, and completes when one ends', () => {
    testScheduler().run(({ cold, expectObservable, expectSubscriptions }) => {
      const images = cold('-a--b-c|');
      const labels = cold('--x-y|');
      expectObservable(zipShards([images, labels])).toBe('--t-u|', { t: ['a', 'x'], u: ['b', 'y'] });
      expectSubscriptions(images.subscriptions).toBe('^----!');
      expectSubscriptions(labels.subscriptions).toBe('^----!');
    });
  });

  it('emits what an ended source still had waiting before completing', () => {
    testScheduler().run(({ cold, expectObservable, expectSubscriptions }) => {
      const short = cold('(ab|)');
      const long = cold('-x--y--z|');
      expectObservable(zipShards([short, long])).toBe('-t--(u|)', { t: ['a', 'x'], u: ['b', 'y'] });
      expectSubscriptions(long.subscriptions).toBe('^---!');
    });
  });

  it('disposes the items the other sources had waiting when it completes', () => {
    const disposed: string[] = [];
    const item = (name: string) => ({ name, dispose: () => disposed.push(name) });
    const [a, x, y, z] = [item('a'), item('x'), item('y'), item('z')];
    testScheduler().run(({ cold, expectObservable, expectSubscriptions }) => {
      const one = cold('-a|', { a });
      const many = cold('(xyz|)', { x, y, z });
      expectObservable(zipShards([one, many])).toBe('-t|', { t: [a, x] });
      expectSubscriptions(one.subscriptions).toBe('^-!');
    });
    assert.deepEqual(disposed.sort(), ['y', 'z']);
  });

  it('pairs items by position whatever the timing of each source', async () => {
    const random = new Random(3);
    const delays = [range(60).map(() => random.int(4)), range(60).map(() => random.int(4)), range(60).map(() => random.int(4))];
    const a = counted(range(50), (i) => delays[0]![i]!);
    const b = counted(range(60, 100), (i) => delays[1]![i]!);
    const c = counted(range(55, 200).map(String), (i) => delays[2]![i]!);
    const tuples: [number, number, string][] = [];
    for await (const tuple of toLoader(zipShards([a.source, b.source, c.source]), { prefetch: 2 })) tuples.push(tuple);
    assert.deepEqual(
      tuples,
      range(50).map((i) => [i, i + 100, String(i + 200)]),
    );
    for (const { counts } of [a, b, c]) assert.deepEqual([counts.opened, counts.closed], [1, 1]);
  });

  it('bounds the items each source has pulled ahead of a slow consumer by prefetch + 1', async () => {
    const sources = [counted(range(80)), counted(range(80)), counted(range(80))];
    const prefetch = 2;
    let consumed = 0;
    let maxAhead = 0;
    for await (const tuple of toLoader(zipShards(sources.map(({ source }) => source)), { prefetch })) {
      assert.equal(tuple[0], consumed);
      consumed++;
      for (const { counts } of sources) maxAhead = Math.max(maxAhead, counts.pulled - consumed);
      await ticks(5);
    }
    assert.equal(consumed, 80);
    assert.ok(maxAhead <= prefetch + 1, `a source pulled ${maxAhead} items ahead`);
    assert.ok(maxAhead >= 1);
  });

  it('lets the other sources read one item ahead while one stalls', async () => {
    let release: (() => void) | undefined;
    let pulls = 0;
    const stalled = fromPuller<string>(() => ({
      pull: () => {
        pulls++;
        if (pulls === 1) return ['s0'];
        if (pulls === 2) return new Promise<readonly string[]>((resolve) => (release = () => resolve(['s1'])));
        return null;
      },
    }));
    const others = [counted(range(5)), counted(range(5))];
    const iterator = toLoader(zipShards([stalled, others[0]!.source, others[1]!.source]), { prefetch: 1 })[Symbol.asyncIterator]();
    assert.deepEqual((await iterator.next()).value, ['s0', 0, 0]);
    await ticks(10);
    // One tuple out, one waiting in the loader would need `s1`: the others hold exactly one each.
    for (const { counts } of others) assert.equal(counts.pulled, 2);
    release!();
    assert.deepEqual((await iterator.next()).value, ['s1', 1, 1]);
    assert.equal((await iterator.next()).done, true);
    for (const { counts } of others) assert.equal(counts.closed, 1);
  });

  it('releases every source on take(n) and on an error', async () => {
    const sources = [counted(range(10)), counted(range(10))];
    const out = await lastValueFrom(zipShards([sources[0]!.source, sources[1]!.source]).pipe(take(3), toArray()));
    assert.deepEqual(out, [
      [0, 0],
      [1, 1],
      [2, 2],
    ]);
    for (const { counts } of sources) assert.deepEqual([counts.opened, counts.closed], [1, 1]);

    testScheduler().run(({ cold, expectObservable, expectSubscriptions }) => {
      const boom = new Error('truncated shard');
      const good = cold('-a-b-c-d|');
      const bad = cold('-x-#', undefined, boom);
      expectObservable(zipShards([good, bad])).toBe('-t-#', { t: ['a', 'x'] }, boom);
      expectSubscriptions(good.subscriptions).toBe('^--!');
    });
  });

  it('closes every source before a `break` returns', async () => {
    let closed = 0;
    const slowClose = (): Observable<number> =>
      fromPuller<number>(() => {
        let next = 0;
        return {
          pull: () => [next++],
          close: async () => {
            await ticks(3);
            closed++;
          },
        };
      });
    let seen = 0;
    for await (const tuple of toLoader(zipShards([slowClose(), slowClose(), slowClose()]))) {
      void tuple;
      if (++seen === 4) break;
    }
    assert.equal(closed, 3);
  });

  it('knows the smallest size, and completes at once without sources', async () => {
    assert.equal(sizeOf(zipShards([fromItems([1, 2, 3]), fromItems(['a', 'b'])])), 2);
    assert.equal(sizeOf(zipShards([fromItems([1, 2, 3]), fromItems(() => [1])])), undefined);
    assert.equal(sizeOf(zipShards([])), 0);
    assert.deepEqual(await lastValueFrom(zipShards([]).pipe(toArray())), []);
  });
});
