import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { TestScheduler } from 'rxjs/testing';
import { progress } from '../../operators/progress.js';
import { bindContext, Flow, fromItems } from '../../src/index.js';
import { lastValueFrom, map, timer, toArray } from 'rxjs';
import { parallelMap, toLoader } from '../../src/index.js';
import { runVirtual, virtualDelay } from '../src/virtualLoop.js';

const testScheduler = () => new TestScheduler((actual, expected) => assert.deepEqual(actual, expected));

describe('progress', () => {
  it('passes items through and writes a line per interval and at the end, in virtual time', () => {
    const lines: string[] = [];
    const output = { isTTY: false, write: (text: string) => lines.push(text) };
    const scheduler = testScheduler();
    scheduler.run(({ cold, expectObservable }) => {
      const source = cold('a 999ms b 999ms c 999ms (d|)');
      const reported = source.pipe(progress({ label: 'samples', total: 8, intervalMs: 2000, output }));
      expectObservable(bindContext({ flow: new Flow({ scheduler }), epoch: 0 }, () => reported)).toBe('a 999ms b 999ms c 999ms (d|)');
    });
    assert.deepEqual(lines, ['samples: 3/8 (37.5%) 1.5/s elapsed 0:02 eta 0:03\n', 'samples: 4/8 (50.0%) 1.3/s elapsed 0:03 eta 0:03\n']);
  });

  it('redraws one line on a terminal and counts weights', async () => {
    const writes: string[] = [];
    const output = { isTTY: true, write: (text: string) => writes.push(text) };
    const out = await lastValueFrom(
      fromItems([[1, 2], [3, 4], [5]]).pipe(progress({ weight: (b) => b.length, output, intervalMs: 1e9 }), toArray()),
    );
    assert.equal(out.length, 3);
    assert.equal(writes.length, 1);
    assert.match(writes[0]!, /^\r\x1b\[2Kitems: 5 .*\/s elapsed 0:00\n$/);
  });

  it('issue 15: ends each line with the bottleneck so far, once the loop has received an item', async () => {
    const lines: string[] = [];
    const output = { isTTY: false, write: (text: string) => lines.push(text) };
    const scheduler = testScheduler();
    // Tasks of 10 frames, one at a time; the loop steps in 1: parallelMap holds it back.
    const loader = toLoader(
      fromItems([1, 2, 3, 4, 5, 6]).pipe(
        parallelMap((x: number) => timer(10, scheduler).pipe(map(() => x)), { concurrency: 1 }),
        progress({ label: 'samples', total: 6, intervalMs: 25, output }),
      ),
      { scheduler },
    );
    await runVirtual(
      scheduler,
      (async () => {
        for await (const _item of loader) await virtualDelay(scheduler, 1);
      })(),
    );
    assert.deepEqual(lines, [
      // Items come every 10 frames; the loop waits 10 for the first and 9 for each after it.
      // At the third (frame 30) it has received two: waited 19, stepped 2.
      'samples: 3/6 (50.0%) 100/s elapsed 0:00 eta 0:00 (loop waited 90%: parallelMap 100% busy)\n',
      'samples: 6/6 (100.0%) 100/s elapsed 0:00 (loop waited 90%: parallelMap 100% busy)\n',
      // At completion the loop has waited for the sixth too: 55 of 60.
      'samples: 6/6 (100.0%) 100/s elapsed 0:00 (loop waited 92%: parallelMap 100% busy)\n',
    ]);
  });
});
