import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { lastValueFrom, take, toArray, type Observable } from 'rxjs';
import { TestScheduler } from 'rxjs/testing';
import { interleave } from '../../operators/interleave.js';
import { zipShards } from '../../operators/zipShards.js';
import { InvalidArgumentError } from '../../src/errors.js';
import { sizeOf } from '../../src/info.js';
import { toLoader } from '../../src/loader.js';
import { Random } from '../../src/random.js';
import { fromItems } from '../../sources/core/fromItems.js';
import { fromPuller } from '../../sources/core/fromPuller.js';

const testScheduler = () => new TestScheduler((actual, expected) => assert.deepEqual(actual, expected));

async function ticks(count: number): Promise<void> {
  for (let i = 0; i < count; i++) await new Promise((resolve) => setImmediate(resolve));
}

/** tf.data's InterleaveDatasetOp, transcribed over arrays: the order `interleave` must give. */
function referenceInterleave<T>(sources: readonly (readonly T[])[], cycleLength: number, blockLength: number): T[] {
  const out: T[] = [];
  const current: ({ items: readonly T[]; position: number } | undefined)[] = new Array(cycleLength).fill(undefined);
  let cycleIndex = 0;
  let blockIndex = 0;
  let nextInput = 0;
  let open = 0;
  const advance = (): void => {
    blockIndex = 0;
    cycleIndex = (cycleIndex + 1) % cycleLength;
  };
  while (nextInput < sources.length || open > 0) {
    const element = current[cycleIndex];
    if (element !== undefined) {
      if (element.position < element.items.length) {
        out.push(element.items[element.position++]!);
        if (++blockIndex === blockLength) advance();
        continue;
      }
      current[cycleIndex] = undefined;
      open--;
      advance();
    } else if (nextInput < sources.length) {
      current[cycleIndex] = { items: sources[nextInput++]!, position: 0 };
      open++;
    } else {
      advance();
    }
  }
  return out;
}

/** Sources whose pulls take a varying number of event-loop turns, with open/close bookkeeping. */
class Bookkeeping {
  opened = 0;
  closed = 0;
  pulled = 0;
  maxOpen = 0;

  source<T>(items: readonly T[], delay: (index: number) => number = () => 0): Observable<T> {
    return fromPuller<T>(
      () => {
        this.opened++;
        this.maxOpen = Math.max(this.maxOpen, this.opened - this.closed);
        let next = 0;
        return {
          pull: async () => {
            const wait = delay(next);
            if (wait > 0) await ticks(wait);
            if (next >= items.length) return null;
            this.pulled++;
            return [items[next++]!];
          },
          close: () => {
            this.closed++;
          },
        };
      },
      { size: items.length },
    );
  }
}

