import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { map, timer } from 'rxjs';
import { TestScheduler } from 'rxjs/testing';
import { batch, collate, fromPuller, parallelMap, PipelineReport, toLoader, type FlowMetrics } from '../../src/index.js';
import { runVirtual, virtualDelay } from './virtualLoop.js';

/** Costs of a simulated pipeline, in frames: source read per item, task per item, loop step. */
interface Costs {
  readonly read: number;
  readonly task: number;
  readonly concurrency: number;
  readonly step: number;
}

/**
 * A simulated pipeline: a source whose every item takes `read` frames to read, a parallelMap whose
 * task takes `task` frames, batches of 2 collated, a loop whose step takes `step` frames. Answers
 * the loader's report once the loop has read `items` items.
 */
async function simulate(costs: Costs, items = 64): Promise<PipelineReport> {
  const scheduler = new TestScheduler((a, b) => assert.deepEqual(a, b));
  let next = 0;
  const source = fromPuller(
    () => ({
      pull: () => (next < items ? virtualDelay(scheduler, costs.read).then(() => [next++]) : null),
    }),
    {},
    'fromSimulated',
  );
  const loader = toLoader(
    source.pipe(
      parallelMap((x: number) => timer(costs.task, scheduler).pipe(map(() => ({ x }))), { concurrency: costs.concurrency }),
      batch(2),
      collate(),
    ),
    { scheduler },
  );
  await runVirtual(
    scheduler,
    (async () => {
      for await (const _batch of loader) await virtualDelay(scheduler, costs.step);
    })(),
  );
  return loader.report();
}

const row = (report: PipelineReport, name: string) => report.stages.find((stage) => stage.name === name)!;

