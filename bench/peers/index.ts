/**
 * rxfeed against its peer, PyTorch's DataLoader, on the same files: `npm run bench:peers`
 * (`node dist/bench/peers/index.js [--rounds N] [--pipelines tar,tar-decode,tfrecord]`).
 *
 * Data (`./data.ts`, made once under `.tmp/bench/peers/`): 20,000 real 128x128 JPEGs (mean about
 * 11.9 KB) with a class label each, as 8 WebDataset tar shards and as 8 TFRecord shards.
 *
 * Three pipelines, each with a 1000-sample shuffle buffer, batches of 64 and a collate to
 * `{ jpg, cls }` on both sides (see `./pipelines.ts` and `./torch_loader.py`):
 * - tar, no decode: the JPEG bytes batched as a list (PyTorch: a list of `bytes`);
 * - tar + JPEG decode to a HxWx3 uint8 tensor (PyTorch: PIL);
 * - TFRecord, both masked CRC32Cs of every record checked, each record decoded as a
 *   `tf.train.Example` (PyTorch: crcmod's C CRC32C and Google's protobuf runtime).
 * Contenders: PyTorch's DataLoader with num_workers 0, 1 and 2 (persistent workers, the
 * `file_system` sharing strategy), run by Debian's /usr/bin/python3 (`scripts/setup-torch-peer.sh`);
 * rxfeed's pipeline in the main thread; the same pipeline in worker threads (`workerPipeline`, 1
 * and 2 threads, one part each, merged in turn or, 'unordered', as they arrive); for decode,
 * rxfeed's main-thread read with the decode on 1 and 2 worker threads (`parallelMap` over a
 * `workerExecutor`); for tar, a loop written by hand.
 *
 * What is timed, alike for every contender: one epoch (20,000 samples, asserted), from asking for
 * the first batch to receiving the last, in the process that consumes the batches. A PyTorch
 * contender is a subprocess per run that reads one untimed epoch first (it starts the workers and
 * warms the page cache and the code) and reports the wall time of its second epoch: Python's
 * start, `import torch` and the worker start are outside. rxfeed's worker threads are started
 * once, before the rounds, and kept across epochs (its warm-up round starts the worker pipelines'
 * threads); every contender reads from the same warm page cache.
 * The rounds follow `bench/rounds.ts`; ratios are set against the best PyTorch configuration of
 * the same round.
 *
 * @module
 */
import { execFile } from 'node:child_process';
import { availableParallelism, loadavg } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { Observable } from 'rxjs';
import { parallelMap } from '../../operators/parallelMap.js';
import {
  decodeImageFieldsTask,
  workerExecutor,
  workerPipeline,
  type WorkerExecutor,
  type WorkerPipeline,
} from '../../src/adapters/piscina.js';
import { loadTurboJpeg } from '../../src/adapters/turbojpeg/binding.js';
import { toLoader } from '../../src/loader.js';
import { fmt, median, method, printTable, ROUNDS, rounds, ratioCell, type Contender, type RoundRates } from '../rounds.js';
import { peerData, SAMPLES, SIZE, type PeerData } from './data.js';
import { handTarEpoch } from './handLoop.js';
import {
  batched,
  shuffled,
  tarDecode,
  tarDecodeBatch,
  tarNoDecode,
  tarSamples,
  tfrecordExample,
  type PeerBatch,
  type PeerOptions,
  type PeerPart,
  type PeerSample,
} from './pipelines.js';

const root = process.cwd();
const python = '/usr/bin/python3';
const script = join(root, 'bench', 'peers', 'torch_loader.py');
const run = promisify(execFile);

/** One epoch as the contender measured it. */
interface Epoch {
  readonly items: number;
  readonly seconds: number;
}

/** A contender that times its own epoch (a subprocess reports the time of its second epoch). */
interface PeerContender {
  readonly name: string;
  readonly torch?: boolean;
  /** Another contender of the table, and the name its per-round ratio is shown under. */
  readonly against?: { readonly name: string; readonly label: string };
  readonly epoch: () => Promise<Epoch>;
}

