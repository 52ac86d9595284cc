import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { TestScheduler } from 'rxjs/testing';
import { Flow } from '../../src/index.js';

/** A Flow on a virtual clock that the test moves by hand. */
function clocked(options: { timing?: boolean } = {}) {
  const scheduler = new TestScheduler((a, b) => assert.deepEqual(a, b));
  const flow = new Flow({ scheduler, ...options });
  const at = (frame: number) => {
    scheduler.frame = frame;
  };
  return { flow, at };
}

describe('Flow timing (issue 15)', () => {
  it('issue 15: integrates what a stage holds: time empty, time full, mean occupancy', () => {
    const { flow, at } = clocked();
    let held = 0;
    const stage = flow.register({ name: 'queue', capacity: 2, occupancy: () => held });
    at(10);
    stage.entered(); // empty 0-10
    held = 1;
    at(15);
    stage.entered(); // 1 item 10-15
    held = 2;
    at(25);
    stage.left(2); // full 15-25
    held = 0;
    at(30);
    const [reading] = flow.snapshot().stages;
    assert.deepEqual(reading, {
      name: 'queue',
      capacity: 2,
      occupancy: 0,
      itemsIn: 2,
      itemsOut: 2,
      parallelism: 1,
      elapsedMs: 30,
      busyMs: 0,
      emptyMs: 15, // 0-10 and 25-30
      fullMs: 10,
      occupancyMs: 1 * 5 + 2 * 10,
      holds: true,
    });
  });

  it('issue 15: reported work, timers, and stages of one name summed, kept after they unregister', () => {
    const { flow, at } = clocked();
    const first = flow.timer('fromShards');
    const second = flow.timer('fromShards');
    const tasks = flow.register({ name: 'parallelMap', capacity: 4, occupancy: () => 0, parallelism: 4 });
    first.worked(3, 10);
    second.worked(5, 20);
    tasks.worked(7);
    at(20);
    first.unregister();
    second.worked(1, 1);
    at(40);
    second.unregister();
    tasks.unregister();
    // A count after unregistering still lands (a loader hands out its queue after the source ended).
    tasks.worked(1);
    at(50);
    const reading = flow.snapshot();
    assert.deepEqual(
      reading.stages.map(({ name, itemsOut, busyMs, parallelism, elapsedMs, holds }) => ({
        name,
        itemsOut,
        busyMs,
        parallelism,
        elapsedMs,
        holds,
      })),
      [
        // Source to sink: the reverse of the order registered.
        { name: 'parallelMap', itemsOut: 0, busyMs: 8, parallelism: 4, elapsedMs: 40, holds: true },
        { name: 'fromShards', itemsOut: 31, busyMs: 9, parallelism: 1, elapsedMs: 40, holds: false },
      ],
    );
    // Everything went at 40: the reading ends there.
    assert.equal(reading.elapsedMs, 40);
  });

  it('issue 15: the consumer: wait, busy, items; timing off reads no clock', () => {
    const { flow, at } = clocked();
    flow.recordUpstreamWait(4);
    flow.recordConsumed();
    at(9);
    flow.recordConsumerBusy(5);
    const reading = flow.snapshot();
    assert.deepEqual([reading.waitingUpstreamMs, reading.consumerBusyMs, reading.consumed, reading.elapsedMs], [4, 5, 1, 9]);

    const untimed = clocked({ timing: false });
    const stage = untimed.flow.register({ name: 'queue', capacity: 1, occupancy: () => 0 });
    untimed.at(5);
    stage.entered();
    untimed.at(8);
    const [queue] = untimed.flow.snapshot().stages;
    assert.deepEqual([queue!.itemsIn, queue!.emptyMs, queue!.fullMs, queue!.elapsedMs], [1, 0, 0, 0]);
  });
});
