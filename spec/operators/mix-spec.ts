import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setImmediate as setImmediateP } from 'node:timers/promises';
import { lastValueFrom, take, toArray, type Observable } from 'rxjs';
import { TestScheduler } from 'rxjs/testing';
import { batch } from '../../operators/batch.js';
import { mix } from '../../operators/mix.js';
import { parallelMap } from '../../operators/parallelMap.js';
import { prefetch } from '../../operators/prefetch.js';
import { bindContext } from '../../src/context.js';
import { InvalidArgumentError } from '../../src/errors.js';
import { Flow } from '../../src/flow.js';
import { sizeOf } from '../../src/info.js';
import { toLoader, type Loader } from '../../src/loader.js';
import { LoaderStateError, type LoaderState } from '../../src/loaderState.js';
import { deriveSeed, Random } from '../../src/random.js';
import { fromItems } from '../../sources/core/fromItems.js';
import { fromPuller } from '../../sources/core/fromPuller.js';

const testScheduler = () => new TestScheduler((actual, expected) => assert.deepEqual(actual, expected));

async function ticks(count: number): Promise<void> {
  for (let i = 0; i < count; i++) await new Promise((resolve) => setImmediate(resolve));
}

function collect<T>(source: Observable<T>, epoch = 0): Promise<T[]> {
  return bindContext({ flow: new Flow(), epoch }, () => lastValueFrom(source.pipe(toArray())));
}

/**
 * The documented contract, over arrays: per item, draw `random.next() * total` and walk the live
 * weights; a chosen exhausted list is dropped (or ends everything with stopOnEmpty).
 */
function referenceMix<T>(lists: readonly (readonly T[])[], weights: readonly number[], seed: number, epoch = 0, stopOnEmpty = false): T[] {
  const random = new Random(deriveSeed(seed, epoch));
  const live = [...weights];
  const positions = lists.map(() => 0);
  const out: T[] = [];
  for (;;) {
    const total = live.reduce((sum, weight) => sum + weight, 0);
    if (total === 0) return out;
    let point = random.next() * total;
    let chosen = -1;
    for (let i = 0; i < live.length; i++) {
      if (live[i] === 0) continue;
      chosen = i;
      point -= live[i]!;
      if (point < 0) break;
    }
    if (positions[chosen]! < lists[chosen]!.length) {
      out.push(lists[chosen]![positions[chosen]!++]!);
    } else if (stopOnEmpty) {
      return out;
    } else {
      live[chosen] = 0;
    }
  }
}

/** Sources over arrays whose pulls take varying event-loop turns, with open/close counts. */
class Bookkeeping {
  opened = 0;
  closed = 0;
  pulled = 0;

  source<T>(items: readonly T[] | 'endless', make: (i: number) => T, delay: (i: number) => number = () => 0): Observable<T> {
    return fromPuller<T>(() => {
      this.opened++;
      let next = 0;
      return {
        pull: async () => {
          const wait = delay(next);
          if (wait > 0) await ticks(wait);
          if (items !== 'endless' && next >= items.length) return null;
          this.pulled++;
          const value = items === 'endless' ? make(next) : items[next]!;
          next++;
          return [value];
        },
        close: () => {
          this.closed++;
        },
      };
    });
  }
}

const letters = (prefix: string, n: number): string[] => Array.from({ length: n }, (_, i) => `${prefix}${i}`);

