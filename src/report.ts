/**
 * Where a pipeline's time goes, in figures and in words: what `Loader.report()` and the progress
 * line say.
 *
 * The figures are the Flow's (see `flow.ts`): per stage, items out, work reported, time empty and
 * time full; for the consumer, the time it waited for an item and the time its body ran. The
 * verdict reads them the way SPDL's and torchdata's stall reports do:
 * - the loop's exposed wait (time it could have stepped but had no batch) says whether the loader
 *   holds training back at all; under {@link LOOP_WAIT_THRESHOLD} it does not, and the model is
 *   the bottleneck;
 * - otherwise the stage whose workers are busiest (work time over `parallelism x elapsed`) is the
 *   one to widen or simplify, when it is near saturation ({@link SATURATED});
 * - when no stage is near saturation but the process kept every core busy (its CPU time over
 *   `elapsed x cores`), the pipeline is CPU-bound: the work per sample must shrink, or the cores
 *   grow (a thread start-up, or work no stage reports, can hide from the stages' own figures);
 * - otherwise the loop waited on latency (I/O waits, too few tasks in flight, a buffer too small
 *   for the jitter), and the stage that stopped sources most often (full longest) or the busiest
 *   is named.
 *
 * @module
 */
import { availableParallelism } from 'node:os';
import type { KnobDecision } from './autotune.js';
import type { FlowMetrics, StageMetrics } from './flow.js';

/** Below this share of its time waiting, the loop is not held back by the loader (5%). @public */
export const LOOP_WAIT_THRESHOLD = 0.05;

/** A stage whose workers are busy this share of the time or more is saturated (85%). @public */
export const SATURATED = 0.85;

/**
 * One stage's figures, from a reading.
 * @public
 */
export interface StageReport {
  /** The stage's name (`parallelMap`, `fromWebDataset`, `collate`, `loader` ...). */
  readonly name: string;
  /** False for a step that holds no item between calls (a source's reads, `collate`). */
  readonly holds: boolean;
  /** Items it may hold (0 for a step that holds nothing). */
  readonly capacity: number;
  /** Items it works on at once. */
  readonly parallelism: number;
  /** Items out since it started. */
  readonly items: number;
  /** Items out per second. */
  readonly perSecond: number;
  /** Milliseconds of work per item out, when the stage reports work. */
  readonly msPerItem: number | undefined;
  /** Work over `parallelism x elapsed`: how busy its workers were, 0 to 1; undefined for a queue. */
  readonly busy: number | undefined;
  /** Share of the time it held nothing (it waited on upstream); undefined for a step. */
  readonly empty: number | undefined;
  /** Share of the time it was at capacity (upstream waited on it); undefined for a step. */
  readonly full: number | undefined;
  /** Mean items held; undefined for a step. */
  readonly meanHeld: number | undefined;
}

/** What holds the pipeline back, as {@link PipelineReport.bottleneck} says. @public */
export type Bottleneck =
  /** Nothing reached the loop yet: too early to say. */
  | { readonly kind: 'none' }
  /** The loop rarely waited: its body (the model) sets the pace. */
  | { readonly kind: 'model' }
  /** A stage's workers are saturated. */
  | { readonly kind: 'stage'; readonly stage: StageReport }
  /**
   * No stage is saturated, but every core is busy: with this process's work, or (`others`) with
   * other processes'; `stage` is the busiest.
   */
  | { readonly kind: 'cpu'; readonly stage: StageReport | undefined; readonly others: boolean }
  /**
   * No stage is saturated, yet the loop waited: latency (I/O, too little in flight, small
   * buffers); `stage` is the one that was full longest, else the busiest.
   */
  | { readonly kind: 'latency'; readonly stage: StageReport | undefined };

/**
 * A reading of a pipeline turned into figures per stage and a verdict in words.
 *
 * @example
 * ```ts
 * import { toLoader } from 'rxfeed';
 * import type { Observable } from 'rxjs';
 * declare const batches: Observable<unknown>;
 * declare function step(batch: unknown): Promise<void>;
 * const loader = toLoader(batches);
 * for await (const batch of loader) await step(batch);
 * console.log(String(loader.report())); // a table of the stages, then the verdict
 * ```
 * @public
 */
export class PipelineReport {
  /** Milliseconds the reading covers (since the iteration started). */
  readonly elapsedMs: number;
  /** Items handed to the loop. */
  readonly consumed: number;
  /** Milliseconds the loop waited for an item: its exposed wait. */
  readonly loopWaitMs: number;
  /** Milliseconds the loop's body ran (the model's step). */
  readonly loopBusyMs: number;
  /** Share of the loop's time spent waiting for an item, 0 to 1 (SPDL's headline figure). */
  readonly loopWait: number;
  /** Milliseconds sources spent parked because a stage was full. */
  readonly sourcesParkedMs: number;
  /**
   * How busy the machine's cores were, 0 to 1: the process's CPU time (every thread) over
   * `elapsed x cores`; undefined on a virtual clock.
   */
  readonly cpu: number | undefined;
  /** How busy the machine's cores were, with every other process's work: undefined with `cpu`. */
  readonly machineCpu: number | undefined;
  /** The cores `cpu` is a share of (`os.availableParallelism()`). */
  readonly cores: number;
  /** The stages, from source to sink. */
  readonly stages: readonly StageReport[];
  /** What the autotuner set each `'auto'` stage to, and why; empty when none is `'auto'`. */
  readonly autotune: readonly KnobDecision[];
  /** What holds the pipeline back. */
  readonly bottleneck: Bottleneck;
  /** The verdict in one sentence. */
  readonly verdict: string;