describe('PipelineReport: the bottleneck in words (issue 15)', () => {
  it('issue 15: a decode-bound pipeline names parallelMap, saturated, and says to add threads', async () => {
    // 10 frames per task on 2 slots: one item per 5 frames; the loop wants a batch of 2 every frame.
    const report = await simulate({ read: 1, task: 10, concurrency: 2, step: 1 });
    assert.equal(report.consumed, 32);
    assert.equal(report.bottleneck.kind === 'stage' && report.bottleneck.stage.name, 'parallelMap');
    // The stages, source to sink, each timed.
    assert.deepEqual(
      report.stages.map((stage) => stage.name),
      ['fromSimulated', 'parallelMap', 'collate', 'loader'],
    );
    const parallelMap = row(report, 'parallelMap');
    assert.deepEqual([parallelMap.items, parallelMap.parallelism, parallelMap.msPerItem], [64, 2, 10]);
    // A slot frees, the source reads the next item (1 frame), its task runs (10): busy 10 of 11.
    assert.equal(Math.round(parallelMap.busy! * 100), 91);
    assert.equal(row(report, 'fromSimulated').msPerItem, 1);
    assert.equal(row(report, 'collate').items, 32);
    assert.equal(row(report, 'loader').empty, 1);
    assert.equal(
      report.verdict,
      'parallelMap is 91% busy (2 at once) and the loop waited 91% of the time: add threads (its concurrency) or simplify its work',
    );
  });

  it('issue 15: a read-bound pipeline names the source, and parallelMap waiting on it', async () => {
    const report = await simulate({ read: 8, task: 1, concurrency: 4, step: 1 });
    assert.equal(report.bottleneck.kind === 'stage' && report.bottleneck.stage.name, 'fromSimulated');
    assert.equal(row(report, 'fromSimulated').busy, 1);
    assert.equal(row(report, 'parallelMap').full, 0);
    assert.equal(Math.round(row(report, 'parallelMap').empty! * 100), 88);
    assert.equal(
      report.verdict,
      'fromSimulated is 100% busy and the loop waited 94% of the time: reads are the bottleneck: read ahead more, ' +
        'read more shards at once (interleave), or move the data nearer',
    );
  });

  it('issue 15: a model-bound pipeline says the model is the bottleneck', async () => {
    const report = await simulate({ read: 1, task: 4, concurrency: 4, step: 40 });
    assert.equal(report.bottleneck.kind, 'model');
    // The loop waited only for the first batch: two reads, then the second item's task.
    assert.equal(report.loopWaitMs, 6);
    assert.equal(report.loopBusyMs, 32 * 40);
    assert.equal(
      report.verdict,
      'the loop waited 0% of the time: the model is the bottleneck, not the loader; the busiest stage, fromSimulated, is 6% busy',
    );
    // The loader's queue was full while the model stepped: upstream waited on it.
    assert.equal(Math.round(row(report, 'loader').full! * 100), 93);
  });

  it('issue 15: a reading taken after the loop ended covers the whole run, and stops there', async () => {
    const report = await simulate({ read: 1, task: 10, concurrency: 2, step: 1 }, 8);
    assert.deepEqual(
      report.stages.map((stage) => [stage.name, stage.items]),
      [
        ['fromSimulated', 8],
        ['parallelMap', 8],
        ['collate', 4],
        ['loader', 4],
      ],
    );
    assert.equal(report.consumed, 4);
    assert.equal(report.loopBusyMs, 4);
    // Items are read one frame each as a slot frees and run 10 frames, two at a time: the last
    // batch is ready at 45, and the loop's step on it ends at 46.
    assert.equal(report.elapsedMs, 46);
  });

  it('issue 15: before any iteration the report says nothing reached the loop', () => {
    const report = toLoader(fromPuller(() => ({ pull: () => null }))).report();
    assert.equal(report.bottleneck.kind, 'none');
    assert.equal(report.verdict, 'no item has reached the loop yet');
  });

  it('issue 15: toString lays out a table of the stages and the verdict', () => {
    const reading: FlowMetrics = {
      time: 0,
      elapsedMs: 1000,
      consumed: 100,
      waitingUpstreamMs: 300,
      consumerBusyMs: 700,
      waitingDownstreamMs: 0,
      stages: [
        {
          name: 'fromWebDataset',
          capacity: 0,
          occupancy: 0,
          itemsIn: 3200,
          itemsOut: 3200,
          parallelism: 1,
          elapsedMs: 1000,
          busyMs: 200,
          emptyMs: 0,
          fullMs: 0,
          occupancyMs: 0,
          holds: false,
        },
        {
          name: 'parallelMap',
          capacity: 8,
          occupancy: 8,
          itemsIn: 3208,
          itemsOut: 3200,
          parallelism: 8,
          elapsedMs: 1000,
          busyMs: 7840,
          emptyMs: 0,
          fullMs: 900,
          occupancyMs: 7900,
          holds: true,
        },
        {
          name: 'loader',
          capacity: 2,
          occupancy: 0,
          itemsIn: 100,
          itemsOut: 100,
          parallelism: 1,
          elapsedMs: 1000,
          busyMs: 0,
          emptyMs: 310,
          fullMs: 100,
          occupancyMs: 800,
          holds: true,
        },
      ],
    };
    assert.equal(
      String(new PipelineReport(reading)),
      [
        'rxfeed: 100 items to the loop in 1.0 s; it waited 30% of its time (0.3 s)',
        'stage           items     /s  ms/item  busy  x  empty  full  held/cap',
        'fromWebDataset  3,200  3,200     0.06   20%  1      -     -         -',
        'parallelMap     3,200  3,200     2.45   98%  8     0%   90%     7.9/8',
        'loader            100    100        -     -  1    31%   10%     0.8/2',
        'verdict: parallelMap is 98% busy (8 at once) and the loop waited 30% of the time: add threads (its concurrency) or simplify its work',
      ].join('\n'),
    );
  });

  it('issue 15: no stage saturated but every core busy: CPU-bound, by this process or by others', () => {
    const stage = {
      name: 'workerPipeline',
      capacity: 4,
      occupancy: 0,
      itemsIn: 100,
      itemsOut: 100,
      parallelism: 2,
      elapsedMs: 1000,
      busyMs: 1300,
      emptyMs: 600,
      fullMs: 0,
      occupancyMs: 400,
      holds: true,
    };
    const reading = (cpuMs: number, machineCpuMs: number): FlowMetrics => ({
      time: 0,
      elapsedMs: 1000,
      consumed: 100,
      waitingUpstreamMs: 900,
      consumerBusyMs: 100,
      waitingDownstreamMs: 0,
      cpuMs,
      machineCpuMs,
      stages: [stage],
    });
    const own = new PipelineReport(reading(1900, 1950), 2);
    assert.deepEqual([own.bottleneck.kind, own.cpu, own.machineCpu], ['cpu', 0.95, 0.975]);
    assert.equal(
      own.verdict,
      'the loop waited 90% of the time and the 2 cores were 95% busy: the pipeline is CPU-bound; the busiest stage is ' +
        'workerPipeline (65%); make the work per sample cheaper (smaller images, a faster decoder) or run on more cores',
    );
    const others = new PipelineReport(reading(900, 1950), 2);
    assert.equal(
      others.verdict,
      'the loop waited 90% of the time and the 2 cores were 98% busy, 45% with this process: other processes take the ' +
        'cores the pipeline needs; the busiest stage is workerPipeline (65%)',
    );
    // Idle cores: the loop waited on latency.
    assert.equal(new PipelineReport(reading(900, 1000), 2).bottleneck.kind, 'latency');
    assert.match(String(own).split('\n')[0]!, /; CPU 95% of 2 cores \(the machine: 98%\)$/);
  });
});
