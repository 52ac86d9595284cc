import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { VirtualTimeScheduler } from 'rxjs';
import { Flow, type StageMetrics } from '../../src/flow.js';

/** A Flow on a virtual clock, and a way to run `step` at virtual time `at`. */
function virtualFlow(options: { timing?: boolean } = {}): { flow: Flow; at(time: number, step: () => void): void; run(): void } {
  const scheduler = new VirtualTimeScheduler();
  const flow = new Flow({ scheduler, ...options });
  return {
    flow,
    at: (time, step) => scheduler.schedule(step, time),
    run: () => scheduler.flush(),
  };
}

const names = (stages: readonly StageMetrics[]): string[] => stages.map((stage) => stage.name);

/** A reading made elsewhere, as a worker pipeline's part sends it. */
const reading = (name: string, itemsOut: number): StageMetrics => ({
  name,
  capacity: 0,
  occupancy: 0,
  itemsIn: itemsOut,
  itemsOut,
  parallelism: 2,
  elapsedMs: 10,
  busyMs: 7,
  emptyMs: 0,
  fullMs: 0,
  occupancyMs: 0,
  holds: false,
});

describe('Flow readings of stages timed elsewhere and of stages that ended (issue 15)', () => {
  it('issue 15: external readings appear in their place, source to sink, follow what the reader returns, and keep the last one after unregistering', () => {
    const { flow } = virtualFlow();
    // A pipeline registers from its sink up: the sink's stage first, the source's readings last.
    flow.register({ name: 'prefetch', capacity: 4, occupancy: () => 0 });
    let itemsOut = 3;
    const external = flow.external(() => [reading('part/fromItems', itemsOut), reading('part/collate', 1)]);
    assert.deepEqual(names(flow.snapshot().stages), ['part/fromItems', 'part/collate', 'prefetch']);
    itemsOut = 5;
    assert.deepEqual(flow.snapshot().stages[0], reading('part/fromItems', 5));
    external.unregister();
    // Its last reading stays, as an unregistered stage's does, and no longer follows the reader.
    itemsOut = 9;
    assert.deepEqual(names(flow.snapshot().stages), ['part/fromItems', 'part/collate', 'prefetch']);
    assert.deepEqual(flow.snapshot().stages[0], reading('part/fromItems', 5));
  });

  it('issue 15: a stage that does not gate is timed and counted when full, but never saturates the Flow nor counts in its capacity', () => {
    const { flow, at, run } = virtualFlow();
    let held = 0;
    const queue = flow.register({ name: 'merge', capacity: 2, occupancy: () => held, gates: false });
    assert.equal(flow.capacity(), 0);
    at(10, () => {
      held = 2;
      queue.entered(2);
      queue.worked(4);
    });
    at(30, () => {
      assert.equal(flow.saturated(), false, 'the source that drains it may still emit');
      held = 0;
      queue.left(2);
    });
    run();
    const [merge] = flow.snapshot().stages;
    assert.deepEqual(
      { ...merge },
      {
        name: 'merge',
        capacity: 2,
        occupancy: 0,
        itemsIn: 2,
        itemsOut: 2,
        parallelism: 1,
        elapsedMs: 30,
        busyMs: 4,
        emptyMs: 10,
        fullMs: 20,
        occupancyMs: 40,
        holds: true,
      },
    );
  });

  it('issue 15: a stage and a timer that unregistered keep their last reading, their clocks stopped even by later counts', () => {
    {
      const { flow, at, run } = virtualFlow();
      const stage = flow.register({ name: 'parallelMap', capacity: 3, occupancy: () => 0, parallelism: 3 });
      const timer = flow.timer('fromItems');
      at(5, () => {
        stage.entered();
        timer.worked(2, 1);
      });
      at(15, () => {
        stage.left();
        stage.worked(10);
        stage.unregister();
        timer.unregister();
      });
      // Counted after its end (a worker part's items arriving after a break): counts, not time.
      at(50, () => {
        stage.entered();
        stage.worked(1);
      });
      at(100, () => undefined);
      run();
      const { stages } = flow.snapshot();
      assert.deepEqual(
        stages.map((reading) => ({ ...reading })),
        [
          {
            name: 'fromItems',
            capacity: 0,
            occupancy: 0,
            itemsIn: 1,
            itemsOut: 1,
            parallelism: 1,
            elapsedMs: 15,
            busyMs: 2,
            emptyMs: 0,
            fullMs: 0,
            occupancyMs: 0,
            holds: false,
          },
          {
            name: 'parallelMap',
            capacity: 3,
            occupancy: 0,
            itemsIn: 2,
            itemsOut: 1,
            parallelism: 3,
            elapsedMs: 15,
            busyMs: 11,
            emptyMs: 5,
            fullMs: 0,
            occupancyMs: 10,
            holds: true,
          },
        ],
      );
    }
  });
});
