/**
 * Checkpoint and resume (issue 13): `npm run bench:checkpoint` (builds first), or, after
 * `npx tsc -p tsconfig.json`, `node dist/bench/checkpoint.js [--rounds N] [--sections 1,2,3]
 * [--pipelines TEXT] [--keep-base]` (`--pipelines`: only section 3's pipelines named with TEXT).
 *
 * 1. State size and `Loader.state()` time: indexed pipelines over a synthetic dataset of N = 10^6
 *    and 10^9 elements (`read` answers the indices), `globalShuffle`, batches of 256, the loop
 *    paused mid-epoch with a batch in hand; ordered, and through an unordered `parallelMap` whose
 *    tasks finish out of order (so the state has extras). Bytes of `JSON.stringify`, and the
 *    median time of one call over many.
 * 2. Time from a resume to its first batch against a fresh start's, on real files generated under
 *    `.tmp/bench/checkpoint/` (32,000 samples of 4 KiB in 8 TFRecord files and 8 tar shards, with
 *    their record and sample indexes): `fromRandomAccess` over `tfrecordDataset` and over
 *    `webDatasetIndexed`, the checkpoint taken at 90% of the epoch. Each contender makes 20 new
 *    loaders in turn over the open dataset, each timed until its first batch arrives (the resumed
 *    one parses the saved JSON first); the resumed first batch is checked once to be the
 *    uninterrupted run's next batch (no replay, nothing skipped).
 *    Then the same for a streaming tar pipeline (`fromWebDataset(files).pipe(batch(256))`), when
 *    its state can be taken, with a third contender: a replay (a loader without state, skipping
 *    the batches received), the reference a stream's resume must beat.
 * 3. The overhead of state tracking, which is always on: the same pipelines (tar and TFRecord
 *    streaming, indexed TFRecord with a global shuffle, and as worst cases, with no I/O or parsing
 *    to hide the bookkeeping, an indexed pipeline over a synthetic dataset and `fromItems` over an
 *    array) run by this build and by the build of `09e81c2` (the commit before issue 13), each in
 *    a child process running this file with `--child`, one warm pass and 5 timed passes,
 *    interleaved per round; the CPU nanoseconds each item costs more is the per-round difference.
 *    The old build lives in a git worktree at `.tmp/bench/base`: made (worktree, `node_modules`
 *    link, `tsc`) when absent, and removed at the end when this run made it, unless `--keep-base`.
 *
 * Every figure follows `bench/rounds.ts`'s method; times here are measured inside the run (a
 * child's own timing leaves out its start-up, a first batch's leaves out the release after it),
 * as wall time and as CPU time, which a burst of other work on this shared machine disturbs less.
 * Use `--rounds 9` or more: the overheads sought are a few percent. Only local files are read: no
 * server state to clean up.
 *
 * @module
 */
import { execFile } from 'node:child_process';
import { randomFillSync } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile, realpath, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import type { Observable } from 'rxjs';
import { fmt, median, method, printTable, ratioCell, rounds, ROUNDS, type RoundRates } from './rounds.js';
import type { LoaderState, RandomAccess } from '../src/index.js';

type Core = typeof import('../src/index.js');
type TFRecordKind = typeof import('../sources/tfrecord/index.js');
type WebDatasetKind = typeof import('../sources/webdataset/index.js');

/** One build of rxfeed, loaded from its `dist/` (this one, or the base build in a child). */
interface Library {
  readonly core: Core;
  readonly tfrecord: TFRecordKind;
  readonly webdataset: WebDatasetKind;
}

/**
 * The library is imported from a `dist/` folder given at run time, never statically: a child
 * running the base build must load that build alone (both builds would share the context slot).
 */
async function library(dist: string): Promise<Library> {
  const load = async <M>(path: string): Promise<M> => (await import(pathToFileURL(join(dist, path)).href)) as M;
  return {
    core: await load<Core>('src/index.js'),
    tfrecord: await load<TFRecordKind>('sources/tfrecord/index.js'),
    webdataset: await load<WebDatasetKind>('sources/webdataset/index.js'),
  };
}

