import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { concatMap, from, lastValueFrom, take, toArray, type Observable } from 'rxjs';
import { TestScheduler } from 'rxjs/testing';
import { concatSources } from '../../operators/concatSources.js';
import { bindContext } from '../../src/context.js';
import { Flow } from '../../src/flow.js';
import { sizeOf } from '../../src/info.js';
import { toLoader } from '../../src/loader.js';
import { fromItems } from '../../sources/core/fromItems.js';
import { fromPuller } from '../../sources/core/fromPuller.js';

const testScheduler = () => new TestScheduler((actual, expected) => assert.deepEqual(actual, expected));

async function ticks(count: number): Promise<void> {
  for (let i = 0; i < count; i++) await new Promise((resolve) => setImmediate(resolve));
}

const range = (n: number, offset = 0): number[] => Array.from({ length: n }, (_, i) => i + offset);

/** Shard-like sources over consecutive ranges that share pull/open/close counters and log epochs. */
function shards(count: number, length: number) {
  const counts = { pulled: 0, opened: 0, closed: 0, epochs: [] as number[] };
  const sources = range(count).map((s) =>
    fromPuller<number>(
      ({ epoch }) => {
        counts.opened++;
        counts.epochs.push(epoch);
        let next = 0;
        return {
          pull: () => {
            if (next >= length) return null;
            counts.pulled++;
            return [s * length + next++];
          },
          close: () => void counts.closed++,
        };
      },
      { size: length },
    ),
  );
  return { sources, counts };
}

/** Consume slowly through a loader; returns the items and the most items pulled but not consumed. */
async function consumeSlowly(source: Observable<number>, pulled: () => number, prefetch: number) {
  const out: number[] = [];
  let maxAhead = 0;
  for await (const value of toLoader(source, { prefetch })) {
    out.push(value);
    maxAhead = Math.max(maxAhead, pulled() - out.length);
    await ticks(3);
  }
  return { out, maxAhead };
}

describe('concatSources', () => {
  it('subscribes each source only when the previous one completes', () => {
    testScheduler().run(({ cold, expectObservable, expectSubscriptions }) => {
      const a = cold('-a-b|');
      const b = cold('--c|');
      const c = cold('d|');
      expectObservable(concatSources(a, b, c)).toBe('-a-b--cd|');
      expectSubscriptions(a.subscriptions).toBe('^---!');
      expectSubscriptions(b.subscriptions).toBe('----^--!');
      expectSubscriptions(c.subscriptions).toBe('-------^!');
    });
  });

  it('on an error, stops and never subscribes the later sources', () => {
    testScheduler().run(({ cold, expectObservable, expectSubscriptions }) => {
      const boom = new Error('unreadable shard');
      const a = cold('-a|');
      const b = cold('--#', undefined, boom);
      const c = cold('-c|');
      expectObservable(concatSources(a, b, c)).toBe('-a--#', undefined, boom);
      expectSubscriptions(b.subscriptions).toBe('--^-!');
      expectSubscriptions(c.subscriptions).toBe([]);
    });
  });

  it('on unsubscribe, releases the open source and subscribes no other', () => {
    testScheduler().run(({ cold, expectObservable, expectSubscriptions }) => {
      const a = cold('-a|');
      const b = cold('-b-c-d|');
      const c = cold('-e|');
      expectObservable(concatSources(a, b, c).pipe(take(3))).toBe('-a-b-(c|)');
      expectSubscriptions(b.subscriptions).toBe('--^--!');
      expectSubscriptions(c.subscriptions).toBe([]);
    });
  });

  it('goes through many sources that complete synchronously without growing the stack', async () => {
    const sources = range(10_000).map((i) => fromItems([i]));
    const out = await lastValueFrom(concatSources(...sources).pipe(toArray()));
    assert.deepEqual(out, range(10_000));
  });

  it('keeps run-ahead within the gauge for every source, where a plain concatMap does not', async () => {
    const prefetch = 2;
    const plain = shards(3, 100);
    const unbounded = await consumeSlowly(from(plain.sources).pipe(concatMap((source) => source)), () => plain.counts.pulled, prefetch);
    // Measured here to show the problem this operator solves: after the first source, concatMap
    // subscribes outside the loader's context, so the next source reads to its end at once.
    assert.deepEqual(unbounded.out, range(300));
    assert.ok(unbounded.maxAhead >= 99, `plain concatMap pulled ${unbounded.maxAhead} ahead`);

    const bound = shards(3, 100);
    const { out, maxAhead } = await consumeSlowly(concatSources(...bound.sources), () => bound.counts.pulled, prefetch);
    assert.deepEqual(out, range(300));
    // The loader's queue plus one pulled chunk (a single item here): this operator holds nothing.
    assert.ok(maxAhead <= prefetch + 1, `concatSources pulled ${maxAhead} ahead`);
    assert.deepEqual([bound.counts.opened, bound.counts.closed], [3, 3]);
  });

  it('passes the epoch it was subscribed in to every source', async () => {
    const { sources, counts } = shards(3, 2);
    const out = await bindContext({ flow: new Flow(), epoch: 4 }, () => lastValueFrom(concatSources(...sources).pipe(toArray())));
    assert.deepEqual(out, range(6));
    assert.deepEqual(counts.epochs, [4, 4, 4]);
  });

  it('closes the open source before a `break` returns, and opens no further one', async () => {
    const events: string[] = [];
    const source = (name: string) =>
      fromPuller<string>(() => {
        events.push(`open ${name}`);
        let next = 0;
        return {
          pull: () => (next < 3 ? [`${name}${next++}`] : null),
          close: async () => {
            await ticks(2);
            events.push(`close ${name}`);
          },
        };
      });
    for await (const value of toLoader(concatSources(source('a'), source('b'), source('c')))) {
      if (value === 'b1') break;
    }
    events.push('after break');
    assert.deepEqual(events, ['open a', 'close a', 'open b', 'close b', 'after break']);
  });

  it('sums known sizes', () => {
    assert.equal(sizeOf(concatSources(fromItems([1, 2]), fromItems([3]))), 3);
    assert.equal(
      sizeOf(
        concatSources(
          fromItems([1, 2]),
          fromItems(() => [3]),
        ),
      ),
      undefined,
    );
    assert.equal(sizeOf(concatSources()), 0);
  });
});
