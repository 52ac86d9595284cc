import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Observable } from 'rxjs';
import { WorkerPipelineError, workerPipeline } from '../../../src/adapters/piscina.js';
import { bindContext } from '../../../src/context.js';
import { InvalidArgumentError } from '../../../src/errors.js';
import { Flow, type FlowMetrics, type StageMetrics } from '../../../src/flow.js';
import { toLoader } from '../../../src/loader.js';
import { scratchDir } from '../../sources/webdataset/tarFixtures.js';
import { generatedShards } from '../webdataset/shards.js';
import type { exitsAfterPosting, KeyedBatch, keyedBatches } from './fixtures/observedPipelines.js';
import { openFilesUnder } from './loopback.js';

const pipelines = new URL('./fixtures/observedPipelines.js', import.meta.url);

/**
 * One epoch of `source` under a Flow that keeps the readings of stages that ended, as a report at
 * the end of an epoch sees them: the items (or the error) and the last reading.
 */
async function readEpoch<T>(source: Observable<T>, epoch: number): Promise<{ items: T[]; error?: unknown; reading: FlowMetrics }> {
  const flow = new Flow();
  const items: T[] = [];
  let error: unknown;
  await new Promise<void>((resolve) =>
    bindContext({ flow, epoch }, () =>
      source.subscribe({
        next: (item) => items.push(item),
        error: (caught: unknown) => {
          error = caught;
          resolve();
        },
        complete: resolve,
      }),
    ),
  );
  // A failed epoch's parts end after the error: their last readings come with their `stopped`.
  await flow.released();
  return { items, error, reading: flow.snapshot() };
}

const byName = (reading: FlowMetrics): Map<string, StageMetrics> => new Map(reading.stages.map((stage) => [stage.name, stage]));

/** What a reading's counts must be, for every stage name. */
const counts = (reading: FlowMetrics): Record<string, [itemsIn: number, itemsOut: number, parallelism: number, capacity: number]> =>
  Object.fromEntries(reading.stages.map((stage) => [stage.name, [stage.itemsIn, stage.itemsOut, stage.parallelism, stage.capacity]]));