/** What the PyTorch side reported besides its figures (versions, the CRC32C and protobuf it used). */
const torchInfo = new Map<string, string>();

async function torchEpoch(pipeline: string, workers: number, files: readonly string[]): Promise<Epoch> {
  const { stdout } = await run(python, [script, pipeline, String(workers), ...files], { maxBuffer: 1 << 20 });
  const report = JSON.parse(stdout.trim().split('\n').at(-1)!) as Epoch & Record<string, unknown>;
  for (const key of ['torch', 'crc32c', 'protobuf']) if (typeof report[key] === 'string') torchInfo.set(key, report[key]);
  return { items: report.items, seconds: report.seconds };
}

function torchContenders(pipeline: string, files: readonly string[]): PeerContender[] {
  return [0, 1, 2].map((workers) => ({
    name: `PyTorch DataLoader, num_workers ${workers}`,
    torch: true,
    epoch: () => torchEpoch(pipeline, workers, files),
  }));
}

/** Fails unless `batch` has the structure both sides make (see `./pipelines.ts`). */
function checkBatch(batch: PeerBatch, jpg: 'bytes' | 'uint8'): number {
  const rows = batch.cls.shape[0]!;
  const shape = jpg === 'bytes' ? [rows] : [rows, SIZE, SIZE, 3];
  if (batch.cls.dtype !== 'int64' || batch.jpg.dtype !== jpg || batch.jpg.shape.join() !== shape.join()) {
    throw new Error(`unexpected batch: jpg ${batch.jpg.dtype} [${batch.jpg.shape.join()}], cls ${batch.cls.dtype} [${rows}]`);
  }
  return rows;
}

/** One epoch of a loader: `for await` over its batches, as a training loop consumes them. */
async function loaderEpoch(batches: AsyncIterable<PeerBatch>, jpg: 'bytes' | 'uint8'): Promise<Epoch> {
  const start = performance.now();
  let items = 0;
  for await (const batch of batches) items += checkBatch(batch, jpg);
  return { items, seconds: (performance.now() - start) / 1000 };
}

/** The whole dataset as one part, read in the main thread; each `for await` is the next epoch. */
function mainThread(
  name: string,
  pipeline: (part: PeerPart) => Observable<PeerBatch>,
  options: PeerOptions,
  jpg: 'bytes' | 'uint8',
): PeerContender {
  const loader = toLoader(pipeline({ workerIndex: 0, numWorkers: 1, rank: 0, worldSize: 1, epoch: 0, seed: 1, options }));
  return { name, epoch: () => loaderEpoch(loader, jpg) };
}

/** Read, shuffle, batch and collate in the main thread, the decode on `executor`'s threads. */
function decodeOnThreads(executor: WorkerExecutor, threads: number, options: PeerOptions, against?: string): PeerContender {
  const part: PeerPart = { workerIndex: 0, numWorkers: 1, rank: 0, worldSize: 1, epoch: 0, seed: 1, options };
  const decode = decodeImageFieldsTask<PeerSample<Uint8Array>, 'jpg'>({ fields: ['jpg'] });
  const loader = toLoader(batched(shuffled(part, tarSamples(part)).pipe(parallelMap(decode, { executor }))));
  return {
    name: `rxfeed, decode on ${threads} worker thread${threads === 1 ? '' : 's'} (parallelMap)`,
    ...(against === undefined ? {} : { against: { name: against, label: 'x 1 thread' } }),
    epoch: () => loaderEpoch(loader, 'uint8'),
  };
}

/** The worker pipelines made so far, closed at the end. */
const pipelines: WorkerPipeline<PeerBatch>[] = [];

/**
 * `exportName` of `./pipelines.js` run by `workerPipeline` in `threads` threads, one part each
 * (whole files per part, as PyTorch's workers), merged in turn (`ordered`) or as they arrive; the
 * threads start before the rounds and persist across epochs, as PyTorch's persistent workers.
 */
