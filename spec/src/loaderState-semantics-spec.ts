import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { filter, map, type Observable } from 'rxjs';
import { batch } from '../../operators/batch.js';
import { prefetch } from '../../operators/prefetch.js';
import { shuffleBuffer } from '../../operators/shuffleBuffer.js';
import { toLoader } from '../../src/loader.js';
import { LoaderStateError, type LoaderState } from '../../src/loaderState.js';
import { fromItems } from '../../sources/core/fromItems.js';
import { fromPuller } from '../../sources/core/fromPuller.js';
import type { PullContext } from '../../sources/core/puller.js';

const range = (n: number): number[] => Array.from({ length: n }, (_, i) => i);
const roundTrip = (state: LoaderState): LoaderState => JSON.parse(JSON.stringify(state)) as LoaderState;

/** Items 0..n-1 from a puller with bookmarks (chunk start indices), counting what it hands out. */
function bookmarked(n: number, chunkSize: number): { source: Observable<number>; opened: PullContext[]; pulledItems: () => number } {
  const opened: PullContext[] = [];
  let pulledItems = 0;
  const source = fromPuller<number>((context) => {
    opened.push(context);
    let next = typeof context.resumeAt === 'number' ? context.resumeAt : 0;
    let chunkStart = next;
    return {
      pull: () => {
        if (next >= n) return null;
        chunkStart = next;
        const chunk = range(Math.min(chunkSize, n - next)).map((i) => next + i);
        next += chunk.length;
        pulledItems += chunk.length;
        return chunk;
      },
      bookmark: () => chunkStart,
    };
  });
  return { source, opened, pulledItems: () => pulledItems };
}