describe('workerPipeline readings and auto tuning (issue 15)', () => {
  const scratch = scratchDir();
  let paths: string[];
  /** The keys of the generated shards, in file order: shard s holds keys 25s .. 25s + 24. */
  let keys: string[];

  before(async () => {
    const shards = await generatedShards();
    paths = shards.map(({ name, bytes }) => scratch.write(name, bytes));
    keys = Array.from({ length: 100 }, (_, i) => `s${Math.floor(i / 25)}-${String(i % 25).padStart(3, '0')}`);
  });
  after(() => scratch.cleanup());

  const options = (): { paths: string[]; concurrency: number; taskMs: number; batchSize: number } => ({
    paths,
    concurrency: 3,
    taskMs: 1,
    batchSize: 10,
  });

  it("issue 15: after an epoch the parts' stages appear summed by name under workerPipeline/, source to sink, with exact counts, busy time and the threads' parallelism", async () => {
    await using batches = workerPipeline<typeof keyedBatches>(pipelines, 'keyedBatches', { threads: 2, options: options() });
    const { items, reading } = await readEpoch(batches, 0);
    assert.deepEqual(items.flatMap((batch) => batch.keys).sort(), keys);
    assert.deepEqual(
      reading.stages.map((stage) => stage.name),
      ['workerPipeline/fromWebDataset', 'workerPipeline/parallelMap', 'workerPipeline/collate', 'workerPipeline'],
    );
    // Each thread reads 2 of the 4 shards (50 samples, 5 batches); parallelMap's 3 tasks per part.
    assert.deepEqual(counts(reading), {
      'workerPipeline/fromWebDataset': [100, 100, 2, 0],
      'workerPipeline/parallelMap': [100, 100, 6, 6],
      'workerPipeline/collate': [10, 10, 2, 0],
      workerPipeline: [10, 10, 2, 4],
    });
    for (const stage of reading.stages) {
      assert.ok(stage.busyMs > 0, `${stage.name} reported work`);
      assert.equal(stage.occupancy, 0, `${stage.name} holds nothing at the end`);
      assert.ok(stage.emptyMs <= stage.elapsedMs && stage.fullMs <= stage.elapsedMs, `${stage.name}: waits within its time`);
    }
    // 100 tasks of at least 1 ms of CPU each.
    assert.ok(byName(reading).get('workerPipeline/parallelMap')!.busyMs >= 100);
  });

  it('issue 15: a part whose thread died keeps its last reading, beside the stopped part', async () => {
    await using dying = workerPipeline<typeof exitsAfterPosting>(pipelines, 'exitsAfterPosting', {
      threads: 2,
      options: { count: 100_000 },
    });
    const { error, reading } = await readEpoch(dying, 0);
    assert.ok(error instanceof WorkerPipelineError, String(error));
    assert.equal(error.code, 'RXFEED_ERR_WORKER_EXIT');
    const source = byName(reading).get('workerPipeline/fromItems');
    assert.ok(source !== undefined, reading.stages.map((stage) => stage.name).join());
    assert.equal(source.parallelism, 2, 'both parts are read: the dead one by its last items message');
    assert.ok(byName(reading).get('workerPipeline')!.itemsIn >= 1);
  });

  it("issue 15: threads: 'auto' reads each epoch with a count within its budget, exactly the items of a fixed pipeline of that count, and measures each epoch that started no thread", async () => {
    await using auto = workerPipeline<typeof keyedBatches>(pipelines, 'keyedBatches', {
      threads: 'auto',
      maxThreads: 3,
      options: options(),
    });
    const chosen: number[] = [];
    for (let epoch = 0; epoch < 4; epoch++) {
      const threads = auto.threads;
      assert.ok(threads >= 1 && threads <= 3, `epoch ${epoch}: ${threads}`);
      chosen.push(threads);
      const { items, reading } = await readEpoch(auto, epoch);
      assert.equal(byName(reading).get('workerPipeline')!.parallelism, threads);
      assert.equal(byName(reading).get('workerPipeline/fromWebDataset')!.parallelism, threads);
      await using fixed = workerPipeline<typeof keyedBatches>(pipelines, 'keyedBatches', { threads, options: options() });
      const expected = await readEpoch(fixed, epoch);
      assert.deepEqual(items, expected.items, `epoch ${epoch}, ${threads} threads: the same batches in the same order`);
      assert.ok(auto.stats().threads <= 3);
    }
    // The first epoch started the threads: not measured, so the second reads with the budget again.
    assert.deepEqual(chosen.slice(0, 2), [3, 3]);
    assert.deepEqual([...auto.throughput().keys()].sort(), [...new Set(chosen.slice(1))].sort());
    for (const itemsPerSecond of auto.throughput().values()) assert.ok(itemsPerSecond > 0);
  });

  it("issue 15: credits: 'auto' delivers exactly the items of fixed credits, holding at most threads x maxCredits on the main thread", async () => {
    const maxCredits = 3;
    await using auto = workerPipeline<typeof keyedBatches>(pipelines, 'keyedBatches', {
      threads: 2,
      credits: 'auto',
      maxCredits,
      options: { ...options(), batchSize: 1 },
    });
    let most = 0;
    const items: KeyedBatch[] = [];
    for await (const batch of toLoader(auto)) {
      items.push(batch);
      most = Math.max(most, auto.stats().held);
      // A slow consumer: the parts run ahead as far as their credits allow.
      if (items.length % 10 === 0) await new Promise((resolve) => setTimeout(resolve, 5));
    }
    assert.ok(most <= 2 * maxCredits, `held ${most}`);
    await using fixed = workerPipeline<typeof keyedBatches>(pipelines, 'keyedBatches', {
      threads: 2,
      options: { ...options(), batchSize: 1 },
    });
    assert.deepEqual(items, (await readEpoch(fixed, 0)).items);
    const { reading } = await readEpoch(auto, 1);
    const merge = byName(reading).get('workerPipeline')!;
    assert.ok(merge.capacity >= 2 && merge.capacity <= 2 * maxCredits, `capacity ${merge.capacity}`);
  });

  it("issue 15: a break out of an 'auto' pipeline stops every part, closes their shard files, and measures nothing", async () => {
    await using auto = workerPipeline<typeof keyedBatches>(pipelines, 'keyedBatches', {
      threads: 'auto',
      maxThreads: 2,
      credits: 'auto',
      options: { ...options(), batchSize: 1, taskMs: 2 },
    });
    const loader = toLoader(auto);
    // The first epoch starts the threads (not measured either); the second is cut short.
    let first = 0;
    for await (const batch of loader) first += batch.keys.length;
    assert.equal(first, 100);
    let taken = 0;
    for await (const batch of loader) {
      assert.equal(batch.keys.length, 1);
      if (++taken === 3) {
        assert.ok(openFilesUnder(scratch.dir).length > 0, 'the parts are reading their shards');
        break;
      }
    }
    assert.deepEqual(openFilesUnder(scratch.dir), []);
    assert.equal(auto.stats().subscriptions, 0);
    assert.equal(auto.stats().held, 0);
    assert.equal(auto.throughput().size, 0);
    assert.equal(auto.threads, 2, 'an epoch cut short is not measured: the next reads with the same count');
  });

  it("issue 15: 'auto' and its bounds are checked when the pipeline is made, typed", () => {
    for (const [options, name] of [
      [{ threads: 'many' }, 'threads'],
      [{ credits: 0 }, 'credits'],
      [{ threads: 'auto', maxThreads: 0 }, 'maxThreads'],
      [{ credits: 'auto', maxCredits: 1.5 }, 'maxCredits'],
    ] as const) {
      assert.throws(
        () => workerPipeline(pipelines, 'keyedBatches', options as never),
        (error: unknown) => {
          assert.ok(error instanceof InvalidArgumentError, String(error));
          assert.equal(error.code, 'RXFEED_ERR_INVALID_ARG');
          assert.equal(error.argument, `workerPipeline.${name}`);
          return true;
        },
      );
    }
  });
});
