import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { lastValueFrom, take, toArray } from 'rxjs';
import { fromPuller, toLoader } from '../../src/index.js';
import { createTestScheduler, marblePuller, recordingSource } from '../../src/testing/index.js';

describe('rxfeed/testing', () => {
  it('marblePuller answers each pull with its marble, then reports exhaustion and is closed', () => {
    let puller: ReturnType<typeof marblePuller<number>> | undefined;
    createTestScheduler().run(({ cold, expectObservable }) => {
      const source = fromPuller(() => (puller = marblePuller([cold('-a', { a: [1, 2] }), cold('-----b', { b: [3] })])));
      expectObservable(source).toBe('-(xy)-(b|)', { x: 1, y: 2, b: 3 });
    });
    assert.equal(puller?.closed, true);
  });

  it('recordingSource counts pulls and releases', async () => {
    const { source, record } = recordingSource([1, 2, 3, 4, 5], { chunkSize: 2 });
    assert.deepEqual(await lastValueFrom(source.pipe(take(3), toArray())), [1, 2, 3]);
    assert.deepEqual(record, { pulled: 4, opened: 1, closed: 1 });
    for await (const x of toLoader(source)) if (x === 1) break;
    assert.equal(record.opened, 2);
    assert.equal(record.closed, 2);
  });
});