describe('mix', () => {
  it('subscribes every source of positive weight at once, and never one of weight 0', () => {
    testScheduler().run(({ cold, expectObservable, expectSubscriptions }) => {
      const a = cold('-a-b|');
      const unused = cold('-x|');
      expectObservable(mix([a, unused], [2, 0], { seed: 1 })).toBe('-a-b|');
      expectSubscriptions(a.subscriptions).toBe('^---!');
      expectSubscriptions(unused.subscriptions).toBe([]);
    });
  });

  it('drops an exhausted source and goes on with the others', () => {
    testScheduler().run(({ cold, expectObservable, expectSubscriptions }) => {
      // With weights 1 : 1e-12 the seeded draws pick `a` until it is found exhausted at frame 4.
      const a = cold('-a-b|');
      const b = cold('------x-y|');
      expectObservable(mix([a, b], [1, 1e-12], { seed: 1 })).toBe('-a-b--x-y|');
      expectSubscriptions(a.subscriptions).toBe('^---!');
      expectSubscriptions(b.subscriptions).toBe('^--------!');
    });
  });

  it('with stopOnEmpty, completes when a chosen source is exhausted and releases the others', () => {
    testScheduler().run(({ cold, expectObservable, expectSubscriptions }) => {
      const a = cold('-a-b|');
      const b = cold('------x-y|');
      expectObservable(mix([a, b], [1, 1e-12], { seed: 1, stopOnEmpty: true })).toBe('-a-b|');
      expectSubscriptions(a.subscriptions).toBe('^---!');
      expectSubscriptions(b.subscriptions).toBe('^---!');
    });
  });

  it('chooses the source first, then waits for it: the order follows the seed, not the timing', () => {
    // `fast` has everything ready at once; the draws still decide, so a `slow` item comes first
    // whenever `slow` is drawn first.
    const expected = referenceMix(
      [
        ['a', 'b', 'c'],
        ['x', 'y', 'z'],
      ],
      [1, 1],
      5,
    );
    let out: string[] = [];
    testScheduler().run(({ cold }) => {
      const slow = cold('---a---b---c|');
      const fast = cold('(xyz|)');
      mix([slow, fast], [1, 1], { seed: 5 })
        .pipe(toArray())
        .subscribe((all) => (out = all));
    });
    assert.deepEqual(out, expected);
    assert.notEqual(expected[0], 'x', 'this seed draws `slow` first');
  });

  it('matches the reference draws for any timing of the sources', async () => {
    const random = new Random(8);
    for (let round = 0; round < 20; round++) {
      const count = 1 + random.int(4);
      const lists = Array.from({ length: count }, (_, s) => letters(`${s}:`, random.int(12)));
      const weights = lists.map(() => 0.1 + random.int(5));
      const stopOnEmpty = random.int(2) === 1;
      const seed = random.int(1000);
      const expected = referenceMix(lists, weights, seed, 0, stopOnEmpty);
      const books = new Bookkeeping();
      const delays = lists.map(() => Array.from({ length: 13 }, () => random.int(4)));
      const sources = lists.map((items, s) =>
        books.source(
          items,
          () => '',
          (i) => delays[s]![i]!,
        ),
      );
      const out: string[] = [];
      for await (const value of toLoader(mix(sources, weights, { seed, stopOnEmpty }), { prefetch: 2 })) out.push(value);
      assert.deepEqual(out, expected, `round ${round}`);
      assert.equal(books.closed, books.opened);
      // Also the same as reading the arrays synchronously.
      assert.deepEqual(
        await collect(
          mix(
            lists.map((items) => fromItems(items)),
            weights,
            { seed, stopOnEmpty },
          ),
        ),
        expected,
      );
    }
  });

  it('draws in proportion to the weights and renormalises when a source runs out', async () => {
    const endless = (name: string) =>
      fromItems(function* () {
        for (let i = 0; ; i++) yield `${name}${i}`;
      });
    const out = await collect(mix([endless('a'), endless('b')], [0.7, 0.3], { seed: 11 }).pipe(take(10_000)));
    const share = out.filter((value) => value.startsWith('a')).length / out.length;
    assert.ok(Math.abs(share - 0.7) < 0.02, `share of a: ${share}`);
    // A runs out after 100: from then on everything comes from the others, in their own order.
    const finite = await collect(mix([fromItems(letters('a', 100)), fromItems(letters('b', 400))], [0.9, 0.1], { seed: 2 }));
    assert.equal(finite.length, 500);
    assert.deepEqual(
      finite.filter((v) => v.startsWith('a')),
      letters('a', 100),
    );
    assert.deepEqual(
      finite.filter((v) => v.startsWith('b')),
      letters('b', 400),
    );
    assert.ok(finite.slice(0, 100).filter((v) => v.startsWith('a')).length > 80);
  });

  it('repeats for the same (seed, epoch) and differs across epochs', async () => {
    const lists = [letters('a', 30), letters('b', 30), letters('c', 30)];
    const run = (epoch: number, seed = 6) =>
      collect(
        mix(
          lists.map((items) => fromItems(items)),
          [1, 2, 3],
          { seed },
        ),
        epoch,
      );
    const first = await run(0);
    assert.deepEqual(first, referenceMix(lists, [1, 2, 3], 6));
    assert.deepEqual(await run(0), first);
    assert.notDeepEqual(await run(1), first);
    assert.deepEqual(await run(1), referenceMix(lists, [1, 2, 3], 6, 1));
    assert.notDeepEqual(await run(0, 7), first);
    const unseeded = mix(
      lists.map((items) => fromItems(items)),
      [1, 2, 3],
    );
    assert.notDeepEqual(await collect(unseeded), await collect(unseeded));
  });

  it('bounds the items pulled ahead of a slow consumer by prefetch + number of sources', async () => {
    const books = new Bookkeeping();
    const sources = ['a', 'b', 'c', 'd'].map((name) => books.source(letters(name, 40), () => ''));
    const prefetch = 2;
    let consumed = 0;
    let maxAhead = 0;
    for await (const value of toLoader(mix(sources, [4, 3, 2, 1], { seed: 3 }), { prefetch })) {
      void value;
      consumed++;
      maxAhead = Math.max(maxAhead, books.pulled - consumed);
      await ticks(5);
    }
    assert.equal(consumed, 160);
    assert.ok(maxAhead <= prefetch + sources.length, `pulled ${maxAhead} items ahead`);
    assert.ok(maxAhead >= sources.length, 'every source read ahead');
    assert.equal(books.closed, 4);
  });

  it('releases every source on take(n), and disposes the items queued here', async () => {
    let opened = 0;
    let closed = 0;
    let pulled = 0;
    let disposed = 0;
    // Synchronous pulls, so that no pull is in flight when the mix ends: every item read is
    // either emitted or disposed.
    const source = () =>
      fromPuller(() => {
        opened++;
        return {
          pull: () => {
            pulled++;
            return [{ dispose: () => void disposed++ }];
          },
          close: () => void closed++,
        };
      });
    const out = await collect(mix([source(), source(), source()], [1, 1, 1], { seed: 5 }).pipe(take(5)));
    assert.equal(out.length, 5);
    assert.equal(opened, 3);
    assert.equal(closed, 3);
    assert.ok(disposed >= 2, `${disposed} disposed`);
    assert.equal(out.length + disposed, pulled);
  });

  it('on an error, releases the other sources', () => {
    testScheduler().run(({ cold, expectObservable, expectSubscriptions }) => {
      const boom = new Error('bad record');
      const a = cold('--#', {}, boom);
      const b = cold('-x-----y|');
      expectObservable(mix([a, b], [1, 1], { seed: 1 }).pipe(toArray())).toBe('--#', undefined, boom);
      expectSubscriptions(b.subscriptions).toBe('^-!');
    });
  });

  it('sums the sizes of the sources of positive weight, unless stopOnEmpty', () => {
    const sources = [fromItems([1, 2]), fromItems([3, 4, 5]), fromItems([6])];
    assert.equal(sizeOf(mix(sources, [1, 1, 0])), 5);
    assert.equal(sizeOf(mix(sources, [1, 1, 0], { stopOnEmpty: true })), undefined);
    assert.equal(sizeOf(mix([fromItems([1]), fromItems(() => [2])], [1, 1])), undefined);
  });

  it('checks weights and seed', () => {
    const sources = [fromItems([1]), fromItems([2])];
    assert.throws(
      () => mix(sources, [1]),
      (error: unknown) => {
        assert.ok(error instanceof InvalidArgumentError);
        assert.equal(error.argument, 'mix.weights');
        return true;
      },
    );
    assert.throws(() => mix(sources, [1, -1]), InvalidArgumentError);
    assert.throws(() => mix(sources, [1, Number.NaN]), InvalidArgumentError);
    assert.throws(() => mix(sources, [0, 0]), InvalidArgumentError);
    assert.throws(() => mix(sources, [1, 1], { seed: 1.5 }), InvalidArgumentError);
  });
});

