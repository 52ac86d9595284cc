import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setImmediate as setImmediateP } from 'node:timers/promises';
import { lastValueFrom, take, toArray, type Observable } from 'rxjs';
import { TestScheduler } from 'rxjs/testing';
import { batch } from '../../operators/batch.js';
import { interleave } from '../../operators/interleave.js';
import { parallelMap } from '../../operators/parallelMap.js';
import { prefetch } from '../../operators/prefetch.js';
import { zipShards } from '../../operators/zipShards.js';
import { InvalidArgumentError } from '../../src/errors.js';
import { sizeOf } from '../../src/info.js';
import { toLoader, type Loader } from '../../src/loader.js';
import { LoaderStateError, type LoaderState } from '../../src/loaderState.js';
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

describe('interleave in a loader state (issue 13)', () => {
  const range = (n: number): number[] => Array.from({ length: n }, (_, i) => i);

  it('issue 13: resumed after any number of batches, with items of finished inputs still downstream, the items equal an uninterrupted run', async () => {
    const random = new Random(31);
    let reopened = 0; // resumes that had to read a finished input again for its emitted items
    for (let trial = 0; trial < 60; trial++) {
      const lengths = Array.from({ length: 1 + random.int(5) }, () => random.int(12));
      const cycleLength = 1 + random.int(3);
      const blockLength = 1 + random.int(3);
      const delayed = random.int(2) === 1;
      const batchSize = 1 + random.int(4);
      const subscribed = lengths.map(() => 0);
      const make = (state?: LoaderState): Loader<number[]> => {
        let items: Observable<number> = interleave(
          lengths.map((length, input) => () => {
            subscribed[input]!++;
            return fromItems(
              range(length).map((i) => input * 1000 + i),
              { chunkSize: 2 },
            );
          }),
          { cycleLength, blockLength },
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
      subscribed.fill(0);
      for await (const rows of make(saved)) seen.push(...rows);
      assert.deepEqual(seen, whole, JSON.stringify({ lengths, cycleLength, blockLength, delayed, batchSize, stopAfter }));
      const part = Object.entries(saved.parts).find(([key]) => key.startsWith('interleave#'))?.[1] as
        { nextInput: number; slotInputs: number[] } | undefined;
      if (part !== undefined && subscribed.some((count, input) => count > 0 && input < part.nextInput && !part.slotInputs.includes(input)))
        reopened++;
    }
    assert.ok(reopened > 0, 'some resumes read a finished input again for the items it had emitted');
  });

  it('issue 13: a state saved by an interleave of another cycle is refused', async () => {
    const inputs = () => [fromItems(range(5)), fromItems(range(5)), fromItems(range(5))];
    const first = toLoader(interleave(inputs(), { cycleLength: 2 }));
    let saved: LoaderState | undefined;
    for await (const _item of first) {
      saved = first.state();
      break;
    }
    await assert.rejects(
      lastValueFrom(toLoader(interleave(inputs(), { cycleLength: 3 }), { state: saved }).pipe(toArray())),
      (error: unknown) =>
        error instanceof LoaderStateError && error.code === 'RXFEED_ERR_STATE_MISMATCH' && error.part === 'interleave#0@0',
    );
  });
});
