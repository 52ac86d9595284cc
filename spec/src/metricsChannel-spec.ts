// Issue 15 ("Export"): the readings `Loader.metrics` publishes on node:diagnostics_channel carry each
// stage's timing (work, empty and full time, occupancy integral, parallelism) and the consumer's
// counters, in virtual time.
import assert from 'node:assert/strict';
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { describe, it } from 'node:test';
import { take } from 'rxjs';
import { METRICS_CHANNEL, parallelMap, toLoader, type FlowMetrics } from '../../src/index.js';
import { createTestScheduler } from '../../src/testing/index.js';

describe('Loader.metrics on the diagnostics channel (issue 15)', () => {
  it("issue 15: a subscriber of rxfeed:metrics receives each stage's timing fields and the consumer's counters", () => {
    const published: unknown[] = [];
    const listener = (message: unknown) => published.push(message);
    subscribe(METRICS_CHANNEL, listener);
    const scheduler = createTestScheduler();
    try {
      scheduler.run(({ cold }) => {
        // Items at frames 0, 2, 4 ...; each task takes 3 frames, 2 at once.
        const items = cold('a-b-c-d-e-f-|').pipe(parallelMap((x: string) => cold('---(r|)', { r: x }), { concurrency: 2 }));
        const loader = toLoader(items, { scheduler });
        loader.subscribe();
        loader.metrics(5).pipe(take(1)).subscribe();
      });
    } finally {
      unsubscribe(METRICS_CHANNEL, listener);
    }
    // Frame 5: a ran 0-3; b runs since 2, c since 4; the stage held 1 item over 0-2 and 3-4, 2 (full) over 2-3 and 4-5.
    const expected: FlowMetrics[] = [
      {
        time: 5,
        stages: [
          {
            name: 'parallelMap',
            capacity: 2,
            occupancy: 2,
            itemsIn: 3,
            itemsOut: 1,
            parallelism: 2,
            elapsedMs: 5,
            busyMs: 3,
            emptyMs: 0,
            fullMs: 2,
            occupancyMs: 1 * 2 + 2 * 1 + 1 * 1 + 2 * 1,
            holds: true,
          },
        ],
        waitingDownstreamMs: 0,
        waitingUpstreamMs: 0,
        consumerBusyMs: 0,
        consumed: 1,
        elapsedMs: 5,
      },
    ];
    assert.deepEqual(published, [expected]);
  });
});
