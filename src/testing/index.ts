/**
 * Helpers for testing pipelines built with rxfeed: marble tests in virtual time, and sources that
 * record what was pulled and released, to assert backpressure bounds and cleanup.
 *
 * @module rxfeed/testing
 */
import assert from 'node:assert/strict';
import type { Observable } from 'rxjs';
import { TestScheduler } from 'rxjs/testing';
import { fromPuller } from '../../sources/core/fromPuller.js';
import type { Chunk, Puller } from '../../sources/core/puller.js';

export { leakCheck, type TensorMemoryProbe } from './leakCheck.js';
export { shuffleQuality, type ShuffleQuality } from './shuffleQuality.js';

/**
 * A `TestScheduler` that compares with `node:assert`'s deep strict equality. rxfeed's wake-ups and
 * timers run on RxJS schedulers, so inside `run()` backpressure and delays happen in virtual time.
 *
 * @example
 * ```ts
 * import { createTestScheduler } from 'rxfeed/testing';
 * import { shard } from 'rxfeed';
 * createTestScheduler().run(({ cold, expectObservable }) => {
 *   expectObservable(cold('abcd|').pipe(shard({ rank: 1, worldSize: 2 }))).toBe('-b-d|');
 * });
 * ```
 *
 * @returns A fresh scheduler; make one per test.
 * @public
 */
export function createTestScheduler(): TestScheduler {
  return new TestScheduler((actual, expected) => assert.deepStrictEqual(actual, expected));
}

/**
 * A puller whose successive pulls answer with the given Observables (e.g. `cold('--a', { a: [1, 2] })`),
 * so a source's timing can be written as marbles. After the last answer it reports exhaustion.
 *
 * @example
 * ```ts
 * import { createTestScheduler, marblePuller } from 'rxfeed/testing';
 * import { fromPuller } from 'rxfeed';
 * createTestScheduler().run(({ cold, expectObservable }) => {
 *   const source = fromPuller(() => marblePuller([cold('-a', { a: [1] }), cold('--b', { b: [2, 3] })]));
 *   expectObservable(source).toBe('-a-(bc|)', { a: 1, b: 2, c: 3 }); // the second pull starts at frame 1
 * });
 * ```
 *
 * @param answers - One Observable per pull, each emitting a chunk (an array of items, or `null`).
 * @returns A puller to return from a `fromPuller` factory.
 * @public
 */
export function marblePuller<T>(answers: readonly Observable<Chunk<T>>[]): Puller<T> & { readonly closed: boolean } {
  let next = 0;
  let closed = false;
  return {
    pull: () => (next < answers.length ? answers[next++]! : null),
    close: () => {
      closed = true;
    },
    get closed() {
      return closed;
    },
  };
}

/**
 * What a {@link recordingSource} saw.
 * @public
 */
export interface SourceRecord {
  /** Items handed to the pipeline so far. */
  pulled: number;
  /** Times the source was opened (subscribed). */
  opened: number;
  /** Times it was released. */
  closed: number;
}

/**
 * A source over `items` that records how many were pulled and whether it was released: compare
 * `record.pulled` with what your consumer received to assert a backpressure bound, and
 * `record.closed` to assert cleanup after `break`, `take` or an error.
 *
 * @example
 * ```ts
 * import assert from 'node:assert/strict';
 * import { recordingSource } from 'rxfeed/testing';
 * import { batch, toLoader } from 'rxfeed';
 * const { source, record } = recordingSource(Array.from({ length: 1000 }, (_, i) => i));
 * for await (const x of toLoader(source.pipe(batch(10)))) if (x[0] === 500) break;
 * assert.equal(record.closed, 1);
 * ```
 *
 * @param items - The items, read in order; sized.
 * @param options - `chunkSize`: items per pull (default 1); `async`: answer pulls with promises
 *   (default true), as real I/O does.
 * @returns The source and its live record.
 * @public
 */
export function recordingSource<T>(
  items: readonly T[],
  options: { readonly chunkSize?: number; readonly async?: boolean } = {},
): { source: Observable<T>; record: SourceRecord } {
  const chunkSize = options.chunkSize ?? 1;
  const record: SourceRecord = { pulled: 0, opened: 0, closed: 0 };
  const source = fromPuller<T>(
    () => {
      record.opened++;
      let position = 0;
      const take = (): Chunk<T> => {
        if (position >= items.length) return null;
        const chunk = items.slice(position, position + chunkSize);
        position += chunk.length;
        record.pulled += chunk.length;
        return chunk;
      };
      return {
        pull: () => (options.async === false ? take() : Promise.resolve().then(take)),
        close: () => {
          record.closed++;
        },
      };
    },
    { size: items.length },
  );
  return { source, record };
}