  /**
   * @param reading - A reading of one iteration's Flow (`Loader.metrics()` gives them too).
   * @param cores - The cores its CPU time is a share of; default `os.availableParallelism()`.
   */
  constructor(reading: FlowMetrics, cores = availableParallelism()) {
    this.cores = cores;
    const share = (ms: number | undefined): number | undefined =>
      ms === undefined || reading.elapsedMs <= 0 ? undefined : Math.min(1, ms / (reading.elapsedMs * cores));
    this.cpu = share(reading.cpuMs);
    this.machineCpu = share(reading.machineCpuMs);
    this.elapsedMs = reading.elapsedMs;
    this.consumed = reading.consumed;
    this.loopWaitMs = reading.waitingUpstreamMs;
    this.loopBusyMs = reading.consumerBusyMs;
    const loopTime = this.loopWaitMs + this.loopBusyMs;
    this.loopWait = loopTime > 0 ? this.loopWaitMs / loopTime : 0;
    this.sourcesParkedMs = reading.waitingDownstreamMs;
    this.stages = reading.stages.map(stageReport);
    this.autotune = reading.autotune ?? [];
    this.bottleneck = findBottleneck(this);
    this.verdict = verdictOf(this);
  }

  /** The stages as a table, then the verdict. */
  toString(): string {
    const seconds = this.elapsedMs / 1000;
    const lines = [
      `rxfeed: ${count(this.consumed)} items to the loop in ${seconds.toFixed(1)} s; ` +
        `it waited ${percent(this.loopWait)} of its time (${(this.loopWaitMs / 1000).toFixed(1)} s)` +
        (this.cpu === undefined ? '' : `; CPU ${percent(this.cpu)} of ${this.cores} cores (the machine: ${percent(this.machineCpu!)})`),
    ];
    const header = ['stage', 'items', '/s', 'ms/item', 'busy', 'x', 'empty', 'full', 'held/cap'];
    const rows = this.stages.map((stage) => [
      stage.name,
      count(stage.items),
      count(stage.perSecond),
      stage.msPerItem === undefined ? '-' : stage.msPerItem.toFixed(stage.msPerItem < 10 ? 2 : 1),
      stage.busy === undefined ? '-' : percent(stage.busy),
      String(stage.parallelism),
      stage.empty === undefined ? '-' : percent(stage.empty),
      stage.full === undefined ? '-' : percent(stage.full),
      stage.meanHeld === undefined ? '-' : `${stage.meanHeld.toFixed(1)}/${stage.capacity}`,
    ]);
    const widths = header.map((title, column) => Math.max(title.length, ...rows.map((row) => row[column]!.length)));
    const format = (row: readonly string[]): string =>
      row.map((cell, column) => (column === 0 ? cell.padEnd(widths[column]!) : cell.padStart(widths[column]!))).join('  ');
    lines.push(format(header), ...rows.map(format));
    for (const knob of this.autotune) {
      lines.push(`autotune: ${knob.name} ${knob.kind} ${knob.value} (${knob.min}-${knob.max}): ${knob.reason}`);
    }
    lines.push(`verdict: ${this.verdict}`);
    return lines.join('\n');
  }
}

function stageReport(stage: StageMetrics): StageReport {
  const elapsed = stage.elapsedMs;
  const works = stage.busyMs > 0;
  return {
    name: stage.name,
    holds: stage.holds,
    capacity: stage.capacity,
    parallelism: stage.parallelism,
    items: stage.itemsOut,
    perSecond: elapsed > 0 ? (stage.itemsOut * 1000) / elapsed : 0,
    msPerItem: works && stage.itemsOut > 0 ? stage.busyMs / stage.itemsOut : undefined,
    busy: works && elapsed > 0 ? Math.min(1, stage.busyMs / (stage.parallelism * elapsed)) : undefined,
    empty: stage.holds && elapsed > 0 ? stage.emptyMs / elapsed : undefined,
    full: stage.holds && elapsed > 0 ? stage.fullMs / elapsed : undefined,
    meanHeld: stage.holds && elapsed > 0 ? stage.occupancyMs / elapsed : undefined,
  };
}