const root = process.cwd();
/** This build's `dist/`: this file is `dist/bench/checkpoint.js`. */
const thisDist = join(dirname(fileURLToPath(import.meta.url)), '..');
const dataDir = join(root, '.tmp', 'bench', 'checkpoint');
const baseDir = join(root, '.tmp', 'bench', 'base');
const BASE_COMMIT = '09e81c2';
const BATCH = 256;
const sectionsArg = process.argv.indexOf('--sections');
/** The sections to run: `--sections 1,3`; default all. */
const sections = sectionsArg > 0 ? process.argv[sectionsArg + 1]!.split(',') : ['1', '2', '3'];
const pipelinesArg = process.argv.indexOf('--pipelines');
/** Section 3 runs the pipelines whose name contains it: `--pipelines 'worst case'`; default all. */
const pipelinesFilter = pipelinesArg > 0 ? process.argv[pipelinesArg + 1]! : '';

// --- The files ---------------------------------------------------------------------------------

const SAMPLES = 32_000;
const SHARDS = 8;
const PAYLOAD = 4 * 1024;
/** Changes when the generated content changes, so older files are not reused. */
const DATA_VERSION = 1;

interface CheckpointData {
  readonly tfrecord: readonly string[];
  readonly tar: readonly string[];
}

interface Manifest extends CheckpointData {
  readonly version: number;
  readonly samples: number;
  /** Size of every file in `tfrecord`, then `tar`. */
  readonly sizes: readonly number[];
}

async function sizesOf(paths: readonly string[]): Promise<number[]> {
  return Promise.all(paths.map(async (path) => (await stat(path)).size));
}