function inWorkers(
  exportName: 'tarNoDecode' | 'tarDecode' | 'tarDecodeBatch' | 'tfrecordExample',
  threads: number,
  ordered: boolean,
  options: PeerOptions,
  jpg: 'bytes' | 'uint8',
  against?: string,
  suffix = '',
): PeerContender {
  const batches = workerPipeline<typeof tarNoDecode>(new URL('./pipelines.js', import.meta.url), exportName, {
    threads,
    ordered,
    seed: 1,
    options,
    rank: 0,
    worldSize: 1,
  });
  pipelines.push(batches);
  const loader = toLoader(batches);
  return {
    name: `rxfeed, workerPipeline, ${threads} thread${threads === 1 ? '' : 's'}${ordered ? '' : ', unordered'}${suffix}`,
    ...(against === undefined ? {} : { against: { name: against, label: 'x 1 thread' } }),
    epoch: () => loaderEpoch(loader, jpg),
  };
}

/** The worker-pipeline contenders of one pipeline: 1 and 2 threads, and 2 threads unordered. */
function workerContenders(
  exportName: Parameters<typeof inWorkers>[0],
  options: PeerOptions,
  jpg: 'bytes' | 'uint8',
  suffix = '',
): PeerContender[] {
  const one = inWorkers(exportName, 1, true, options, jpg, undefined, suffix);
  return [
    one,
    inWorkers(exportName, 2, true, options, jpg, one.name, suffix),
    inWorkers(exportName, 2, false, options, jpg, one.name, suffix),
  ];
}

/**
 * The contenders in interleaved rounds (`bench/rounds.ts`), each timing its own epoch, then one
 * table: samples/s, the per-round ratio to the best PyTorch configuration of the round, and the
 * ratio a contender asks for with `against`.
 */
async function measure(title: string, contenders: readonly PeerContender[]): Promise<void> {
  const seconds = contenders.map(() => [] as number[]);
  const timed: Contender[] = contenders.map((contender, which) => ({
    name: contender.name,
    run: async (round) => {
      const epoch = await contender.epoch();
      if (round > 0) seconds[which]!.push(epoch.seconds);
      return epoch.items;
    },
  }));
  await rounds(timed, SAMPLES);
  const rates = seconds.map((list) => list.map((value) => SAMPLES / value));
  const torch = contenders.flatMap((contender, which) => (contender.torch === true ? [which] : []));
  const best = rates[0]!.map((_, round) => Math.max(...torch.map((which) => rates[which]![round]!)));
  const bestWhich = rates[0]!.map((_, round) => contenders[torch.find((which) => rates[which]![round] === best[round])!]!.name);
  const measured: RoundRates = { contenders: timed, rates: [...rates, best] };
  const rows = contenders.map((contender, which) => {
    const against = contender.against === undefined ? -1 : contenders.findIndex((other) => other.name === contender.against!.name);
    return [
      contender.name,
      fmt(median(rates[which]!)),
      ratioCell(measured, which, rates.length),
      against < 0 ? '' : `${ratioCell(measured, which, against)} ${contender.against!.label}`,
    ];
  });
  rows.push(['PyTorch, best configuration of each round', fmt(median(best)), '1 (reference)', '']);
  printTable(title, ['contender', 'samples/s (median)', 'x PyTorch best: median (range)', 'other ratio: median (range)'], rows);
  const counts = new Map<string, number>();
  for (const name of bestWhich) counts.set(name, (counts.get(name) ?? 0) + 1);
  console.log(
    `PyTorch's best per round: ${[...counts].map(([name, count]) => `${name.replace('PyTorch DataLoader, ', '')} (${count})`).join(', ')}`,
  );
}

