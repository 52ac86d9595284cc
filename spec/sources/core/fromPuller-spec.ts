import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { take, toArray, lastValueFrom } from 'rxjs';
import { fromItems, fromPuller, toLoader } from '../../../src/index.js';

describe('fromPuller', () => {
  it('emits every item of every chunk, then completes after close', async () => {
    const events: string[] = [];
    const source = fromPuller<number>(() => {
      let next = 0;
      return {
        pull: async () => (next < 3 ? [next++, next++] : null),
        close: () => {
          events.push('close');
        },
      };
    });
    const items = await lastValueFrom(source.pipe(toArray()));
    assert.deepEqual(items, [0, 1, 2, 3]);
    assert.deepEqual(events, ['close']);
  });

  it('closes the puller before a for-await break returns', async () => {
    const events: string[] = [];
    const loader = toLoader(
      fromPuller<number>(() => {
        let next = 0;
        return {
          pull: async () => [next++],
          close: async () => {
            await new Promise((resolve) => setTimeout(resolve, 10));
            events.push('closed');
          },
        };
      }),
    );
    for await (const item of loader) {
      if (item === 5) break;
    }
    events.push('after break');
    assert.deepEqual(events, ['closed', 'after break']);
  });

  it('take(n) on a sized array source', async () => {
    const out = await lastValueFrom(fromItems([1, 2, 3, 4, 5]).pipe(take(2), toArray()));
    assert.deepEqual(out, [1, 2]);
  });
});