describe('Loader.state: what the consumer received (issue 13)', () => {
  it('issue 13: inside the loop it includes the item in hand; resumed, the rest follows exactly', async () => {
    const pipeline = (): Observable<number[]> => fromItems(range(50), { chunkSize: 7 }).pipe(prefetch(5), batch(4));
    const loader = toLoader(pipeline(), { prefetch: 3 });
    const seen: number[] = [];
    let saved: LoaderState | undefined;
    for await (const rows of loader) {
      seen.push(...rows);
      if (seen.length === 12) {
        saved = roundTrip(loader.state());
        break;
      }
    }
    for await (const rows of toLoader(pipeline(), { state: saved })) seen.push(...rows);
    assert.deepEqual(seen, range(50));
  });

  it('issue 13: after a break it says where that loop stopped; after a completed loop, the next epoch from its start', async () => {
    const loader = toLoader(fromItems(range(10)));
    assert.deepEqual(loader.state(), { format: 'rxfeed.loader-state', version: 1, epoch: 0, parts: {} });
    let count = 0;
    for await (const _item of loader) if (++count === 4) break;
    const afterBreak = loader.state();
    assert.equal(afterBreak.epoch, 0);
    const resumed: number[] = [];
    for await (const item of toLoader(fromItems(range(10)), { state: afterBreak })) resumed.push(item);
    assert.deepEqual(resumed, [4, 5, 6, 7, 8, 9]);

    for await (const _item of loader) count++; // epoch 1, whole
    assert.deepEqual(loader.state(), { format: 'rxfeed.loader-state', version: 1, epoch: 2, parts: {} });
  });

  it('issue 13: a resumed loader reads the saved epoch and says so before it starts; its next loop is the epoch after', async () => {
    const pipeline = () => fromItems(range(20)).pipe(shuffleBuffer(5, { seed: 3 }));
    const reference = toLoader(pipeline());
    reference.epoch = 4;
    const epoch4: number[] = [];
    for await (const item of reference) epoch4.push(item);
    const epoch5: number[] = [];
    for await (const item of reference) epoch5.push(item);

    const first = toLoader(pipeline());
    first.epoch = 4;
    const seen: number[] = [];
    let saved: LoaderState | undefined;
    for await (const item of first) {
      seen.push(item);
      if (seen.length === 9) {
        saved = roundTrip(first.state());
        break;
      }
    }
    const resumed = toLoader(pipeline(), { state: saved });
    assert.equal(resumed.epoch, 4);
    assert.deepEqual(resumed.state(), saved);
    for await (const item of resumed) seen.push(item);
    assert.deepEqual(seen, epoch4);
    const next: number[] = [];
    for await (const item of resumed) next.push(item);
    assert.deepEqual(next, epoch5);
  });

  it('issue 13: items a filter drops count as received: the state does not wait for them', async () => {
    const loader = toLoader(fromItems(range(100), { chunkSize: 10 }).pipe(filter((n) => n % 10 !== 9)));
    let count = 0;
    let state: LoaderState | undefined;
    for await (const item of loader) {
      if (++count === 9) {
        assert.equal(item, 8);
        state = loader.state();
        break;
      }
    }
    const part = state!.parts['fromPuller#0@0'] as { consumed: { watermark: number } };
    assert.equal(part.consumed.watermark, 10, 'item 9, which the filter dropped, counts as received');
    const rest: number[] = [];
    for await (const item of toLoader(fromItems(range(100), { chunkSize: 10 }).pipe(filter((n) => n % 10 !== 9)), { state }))
      rest.push(item);
    assert.deepEqual(
      rest,
      range(100).filter((n) => n % 10 !== 9 && n > 8),
    );
  });

  it('issue 13: a plain subscription counts each item as its subscriber is handed it', async () => {
    const loader = toLoader(fromItems(range(6)).pipe(map((n) => n * 2)));
    const states: unknown[] = [];
    await new Promise<void>((resolve, reject) =>
      loader.subscribe({
        next: (n) => {
          if (n === 4) states.push((loader.state().parts['fromPuller#0@0'] as { consumed: unknown }).consumed);
        },
        error: reject,
        complete: resolve,
      }),
    );
    assert.deepEqual(states, [{ watermark: 3, extras: [] }]);
  });

  it('issue 13: a resumed puller with bookmarks opens at the chunk holding the first item not received', async () => {
    const first = bookmarked(100, 8);
    const loader = toLoader(first.source.pipe(batch(5)), { prefetch: 1 });
    const seen: number[] = [];
    let saved: LoaderState | undefined;
    for await (const rows of loader) {
      seen.push(...rows);
      if (seen.length === 45) {
        saved = roundTrip(loader.state());
        break;
      }
    }
    assert.deepEqual(saved!.parts['fromPuller#0@0'], {
      kind: 'stream',
      rank: 0,
      consumed: { watermark: 45, extras: [] },
      at: { seq: 40, bookmark: 40 },
    });
    const second = bookmarked(100, 8);
    for await (const rows of toLoader(second.source.pipe(batch(5)), { state: saved })) seen.push(...rows);
    assert.deepEqual(seen, range(100));
    assert.equal(second.opened[0]!.resumeAt, 40);
    assert.equal(second.pulledItems(), 60, 'it read from item 40 on, not the 40 before');
  });

  it('issue 13: two loops at once make state() ambiguous; a plain Observable source makes it untracked, naming the stage', async () => {
    const loader = toLoader(fromItems(range(10)));
    const a = loader[Symbol.asyncIterator]();
    const b = loader[Symbol.asyncIterator]();
    await a.next();
    await b.next();
    assert.throws(
      () => loader.state(),
      (error: unknown) => error instanceof LoaderStateError && error.code === 'RXFEED_ERR_STATE_UNTRACKED',
    );
    await a.return!();
    await b.return!();

    const { from } = await import('rxjs');
    const plain = toLoader(from(range(10)).pipe(batch(2)));
    for await (const _rows of plain) {
      assert.throws(
        () => plain.state(),
        (error: unknown) => error instanceof LoaderStateError && error.code === 'RXFEED_ERR_STATE_UNTRACKED' && error.part === 'batch',
      );
      break;
    }
  });

  it('issue 13: a malformed state is refused when the loader is made', () => {
    const source = fromItems(range(3));
    for (const bad of [
      null,
      {},
      { format: 'rxfeed.loader-state', version: 2, epoch: 0, parts: {} },
      { format: 'rxfeed.loader-state', version: 1, epoch: -1, parts: {} },
      [],
    ]) {
      assert.throws(
        () => toLoader(source, { state: bad as unknown as LoaderState }),
        (error: unknown) => error instanceof LoaderStateError && error.code === 'RXFEED_ERR_STATE_INVALID',
        JSON.stringify(bad),
      );
    }
  });
});