describe('interleave', () => {
  it("gives tf.data's documented order (cycle_length 2, block_length 4)", async () => {
    // tf.data: Dataset.range(1, 6).interleave(lambda x: from_tensors(x).repeat(6), 2, 4)
    const sources = [1, 2, 3, 4, 5].map((x) => fromItems(new Array<number>(6).fill(x)));
    const out = await lastValueFrom(interleave(sources, { cycleLength: 2, blockLength: 4 }).pipe(toArray()));
    assert.deepEqual(out, [1, 1, 1, 1, 2, 2, 2, 2, 1, 1, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 3, 3, 4, 4, 5, 5, 5, 5, 5, 5]);
  });

  it('opens the first cycle at subscribe and each next source when a visited one has ended', () => {
    testScheduler().run(({ cold, expectObservable, expectSubscriptions }) => {
      const s1 = cold('-a-b|');
      const s2 = cold('--c|');
      const s3 = cold('-d|');
      expectObservable(interleave([s1, s2, s3], { cycleLength: 2 })).toBe('-acbd|');
      expectSubscriptions(s1.subscriptions).toBe('^---!');
      expectSubscriptions(s2.subscriptions).toBe('^--!');
      expectSubscriptions(s3.subscriptions).toBe('---^-!');
    });
  });

  it('waits for the source whose turn it is, holding what the others sent', () => {
    testScheduler().run(({ cold, expectObservable }) => {
      const slow = cold('-----a-----b-----|');
      const fast = cold('(xyz|)');
      expectObservable(interleave([slow, fast], { cycleLength: 2 })).toBe('-----(ax)--(by)--(z|)');
    });
  });

  it('calls source factories only when their turn to be opened comes', () => {
    const calls: string[] = [];
    const scheduler = testScheduler();
    scheduler.run(({ cold, expectObservable }) => {
      const make = (name: string, marbles: string) => () => {
        calls.push(`${name}@${scheduler.now()}`);
        return cold(marbles);
      };
      const out = interleave([make('p', '-a|'), make('q', '---b|')], { cycleLength: 1 });
      expectObservable(out).toBe('-a---b|');
    });
    assert.deepEqual(calls, ['p@0', 'q@2']);
  });

  it("matches tf.data's order for any timing of the sources", async () => {
    const random = new Random(21);
    for (let round = 0; round < 25; round++) {
      const count = 1 + random.int(6);
      const lists = Array.from({ length: count }, (_, s) => Array.from({ length: random.int(7) }, (_, i) => `${s}.${i}`));
      const cycleLength = 1 + random.int(4);
      const blockLength = 1 + random.int(3);
      const expected = referenceInterleave(lists, cycleLength, blockLength);
      const books = new Bookkeeping();
      const delays = lists.map(() => Array.from({ length: 8 }, () => random.int(4)));
      const sources = lists.map((items, s) => books.source(items, (i) => delays[s]![i]!));
      const out: string[] = [];
      for await (const value of toLoader(interleave(sources, { cycleLength, blockLength }), { prefetch: 2 })) {
        out.push(value);
      }
      assert.deepEqual(out, expected, `round ${round}: cycle ${cycleLength}, block ${blockLength}`);
      assert.equal(books.closed, books.opened);
      assert.ok(books.maxOpen <= cycleLength);
    }
  });

  it('lets other sources read ahead (one item each) while one source stalls', async () => {
    let release: (() => void) | undefined;
    let stalledPulls = 0;
    const stalled = fromPuller<string>(() => ({
      pull: () => {
        stalledPulls++;
        if (stalledPulls === 1) return ['s0'];
        if (stalledPulls === 2) return new Promise<readonly string[]>((resolve) => (release = () => resolve(['s1'])));
        return null;
      },
    }));
    const books = new Bookkeeping();
    const others = [books.source(['a0', 'a1', 'a2']), books.source(['b0', 'b1', 'b2'])];
    const iterator = toLoader(interleave([stalled, ...others], { cycleLength: 3 }), { prefetch: 1 })[Symbol.asyncIterator]();
    const first: string[] = [];
    for (let i = 0; i < 3; i++) first.push((await iterator.next()).value as string);
    assert.deepEqual(first, ['s0', 'a0', 'b0']);
    await ticks(10);
    // The stalled source's turn: the others have read exactly one item ahead each, no more.
    assert.equal(books.pulled, 4);
    release!();
    const rest: string[] = [];
    for (;;) {
      const result = await iterator.next();
      if (result.done) break;
      rest.push(result.value);
    }
    assert.deepEqual(rest, ['s1', 'a1', 'b1', 'a2', 'b2']);
  });

  it('bounds the items pulled ahead of a slow consumer by prefetch + cycleLength, also for sources opened later', async () => {
    const books = new Bookkeeping();
    const lists = Array.from({ length: 7 }, (_, s) => Array.from({ length: 30 }, (_, i) => s * 100 + i));
    const cycleLength = 3;
    const prefetch = 2;
    let consumed = 0;
    let maxAhead = 0;
    const out: number[] = [];
    for await (const value of toLoader(
      interleave(
        lists.map((items) => books.source(items)),
        { cycleLength },
      ),
      { prefetch },
    )) {
      consumed++;
      out.push(value);
      maxAhead = Math.max(maxAhead, books.pulled - consumed);
      await ticks(5);
    }
    assert.deepEqual(out, referenceInterleave(lists, cycleLength, 1));
    assert.ok(maxAhead <= prefetch + cycleLength, `pulled ${maxAhead} items ahead`);
    assert.ok(maxAhead >= cycleLength, 'sources read ahead');
    assert.equal(books.opened, 7);
    assert.equal(books.closed, 7);
    assert.ok(books.maxOpen <= cycleLength);
  });

  it('nests inside other fan-in operators, each level keeping its bound', async () => {
    const books = new Bookkeeping();
    const lists = Array.from({ length: 8 }, (_, s) => Array.from({ length: 20 }, (_, i) => s * 100 + i));
    const left = interleave(
      lists.slice(0, 4).map((items) => books.source(items)),
      { cycleLength: 2 },
    );
    const right = interleave(
      lists.slice(4).map((items) => books.source(items)),
      { cycleLength: 2 },
    );
    const prefetch = 2;
    let consumed = 0;
    let maxAhead = 0;
    const pairs: [number, number][] = [];
    for await (const pair of toLoader(zipShards([left, right]), { prefetch })) {
      pairs.push(pair);
      consumed += 2;
      maxAhead = Math.max(maxAhead, books.pulled - consumed);
      await ticks(5);
    }
    assert.deepEqual(
      pairs,
      referenceInterleave(lists.slice(0, 4), 2, 1).map((value, i) => [value, referenceInterleave(lists.slice(4), 2, 1)[i]]),
    );
    // Loader: 2 pairs (4 items); zipShards: one item per side; each interleave: one per open source.
    assert.ok(maxAhead <= 2 * prefetch + 2 + 2 * 2, `pulled ${maxAhead} items ahead`);
    assert.equal(books.closed, books.opened);
  });

  it('releases every open source on take(n), and opens no more', async () => {
    const books = new Bookkeeping();
    const sources = Array.from({ length: 5 }, (_, s) => books.source([s, s, s, s]));
    const out = await lastValueFrom(interleave(sources, { cycleLength: 2 }).pipe(take(3), toArray()));
    assert.deepEqual(out, [0, 1, 0]);
    assert.equal(books.opened, 2);
    assert.equal(books.closed, 2);
  });

  it('on an error, releases every other source and disposes the items queued here', () => {
    const disposed: string[] = [];
    const item = (name: string) => ({ name, dispose: () => disposed.push(name) });
    testScheduler().run(({ cold, expectObservable, expectSubscriptions }) => {
      const boom = new Error('corrupt shard');
      const s1 = cold('-----#', {}, boom);
      const s2 = cold('-x----y|', { x: item('x'), y: item('y') });
      expectObservable(interleave<unknown>([s1, s2], { cycleLength: 2 })).toBe('-----#', undefined, boom);
      expectSubscriptions(s1.subscriptions).toBe('^----!');
      expectSubscriptions(s2.subscriptions).toBe('^----!');
    });
    assert.deepEqual(disposed, ['x']);
  });

  it('releases every source and disposes queued items when the consumer breaks', async () => {
    let closed = 0;
    let disposed = 0;
    let created = 0;
    const source = () =>
      fromPuller<{ dispose(): void }>(() => ({
        pull: () => {
          created++;
          return [{ dispose: () => void disposed++ }];
        },
        close: async () => {
          await ticks(2);
          closed++;
        },
      }));
    let taken = 0;
    for await (const item of toLoader(interleave([source(), source(), source()], { cycleLength: 3 }), { prefetch: 2 })) {
      void item;
      if (++taken === 4) break;
    }
    assert.equal(closed, 3, 'every source closed before break returned');
    // Every item read was either consumed or disposed: queued ones here, and the loader's.
    assert.ok(disposed >= 3, `${disposed} disposed`);
    assert.equal(taken + disposed, created);
  });

  it('completes at once without sources, and sums known sizes', async () => {
    assert.deepEqual(await lastValueFrom(interleave<number>([], { cycleLength: 2 }).pipe(toArray())), []);
    assert.equal(sizeOf(interleave([fromItems([1, 2]), fromItems([3])], { cycleLength: 2 })), 3);
    assert.equal(sizeOf(interleave([fromItems([1, 2]), () => fromItems([3])], { cycleLength: 2 })), undefined);
  });

  it('checks cycleLength and blockLength', () => {
    assert.throws(
      () => interleave([], {} as { cycleLength: number }),
      (error: unknown) => {
        assert.ok(error instanceof InvalidArgumentError);
        assert.equal(error.argument, 'interleave.cycleLength');
        return true;
      },
    );
    assert.throws(() => interleave([], { cycleLength: 0 }), InvalidArgumentError);
    assert.throws(() => interleave([], { cycleLength: 2, blockLength: 0 }), InvalidArgumentError);
  });
});