async function readManifest(): Promise<Manifest | undefined> {
  try {
    const manifest = JSON.parse(await readFile(join(dataDir, 'manifest.json'), 'utf8')) as Manifest;
    if (manifest.version !== DATA_VERSION || manifest.samples !== SAMPLES) return undefined;
    const sizes = await sizesOf([...manifest.tfrecord, ...manifest.tar]);
    return sizes.every((size, at) => size === manifest.sizes[at]) ? manifest : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The files under `.tmp/bench/checkpoint/`, made unless there and complete (`manifest.json` is
 * written last): sample `i` is 4 KiB of random bytes stamped with `i` and a label `i % 1000`, as
 * a TFRecord `Example` (`bin`, `cls`) and as a tar sample (`<key>.bin`, `<key>.cls`), with each
 * TFRecord file's `.idx` and each shard's `.idx.json`, so that opening a dataset reads no data.
 */
async function checkpointData(lib: Library): Promise<CheckpointData> {
  const existing = await readManifest();
  if (existing !== undefined) return existing;
  await rm(dataDir, { recursive: true, force: true });
  await mkdir(dataDir, { recursive: true });
  const { writeTarShard } = await import('./benchShards.js');
  const { toTFRecord, buildRecordIndex, writeRecordIndex } = lib.tfrecord;
  const { from, lastValueFrom } = await import('rxjs');
  const payload = new Uint8Array(PAYLOAD);
  randomFillSync(payload);
  const bytesOf = (index: number): Uint8Array => {
    const bytes = payload.slice();
    new DataView(bytes.buffer).setUint32(0, index, true);
    return bytes;
  };
  const tfrecord: string[] = [];
  const tar: string[] = [];
  for (let shard = 0; shard < SHARDS; shard++) {
    const first = (shard * SAMPLES) / SHARDS;
    const indices = Array.from({ length: SAMPLES / SHARDS }, (_, at) => first + at);
    const tfrecordPath = join(dataDir, `ckpt-${String(shard).padStart(5, '0')}-of-${String(SHARDS).padStart(5, '0')}.tfrecord`);
    await lastValueFrom(
      from(indices.map((index) => ({ bin: [bytesOf(index)], cls: BigInt64Array.of(BigInt(index % 1000)) }))).pipe(toTFRecord(tfrecordPath)),
    );
    await writeRecordIndex(`${tfrecordPath}.idx`, await buildRecordIndex(tfrecordPath));
    const tarPath = join(dataDir, `ckpt-${String(shard).padStart(6, '0')}.tar`);
    await writeTarShard(
      tarPath,
      indices.map((index) => ({
        key: `sample${String(index).padStart(6, '0')}`,
        members: { bin: bytesOf(index), cls: String(index % 1000) },
      })),
    );
    tfrecord.push(tfrecordPath);
    tar.push(tarPath);
  }
  const indexed = await lib.webdataset.webDatasetIndexed(tar, { saveIndex: true }); // writes the sidecars
  await indexed.close();
  const manifest: Manifest = { version: DATA_VERSION, samples: SAMPLES, tfrecord, tar, sizes: await sizesOf([...tfrecord, ...tar]) };
  await writeFile(join(dataDir, 'manifest.json'), `${JSON.stringify(manifest, null, 1)}\n`);
  return manifest;
}

// --- Helpers -----------------------------------------------------------------------------------

/** One timed run: the items it handled and the seconds it measured itself. */
interface Timed {
  readonly items: number;
  readonly seconds: number;
  /**
   * CPU seconds (user + system, every thread of the process) over the same span: on this shared
   * machine a burst of other work lengthens the wall time but hardly the CPU time of the work.
   */
  readonly cpuSeconds: number;
}

/** CPU seconds this process has used since `since` (a `process.cpuUsage()` reading). */
function cpuSince(since: NodeJS.CpuUsage): number {
  const used = process.cpuUsage(since);
  return (used.user + used.system) / 1e6;
}

/**
 * `rounds` of `bench/rounds.ts` (one warm-up round, the order rotating, every run handling
 * `expected` items) for runs that time themselves; answers seconds per contender per round, and
 * the same as items/s for `ratioCell`.
 */
async function timedRounds(
  contenders: readonly { readonly name: string; readonly run: (round: number) => Promise<Timed> }[],
  expected: number,
): Promise<{ seconds: number[][]; cpu: number[][]; rates: RoundRates }> {
  const seconds = contenders.map(() => [] as number[]);
  const cpu = contenders.map(() => [] as number[]);
  await rounds(
    contenders.map((contender, which) => ({
      name: contender.name,
      run: async (round) => {
        const timed = await contender.run(round);
        if (round > 0) seconds[which]!.push(timed.seconds);
        if (round > 0) cpu[which]!.push(timed.cpuSeconds);
        return timed.items;
      },
    })),
    expected,
  );
  return {
    seconds,
    cpu,
    rates: {
      contenders: contenders.map(({ name }) => ({ name, run: async () => 0 })),
      rates: seconds.map((row) => row.map((s) => expected / s)),
    },
  };
}

/** Median and range of `values`, formatted. */
function spread(values: readonly number[], digits: number): string {
  return `${fmt(median(values), digits)} (${fmt(Math.min(...values), digits)}-${fmt(Math.max(...values), digits)})`;
}

/** Per-round ratios of times `seconds[which] / seconds[reference]`, as `median (min-max)`. */
function timeRatioCell(seconds: readonly (readonly number[])[], which: number, reference = 0): string {
  if (which === reference) return '1 (reference)';
  return spread(
    seconds[which]!.map((time, round) => time / seconds[reference]![round]!),
    2,
  );
}

/** The items of `source` after the first `count`. */
async function* skipping<T>(source: AsyncIterable<T>, count: number): AsyncIterable<T> {
  let seen = 0;
  for await (const item of source) if (seen++ >= count) yield item;
}

/** An iterator of `loader` that has received its first item: the time it took, and the item. */
async function firstItem<T>(
  make: () => AsyncIterable<T>,
): Promise<{ seconds: number; cpuSeconds: number; item: T; release: () => Promise<unknown> }> {
  const cpu = process.cpuUsage();
  const start = performance.now();
  const iterator = make()[Symbol.asyncIterator]();
  const first = await iterator.next();
  const seconds = (performance.now() - start) / 1000;
  const cpuSeconds = cpuSince(cpu);
  if (first.done === true) throw new Error('the pipeline yielded nothing');
  return { seconds, cpuSeconds, item: first.value, release: async () => iterator.return?.() };
}

// --- 1. State size and state() time ------------------------------------------------------------

/** Steps read before the state is taken (256,000 elements). */
const STEPS_BEFORE = 1000;
/** `state()` calls per contender per round. */
const STATE_CALLS = 20_000;

async function stateSection(lib: Library): Promise<void> {
  const { fromRandomAccess, globalShuffle, batch, parallelMap, toLoader } = lib.core;
  const synthetic = (size: number) => ({ size, read: (indices: readonly number[]) => indices, close() {} });
  // Every fourth task finishes a macrotask later: results leave the unordered stage out of order.
  const late = (value: number, { index }: { index: number }): number | Promise<number> =>
    index % 4 === 0 ? new Promise((resolve) => setImmediate(() => resolve(value))) : value;
  const cases = [1e6, 1e9].flatMap((size) => [
    { name: `N = 10^${Math.log10(size)}, ordered`, size, unordered: false },
    { name: `N = 10^${Math.log10(size)}, unordered parallelMap (16)`, size, unordered: true },
  ]);
  const paused = [];
  for (const entry of cases) {
    const source = fromRandomAccess(synthetic(entry.size), { sampler: globalShuffle({ seed: 3 }), batchSize: BATCH });
    const pipeline = entry.unordered
      ? source.pipe(parallelMap(late, { ordered: false, concurrency: 16 }), batch(BATCH))
      : source.pipe(batch(BATCH));
    const loader = toLoader(pipeline);
    const iterator = loader[Symbol.asyncIterator]();
    for (let step = 0; step < STEPS_BEFORE; step++)
      if ((await iterator.next()).done === true) throw new Error(`${entry.name}: ended early`);
    const state = loader.state();
    const consumed = Object.values(state.parts).map((part) => (part as { consumed: { watermark: number; extras: number[] } }).consumed);
    paused.push({ ...entry, loader, iterator, state, consumed });
  }
  const measured = await rounds(
    paused.map((entry) => ({
      name: entry.name,
      run: async () => {
        for (let call = 0; call < STATE_CALLS; call++) entry.loader.state();
        return STATE_CALLS;
      },
    })),
    STATE_CALLS,
  );
  for (const entry of paused) await entry.iterator.return?.();
  printTable(
    `1. Loader.state() of fromRandomAccess(synthetic N, globalShuffle, batchSize ${BATCH}).pipe(batch(${BATCH})), the loop in step ${STEPS_BEFORE + 1} with its batch in hand (${fmt(STATE_CALLS)} calls per round)`,
    ['pipeline', 'state bytes (JSON)', 'watermark', 'extras', 'us per call: median (range)', 'calls/s ratio to the first'],
    paused.map((entry, which) => [
      entry.name,
      fmt(Buffer.byteLength(JSON.stringify(entry.state))),
      entry.consumed.map(({ watermark }) => fmt(watermark)).join(', '),
      entry.consumed.map(({ extras }) => fmt(extras.length)).join(', '),
      spread(
        measured.rates[which]!.map((rate) => 1e6 / rate),
        2,
      ),
      ratioCell(measured, which),
    ]),
  );
  const largest = paused[paused.length - 1]!;
  console.log(`\nThe state of "${largest.name}":\n${JSON.stringify(largest.state)}`);
}

// --- 2. Time to the first batch: fresh start and resume ----------------------------------------

/** Where the checkpoint is taken: this fraction of the epoch's steps received. */
const CHECKPOINT_AT = 0.9;
/** Loaders each contender starts per run (a first batch alone takes a few milliseconds). */
const FIRST_BATCHES = 20;

/**
 * A run of `make()` interrupted after 90% of its steps: the state then (as the JSON a training
 * loop writes) and the identity of the batch an uninterrupted run receives next.
 */
async function checkpointOf<T>(
  lib: Library,
  make: () => Observable<T[]>,
  steps: number,
  identify: (batch: T[]) => string,
): Promise<{ step: number; saved: string; next: string }> {
  const loader = lib.core.toLoader(make());
  const step = Math.floor(steps * CHECKPOINT_AT);
  let received = 0;
  let saved = '';
  let next = '';
  for await (const batch of loader) {
    received++;
    if (received === step) saved = JSON.stringify(loader.state());
    if (received === step + 1) {
      next = identify(batch);
      break;
    }
  }
  if (next === '') throw new Error(`the pipeline ended after ${received} steps, before step ${step + 1}`);
  return { step, saved, next };
}

/**
 * Fresh start against resume, each a new loader timed until its first batch arrives; the resumed
 * first batch is checked to be the one an uninterrupted run receives after the checkpoint.
 */
async function firstBatchCase<T>(
  lib: Library,
  title: string,
  make: () => Observable<T[]>,
  steps: number,
  identify: (batch: T[]) => string,
  withReplay = false,
) {
  const checkpoint = await checkpointOf(lib, make, steps, identify);
  const { toLoader } = lib.core;
  const resumed = () => toLoader(make(), { state: JSON.parse(checkpoint.saved) as LoaderState });
  // What a loader without state would do: read from the start and skip the batches received.
  const replayed = () => skipping(toLoader(make()), checkpoint.step);
  for (const [name, loader] of [['resumed', resumed], ...(withReplay ? [['replayed', replayed] as const] : [])] as const) {
    const first = await firstItem(loader);
    await first.release();
    if (identify(first.item) !== checkpoint.next) {
      throw new Error(`${title}: the ${name} first batch is not the uninterrupted run's batch ${checkpoint.step + 1}`);
    }
  }
  // A first batch takes milliseconds: each run starts FIRST_BATCHES loaders one after another.
  const contender = (name: string, loader: () => AsyncIterable<T[]>) => ({
    name,
    run: async (): Promise<Timed> => {
      let items = 0;
      let seconds = 0;
      let cpuSeconds = 0;
      for (let start = 0; start < FIRST_BATCHES; start++) {
        const first = await firstItem(loader);
        await first.release();
        items += first.item.length;
        seconds += first.seconds;
        cpuSeconds += first.cpuSeconds;
      }
      return { items, seconds, cpuSeconds };
    },
  });
  const measured = await timedRounds(
    [
      contender('fresh start', () => toLoader(make())),
      contender(`resumed at step ${checkpoint.step} of ${steps}`, resumed),
      ...(withReplay ? [contender(`replayed: fresh, ${checkpoint.step} batches skipped`, replayed)] : []),
    ],
    FIRST_BATCHES * BATCH,
  );
  printTable(
    title,
    ['contender', 'ms to the first batch', 'time ratio to fresh', 'CPU ms to the first batch', 'CPU ratio to fresh'],
    measured.rates.contenders.map(({ name }, which) => [
      name,
      spread(
        measured.seconds[which]!.map((s) => (s * 1000) / FIRST_BATCHES),
        2,
      ),
      timeRatioCell(measured.seconds, which),
      spread(
        measured.cpu[which]!.map((s) => (s * 1000) / FIRST_BATCHES),
        2,
      ),
      timeRatioCell(measured.cpu, which),
    ]),
  );
  console.log(
    `state: ${fmt(Buffer.byteLength(checkpoint.saved))} bytes of JSON; resumed first batch = uninterrupted batch ${checkpoint.step + 1}: checked`,
  );
  if (withReplay) {
    console.log(
      `resumed / replayed, per round: wall time ${timeRatioCell(measured.seconds, 1, 2)}, CPU time ${timeRatioCell(measured.cpu, 1, 2)}`,
    );
  }
}

async function firstBatchSection(lib: Library, data: CheckpointData): Promise<void> {
  const { fromRandomAccess, globalShuffle, batch } = lib.core;
  const tfDataset = await lib.tfrecord.tfrecordDataset(data.tfrecord);
  const tarDataset = await lib.webdataset.webDatasetIndexed(data.tar);
  const steps = Math.floor(SAMPLES / BATCH);
  const indexed = <T>(dataset: RandomAccess<T>) =>
    fromRandomAccess(dataset, { sampler: globalShuffle({ seed: 5 }), batchSize: BATCH }).pipe(batch(BATCH));
  const recordKey = (records: Uint8Array[]): string => records.map((record) => Buffer.from(record).toString('base64', 0, 64)).join(',');
  const sampleKey = (samples: { __key__: string }[]): string => samples.map((sample) => sample.__key__).join(',');
  try {
    await firstBatchCase(
      lib,
      `2a. Time to the first batch, fromRandomAccess(tfrecordDataset(8 files), globalShuffle, batchSize ${BATCH}).pipe(batch(${BATCH})), page cache warm`,
      () => indexed(tfDataset),
      steps,
      recordKey,
    );
    await firstBatchCase(
      lib,
      `2b. Time to the first batch, fromRandomAccess(webDatasetIndexed(8 shards), globalShuffle, batchSize ${BATCH}).pipe(batch(${BATCH}))`,
      () => indexed(tarDataset),
      steps,
      sampleKey,
    );
  } finally {
    await tfDataset.close();
    await tarDataset.close();
  }
  // Streaming sources save a count of what was received, when they can (issue 13, in progress).
  const streaming = () => lib.webdataset.fromWebDataset(data.tar).pipe(batch(BATCH));
  try {
    await firstBatchCase(
      lib,
      `2c. Time to the first batch, fromWebDataset(8 shards).pipe(batch(${BATCH})) (streaming)`,
      streaming,
      Math.ceil(SAMPLES / BATCH),
      sampleKey,
      true,
    );
  } catch (error) {
    if (!(error instanceof lib.core.LoaderStateError)) throw error;
    console.log(`\n2c. Streaming tar pipeline: skipped, its state cannot be taken yet: ${error.code}: ${error.message}`);
  }
}

// --- 3. Overhead of state tracking: this build against the base build ---------------------------

/** The pipelines a child runs, by name. */
/** Elements of the synthetic dataset: the bookkeeping per item with no I/O and no parsing beside it. */
const SYNTHETIC = 1000 * BATCH;

/** The pipelines a child runs, by name, and the items one pass yields. */
const PIPELINES = {
  'tar stream: fromWebDataset(8 shards).pipe(batch(256))': {
    items: SAMPLES,
    open: (lib: Library, data: CheckpointData) =>
      Promise.resolve({ make: () => lib.webdataset.fromWebDataset(data.tar).pipe(lib.core.batch(BATCH)), close: async () => undefined }),
  },
  'TFRecord stream: fromTFRecord(8 files).pipe(batch(256))': {
    items: SAMPLES,
    open: (lib: Library, data: CheckpointData) =>
      Promise.resolve({ make: () => lib.tfrecord.fromTFRecord(data.tfrecord).pipe(lib.core.batch(BATCH)), close: async () => undefined }),
  },
  'indexed: fromRandomAccess(tfrecordDataset, globalShuffle).pipe(batch(256))': {
    items: Math.floor(SAMPLES / BATCH) * BATCH, // 'drop': the last incomplete step is not read
    open: async (lib: Library, data: CheckpointData) => {
      const dataset = await lib.tfrecord.tfrecordDataset(data.tfrecord);
      const { fromRandomAccess, globalShuffle, batch } = lib.core;
      return {
        make: () => fromRandomAccess(dataset, { sampler: globalShuffle({ seed: 9 }), batchSize: BATCH }).pipe(batch(BATCH)),
        close: () => dataset.close(),
      };
    },
  },
  'worst case, no I/O: fromRandomAccess(synthetic 256,000, globalShuffle).pipe(batch(256))': {
    items: SYNTHETIC,
    open: (lib: Library) => {
      const dataset = { size: SYNTHETIC, read: (indices: readonly number[]) => indices, close() {} };
      const { fromRandomAccess, globalShuffle, batch } = lib.core;
      return Promise.resolve({
        make: () => fromRandomAccess(dataset, { sampler: globalShuffle({ seed: 9 }), batchSize: BATCH }).pipe(batch(BATCH)),
        close: async () => undefined,
      });
    },
  },
  'worst case, no I/O: fromItems(256,000 numbers).pipe(batch(256))': {
    items: SYNTHETIC,
    open: (lib: Library) => {
      const numbers = Array.from({ length: SYNTHETIC }, (_, index) => index);
      return Promise.resolve({ make: () => lib.core.fromItems(numbers).pipe(lib.core.batch(BATCH)), close: async () => undefined });
    },
  },
} as const;
type PipelineName = keyof typeof PIPELINES;
/** Passes a child makes after its own warm-up pass; it reports their total time. */
const CHILD_PASSES = 5;

/** Child mode: `--child <dist> <pipeline>`; prints `{ items, seconds }` for its timed passes. */
async function child(dist: string, name: PipelineName): Promise<void> {
  const lib = await library(dist);
  const data = await readManifest();
  if (data === undefined) throw new Error(`${dataDir}: no complete manifest.json`);
  const pipeline = await PIPELINES[name].open(lib, data);
  const pass = async (): Promise<number> => {
    let items = 0;
    const batches: Observable<readonly unknown[]> = pipeline.make();
    for await (const rows of lib.core.toLoader(batches)) items += rows.length;
    return items;
  };
  try {
    const items = await pass();
    const cpu = process.cpuUsage();
    const start = performance.now();
    for (let timed = 0; timed < CHILD_PASSES; timed++) {
      const again = await pass();
      if (again !== items) throw new Error(`pass ${timed + 1} handled ${again} items, the warm-up pass ${items}`);
    }
    const seconds = (performance.now() - start) / 1000;
    console.log(JSON.stringify({ items, seconds, cpuSeconds: cpuSince(cpu) }));
  } finally {
    await pipeline.close();
  }
}

const run = promisify(execFile);

async function runChild(dist: string, name: PipelineName): Promise<Timed> {
  const { stdout } = await run(process.execPath, [fileURLToPath(import.meta.url), '--child', dist, name], {
    cwd: root,
    maxBuffer: 1 << 20,
  });
  const reported = JSON.parse(stdout.trim().split('\n').pop()!) as Timed;
  return { ...reported, items: reported.items * CHILD_PASSES };
}

/** The base build's `dist/`, made when absent; `made` when this run made the worktree. */
async function baseBuild(): Promise<{ dist: string; made: boolean }> {
  const dist = join(baseDir, 'dist');
  if (existsSync(join(dist, 'src', 'index.js'))) return { dist, made: false };
  const made = !existsSync(baseDir);
  if (made) await run('git', ['worktree', 'add', '--detach', baseDir, BASE_COMMIT], { cwd: root });
  if (!existsSync(join(baseDir, 'node_modules'))) await symlink(await realpath(join(root, 'node_modules')), join(baseDir, 'node_modules'));
  console.log(`building ${BASE_COMMIT} in ${baseDir} ...`);
  await run(process.execPath, [join(baseDir, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.json'], { cwd: baseDir });
  return { dist, made };
}

async function overheadSection(): Promise<void> {
  const base = await baseBuild();
  try {
    console.log(
      `\n3. Overhead of state tracking: this build against ${BASE_COMMIT} (before issue 13), each run a child process ` +
        `(one warm pass, then ${CHILD_PASSES} timed passes of the epoch), ${fmt(SAMPLES)} samples of ${fmt(PAYLOAD)} B`,
    );
    const rows: string[][] = [];
    const chosen = (Object.keys(PIPELINES) as PipelineName[]).filter((name) => name.includes(pipelinesFilter));
    for (const name of chosen) {
      const expected = PIPELINES[name].items * CHILD_PASSES;
      const measured = await timedRounds(
        [
          { name: `${BASE_COMMIT} (base)`, run: () => runChild(base.dist, name) },
          { name: 'this build', run: () => runChild(thisDist, name) },
        ],
        expected,
      );
      const overhead = (times: number[][]): string =>
        spread(
          times[1]!.map((time, round) => (time / times[0]![round]! - 1) * 100),
          1,
        );
      const perPass = (times: number[]): string => fmt((median(times) * 1000) / CHILD_PASSES);
      rows.push([
        name,
        fmt(median(measured.rates.rates[0]!)),
        fmt(median(measured.rates.rates[1]!)),
        ratioCell(measured.rates, 1),
        overhead(measured.seconds),
        `${perPass(measured.cpu[0]!)} / ${perPass(measured.cpu[1]!)}`,
        overhead(measured.cpu),
        spread(
          measured.cpu[1]!.map((time, round) => ((time - measured.cpu[0]![round]!) * 1e9) / expected),
          0,
        ),
      ]);
    }
    printTable(
      `3. This build against ${BASE_COMMIT}: per-round ratios and overheads, median (range)`,
      [
        'pipeline',
        `${BASE_COMMIT} items/s`,
        'this build items/s',
        'items/s ratio to base',
        'wall-time overhead %',
        'CPU ms per pass, base / this',
        'CPU-time overhead %',
        'CPU ns added per item',
      ],
      rows,
    );
  } finally {
    if (base.made && !process.argv.includes('--keep-base')) await run('git', ['worktree', 'remove', '--force', baseDir], { cwd: root });
  }
}

async function main(): Promise<void> {
  const childAt = process.argv.indexOf('--child');
  if (childAt > 0) return child(process.argv[childAt + 1]!, process.argv[childAt + 2] as PipelineName);
  const lib = await library(thisDist);
  const data = await checkpointData(lib);
  console.log(
    `Checkpoint bench: ${fmt(SAMPLES)} samples of ${fmt(PAYLOAD)} B in ${SHARDS} TFRecord files and ${SHARDS} tar shards under ${dataDir}`,
  );
  method();
  if (sections.includes('1')) await stateSection(lib);
  if (sections.includes('2')) await firstBatchSection(lib, data);
  if (sections.includes('3')) await overheadSection();
  console.log(`\n(${ROUNDS} rounds; per-round ratios are the figures to compare on this shared machine)`);
}

await main();