function findBottleneck(report: PipelineReport): Bottleneck {
  if (report.consumed === 0) return { kind: 'none' };
  if (report.loopWait < LOOP_WAIT_THRESHOLD) return { kind: 'model' };
  const busiest = busiestStage(report.stages);
  if (busiest !== undefined && busiest.busy! >= SATURATED) return { kind: 'stage', stage: busiest };
  if (report.cpu !== undefined && report.cpu >= SATURATED) return { kind: 'cpu', stage: busiest, others: false };
  if (report.machineCpu !== undefined && report.machineCpu >= SATURATED) return { kind: 'cpu', stage: busiest, others: true };
  // Nothing saturated: the stage that stopped its upstream longest (full), else the busiest.
  const buffers = report.stages.filter((stage) => stage.holds && stage.name !== 'loader' && (stage.full ?? 0) > 0);
  const blocking = buffers.sort((a, b) => b.full! - a.full!)[0];
  return { kind: 'latency', stage: blocking ?? busiest };
}

function busiestStage(stages: readonly StageReport[]): StageReport | undefined {
  let busiest: StageReport | undefined;
  for (const stage of stages) {
    if (stage.busy !== undefined && (busiest === undefined || stage.busy > busiest.busy!)) busiest = stage;
  }
  return busiest;
}

/** What to do about a saturated stage, by what it is and whether cores are left. */
function advice(stage: StageReport, report: PipelineReport): string {
  if (report.cpu !== undefined && report.cpu >= SATURATED) {
    return `the ${report.cores} cores are ${percent(report.cpu)} busy, so more threads will not help: make its work cheaper or run on more cores`;
  }
  if (stage.name.startsWith('from')) {
    return 'reads are the bottleneck: read ahead more, read more shards at once (interleave), or move the data nearer';
  }
  if (stage.parallelism > 1 || stage.name === 'parallelMap' || stage.name.startsWith('workerPipeline')) {
    return 'add threads (its concurrency) or simplify its work';
  }
  return 'it works one item at a time: run it in parallel (parallelMap, a worker pipeline) or simplify it';
}

function verdictOf(report: PipelineReport): string {
  const waited = `the loop waited ${percent(report.loopWait)} of the time`;
  const { bottleneck } = report;
  switch (bottleneck.kind) {
    case 'none':
      return 'no item has reached the loop yet';
    case 'model': {
      const busiest = busiestStage(report.stages);
      const headroom = busiest === undefined ? '' : `; the busiest stage, ${busiest.name}, is ${percent(busiest.busy!)} busy`;
      return report.loopWait === 0
        ? `the loop never waited: the model is the bottleneck${headroom}`
        : `${waited}: the model is the bottleneck, not the loader${headroom}`;
    }
    case 'stage': {
      const { stage } = bottleneck;
      const workers = stage.parallelism > 1 ? ` (${stage.parallelism} at once)` : '';
      return `${stage.name} is ${percent(stage.busy!)} busy${workers} and ${waited}: ${advice(stage, report)}`;
    }
    case 'cpu': {
      const busiest =
        bottleneck.stage === undefined ? '' : `; the busiest stage is ${bottleneck.stage.name} (${percent(bottleneck.stage.busy!)})`;
      if (bottleneck.others) {
        return (
          `${waited} and the ${report.cores} cores were ${percent(report.machineCpu!)} busy, ${percent(report.cpu!)} with this ` +
          `process: other processes take the cores the pipeline needs${busiest}`
        );
      }
      return (
        `${waited} and the ${report.cores} cores were ${percent(report.cpu!)} busy: the pipeline is CPU-bound${busiest}; ` +
        'make the work per sample cheaper (smaller images, a faster decoder) or run on more cores'
      );
    }
    case 'latency': {
      const { stage } = bottleneck;
      if (stage === undefined) return `${waited} and no stage reports work: raise prefetch or concurrency`;
      const how =
        stage.full !== undefined && stage.full > 0 ? `was full ${percent(stage.full)} of the time` : `is ${percent(stage.busy ?? 0)} busy`;
      return (
        `${waited} though no stage is saturated; ${stage.name} ${how}: ` +
        'the pipeline waits on latency, so raise its capacity (concurrency, prefetch) or read ahead more'
      );
    }
  }
}

/**
 * The verdict in a few words, for a progress line: `loop waited 31%: parallelMap 98% busy`.
 * @internal
 */
export function shortVerdict(reading: FlowMetrics): string | undefined {
  const report = new PipelineReport(reading);
  const { bottleneck } = report;
  switch (bottleneck.kind) {
    case 'none':
      return undefined;
    case 'model':
      return `loop waited ${percent(report.loopWait)}: model-bound`;
    case 'stage':
      return `loop waited ${percent(report.loopWait)}: ${bottleneck.stage.name} ${percent(bottleneck.stage.busy!)} busy`;
    case 'cpu':
      return bottleneck.others
        ? `loop waited ${percent(report.loopWait)}: cores busy with other processes (${percent(report.machineCpu!)})`
        : `loop waited ${percent(report.loopWait)}: CPU-bound, ${percent(report.cpu!)} of ${report.cores} cores`;
    case 'latency':
      return `loop waited ${percent(report.loopWait)}: latency-bound${bottleneck.stage === undefined ? '' : ` at ${bottleneck.stage.name}`}`;
  }
}

function percent(share: number): string {
  return `${Math.round(share * 100)}%`;
}

function count(value: number): string {
  return value.toLocaleString('en-US', { maximumFractionDigits: value < 100 ? 1 : 0 });
}
