/**
 * `concurrency: 'auto'` against a sweep of fixed concurrencies, on the tar + decode pipeline
 * (fromWebDataset -> parallelMap(decodeImageFieldsTask) on worker threads -> toLoader, a `for await`
 * consumer doing nothing).
 *
 * Data: 1024 synthetic 128x128 colour JPEGs (two sine gratings per channel plus noise, sharp
 * quality 80) in one tar shard, generated once under .tmp/bench/autotune/; a run reads the shard
 * `--repeat` times (default 8).
 *
 * Method: bench/rounds.ts (one warm-up round not counted, contenders interleaved in rotating
 * order, medians). The tuned run starts at one task per pool thread and climbs, so its rate
 * includes the climb; the rate over the second half of each run is printed too, and the tuned
 * run's decisions at the end of its last run.
 *
 * Run: `npx tsc -p tsconfig.json && node dist/bench/autotune.js [--rounds 3] [--repeat 8]`.
 */
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import tar from 'tar-stream';
import { parallelMap } from '../operators/parallelMap.js';
import { fromWebDataset } from '../sources/webdataset/index.js';
import { decodeImageFieldsTask, workerExecutor, type WorkerExecutor } from '../src/adapters/piscina.js';
import { toLoader, type FlowMetrics } from '../src/index.js';
import { compare, fmt, median, method, type Contender } from './rounds.js';

const COUNT = 1024;
const SIZE = 128;
const repeatArg = process.argv.indexOf('--repeat');
const REPEAT = repeatArg > 0 ? Math.max(1, Number(process.argv[repeatArg + 1]) || 8) : 8;
const dir = join(process.cwd(), '.tmp', 'bench', 'autotune');

async function makeShard(): Promise<string> {
  const shard = join(dir, 'samples.tar');
  if (existsSync(shard)) return shard;
  mkdirSync(dir, { recursive: true });
  const pack = tar.pack();
  const chunks: Buffer[] = [];
  pack.on('data', (chunk: unknown) => void chunks.push(chunk as Buffer));
  const done = new Promise<void>((resolve) => pack.on('end', () => resolve()));
  for (let i = 0; i < COUNT; i++) {
    const pixels = Buffer.alloc(SIZE * SIZE * 3);
    let state = (i * 2654435761) >>> 0;
    for (let p = 0; p < pixels.length; p++) {
      state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
      const x = (p / 3) % SIZE;
      const y = Math.floor(p / 3 / SIZE);
      pixels[p] = Math.max(0, Math.min(255, Math.round(128 + 60 * Math.sin(x * 0.1 + y * 0.07 + (p % 3)) + ((state >>> 24) - 128) * 0.35)));
    }
    const jpeg = await sharp(pixels, { raw: { width: SIZE, height: SIZE, channels: 3 } })
      .jpeg({ quality: 80 })
      .toBuffer();
    const key = String(i).padStart(6, '0');
    pack.entry({ name: `${key}.jpg` }, jpeg);
    pack.entry({ name: `${key}.cls` }, String(i % 10));
  }
  pack.finalize();
  await done;
  writeFileSync(shard, Buffer.concat(chunks));
  return shard;
}

async function main(): Promise<void> {
  const cores = availableParallelism();
  const shard = await makeShard();
  const shards = Array.from({ length: REPEAT }, () => shard);
  const threads = cores;
  console.log(`autotune bench: ${COUNT * REPEAT} samples a run, ${cores} cores, a pool of ${threads} worker threads`);
  method();
  const executor: WorkerExecutor = workerExecutor({ threads });
  const decode = decodeImageFieldsTask<Record<string, unknown>>({ fields: ['jpg'] });
  let last: FlowMetrics | undefined;
  /** Samples/s over the second half of each run (the warm-up round's too), by concurrency. */
  const secondHalf = new Map<string, number[]>();
  const run = async (concurrency: number | 'auto'): Promise<number> => {
    const loader = toLoader(fromWebDataset(shards).pipe(parallelMap(decode, { executor, concurrency })), {
      autotune: { periodMs: 250 },
    });
    const readings = loader.metrics(250).subscribe((all) => {
      if (concurrency === 'auto' && all[0] !== undefined) last = all[0];
    });
    let n = 0;
    let half = 0;
    try {
      for await (const sample of loader) {
        if ((sample['jpg'] as { data: Uint8Array }).data.length === SIZE * SIZE * 3) n++;
        if (n === (COUNT * REPEAT) / 2) half = performance.now();
      }
    } finally {
      readings.unsubscribe();
    }
    const list = secondHalf.get(String(concurrency)) ?? [];
    list.push((COUNT * REPEAT) / 2 / ((performance.now() - half) / 1000));
    secondHalf.set(String(concurrency), list);
    return n;
  };
  const fixed = [1, 2, 3, 4, 6, 8, 12, 16].filter((concurrency) => concurrency <= Math.min(executor.concurrency, 4 * cores + 4));
  const contenders: Contender[] = [
    ...fixed.map((concurrency) => ({ name: `concurrency ${concurrency}`, run: () => run(concurrency) })),
    { name: "concurrency 'auto'", run: () => run('auto') },
  ];
  try {
    const measured = await compare(`tar + decode pipeline, fixed concurrency vs 'auto'`, contenders, COUNT * REPEAT);
    const rates = measured.rates.map((list) => median(list));
    const best = Math.max(...rates.slice(0, -1));
    const bestAt = fixed[rates.indexOf(best)]!;
    console.log(
      `\nbest fixed: concurrency ${bestAt} at ${fmt(best)} samples/s; 'auto' ${fmt(rates.at(-1)!)} samples/s ` +
        `(${fmt((100 * rates.at(-1)!) / best, 1)}% of it, its climb included)`,
    );
    const halves = [...secondHalf].map(([name, list]) => [name, median(list)] as const);
    const bestHalf = Math.max(...halves.filter(([name]) => name !== 'auto').map(([, rate]) => rate));
    console.log(
      `second half of each run (median samples/s): ${halves.map(([name, rate]) => `${name} ${fmt(rate)}`).join(', ')}; ` +
        `'auto' ${fmt((100 * median(secondHalf.get('auto')!)) / bestHalf, 1)}% of the best fixed`,
    );
    console.log(`'auto' at the end of its last run: ${JSON.stringify(last?.autotune)}`);
  } finally {
    await executor.close();
  }
}

await main();