describe('mix in a loader state (issue 13)', () => {
  const range = (n: number): number[] => Array.from({ length: n }, (_, i) => i);
  it('issue 13: resumed after any number of batches (inputs dropped or not, items downstream or not), the items equal an uninterrupted run', async () => {
    const random = new Random(21);
    for (let trial = 0; trial < 60; trial++) {
      const inputs = 1 + random.int(3);
      const lengths = Array.from({ length: inputs }, () => random.int(50));
      const weights = lengths.map(() => (random.int(6) === 0 ? 0 : 0.1 + random.next()));
      if (!weights.some((weight) => weight > 0)) weights[0] = 1;
      const stopOnEmpty = random.int(3) === 0;
      const delayed = random.int(2) === 1;
      const batchSize = 1 + random.int(5);
      const make = (state?: LoaderState): Loader<number[]> => {
        let items: Observable<number> = mix(
          lengths.map((length, input) =>
            fromItems(
              range(length).map((i) => input * 1000 + i),
              { chunkSize: 3 },
            ),
          ),
          weights,
          { seed: 4, stopOnEmpty },
        );
        if (delayed)
          items = items.pipe(
            parallelMap(async (i: number) => (await setImmediateP(), i), { concurrency: 3 }),
            prefetch(3),
          );
        return toLoader(items.pipe(batch(batchSize)), { state });
      };
      const whole: number[] = [];
      for await (const rows of make()) whole.push(...rows);
      const stopAfter = random.int(Math.ceil(whole.length / batchSize) + 1);
      const seen: number[] = [];
      const first = make();
      let saved = first.state();
      if (stopAfter > 0) {
        let batches = 0;
        for await (const rows of first) {
          seen.push(...rows);
          if (++batches === stopAfter) break;
        }
        saved = JSON.parse(JSON.stringify(first.state())) as LoaderState;
      }
      for await (const rows of make(saved)) seen.push(...rows);
      assert.deepEqual(seen, whole, JSON.stringify({ lengths, weights, stopOnEmpty, delayed, batchSize, stopAfter }));
    }
  });

  it('issue 13: a state saved by a mix of other inputs is refused', async () => {
    const first = toLoader(mix([fromItems(range(5)), fromItems(range(5))], [1, 1], { seed: 1 }));
    let saved: LoaderState | undefined;
    for await (const _item of first) {
      saved = first.state();
      break;
    }
    const other = toLoader(mix([fromItems(range(5)), fromItems(range(5)), fromItems(range(5))], [1, 1, 1], { seed: 1 }), { state: saved });
    await assert.rejects(
      lastValueFrom(other.pipe(toArray())),
      (error: unknown) => error instanceof LoaderStateError && error.code === 'RXFEED_ERR_STATE_MISMATCH' && error.part === 'mix#0@0',
    );
  });
});