/** One table per chosen pipeline. */
async function tables(chosen: ReadonlySet<string>, data: PeerData): Promise<void> {
  const tar = { files: data.tar };
  const tfrecord = { files: data.tfrecord };
  if (chosen.has('tar')) {
    await measure('tar, no decode (shuffle 1000, batch 64, collate; JPEG bytes as a list)', [
      ...torchContenders('tar', data.tar),
      { ...mainThread('rxfeed, main thread', tarNoDecode, tar, 'bytes'), against: { name: 'hand-written tar loop', label: 'x hand loop' } },
      { name: 'hand-written tar loop', epoch: timedItems(() => handTarEpoch(data.tar)) },
      ...workerContenders('tarNoDecode', tar, 'bytes'),
    ]);
  }
  if (chosen.has('tar-decode')) {
    const executors = [1, 2].map((threads) => workerExecutor({ threads }));
    try {
      const oneThread = decodeOnThreads(executors[0]!, 1, tar);
      await measure('tar + JPEG decode to HxWx3 uint8 (shuffle 1000, batch 64, collate)', [
        ...torchContenders('tar-decode', data.tar),
        mainThread('rxfeed, main thread (decode in the pipeline)', tarDecode, tar, 'uint8'),
        oneThread,
        decodeOnThreads(executors[1]!, 2, tar, oneThread.name),
        ...workerContenders('tarDecode', tar, 'uint8'),
        mainThread('rxfeed, main thread, decodeBatch (into the batch)', tarDecodeBatch, tar, 'uint8'),
        ...workerContenders('tarDecodeBatch', tar, 'uint8', ', decodeBatch'),
      ]);
    } finally {
      await Promise.all(executors.map((executor) => executor.close()));
    }
  }
  if (chosen.has('tfrecord')) {
    await measure('TFRecord + CRC + Example decode (shuffle 1000, batch 64, collate; JPEG bytes as a list)', [
      ...torchContenders('tfrecord', data.tfrecord),
      mainThread('rxfeed, main thread', tfrecordExample, tfrecord, 'bytes'),
      ...workerContenders('tfrecordExample', tfrecord, 'bytes'),
    ]);
  }
}

async function main(): Promise<void> {
  const chosenArg = process.argv.indexOf('--pipelines');
  const chosen = new Set(chosenArg > 0 ? process.argv[chosenArg + 1]!.split(',') : ['tar', 'tar-decode', 'tfrecord']);
  const data = await peerData(root);
  console.log(
    `Peer benchmark: ${fmt(data.samples)} samples, 128x128 JPEGs of ${fmt(data.meanJpegBytes)} bytes on average, ` +
      `${data.tar.length} tar and ${data.tfrecord.length} TFRecord shards; ${availableParallelism()} cores; ` +
      `JPEG decoder: ${loadTurboJpeg() === undefined ? 'sharp' : 'libjpeg-turbo binding'}`,
  );
  method();
  console.log(
    'Timed: one epoch of 20,000 samples (shuffle 1000, batch 64, collate) in the consuming process; PyTorch: the second ' +
      "epoch of a subprocess (Python's start, import torch, the workers' start and the first epoch untimed), persistent " +
      "workers, 'file_system' sharing; rxfeed: worker threads (parallelMap's and workerPipeline's) started before the timed " +
      'rounds and kept across epochs.',
  );
  try {
    await tables(chosen, data);
  } finally {
    await Promise.all(pipelines.map((batches) => batches.close()));
  }
  console.log(
    `\nPyTorch side: torch ${torchInfo.get('torch') ?? '?'}, CRC32C by ${torchInfo.get('crc32c') ?? '(not run)'}, ` +
      `tf.train.Example by ${torchInfo.get('protobuf') ?? '(not run)'}; rounds: ${ROUNDS}; load average at the end: ` +
      loadavg()
        .map((value) => value.toFixed(1))
        .join(' '),
  );
}

/** An epoch timed here, for a contender that only answers its item count. */
function timedItems(epoch: () => Promise<number>): () => Promise<Epoch> {
  return async () => {
    const start = performance.now();
    const items = await epoch();
    return { items, seconds: (performance.now() - start) / 1000 };
  };
}

await main();
