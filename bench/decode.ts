/**
 * JPEG decode throughput: on the main thread vs in worker threads, by decoder, and the whole
 * tar + decode pipeline (fromWebDataset -> parallelMap(decodeImageFieldsTask) on worker threads).
 *
 * Data: 1024 synthetic 128x128 colour JPEGs of about 11.8 KB each on average, the mean size of the
 * peers' images (bench/peers/): textured content (two sine gratings per channel plus pixel noise),
 * encoded with sharp at the quality whose mean size over the first 64 images lands nearest
 * 11,800 bytes; the mean and the quality are printed. Generated once under
 * .tmp/bench/decode/<recipe>/, with a tar shard of them as WebDataset samples (`.jpg` + `.cls`).
 * When Debian's python3-pil is installed, PIL decoding the same files (a python process kept
 * running, so no interpreter start is timed) is the reference PyTorch users decode with.
 *
 * Method: bench/rounds.ts (one warm-up round not counted, contenders interleaved in rotating
 * order, medians, per-round ratios). Every contender of a table decodes the same images, and
 * each run checks how many it decoded.
 *
 * Run: `npx tsc -p tsconfig.json && node dist/bench/decode.js [--rounds 5]` (about 2 minutes on 2 cores).
 */
import { spawn, spawnSync, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { availableParallelism, loadavg } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { lastValueFrom, map, reduce } from 'rxjs';
import { parallelMap } from '../operators/parallelMap.js';
import { fromWebDataset } from '../sources/webdataset/index.js';
import { decodeImage } from '../src/adapters/decodeImage.js';
import { decodeImageFieldsTask, decodeImageTask, workerExecutor, type WorkerExecutor } from '../src/adapters/piscina.js';
import { loadTurboJpeg } from '../src/adapters/turbojpeg/binding.js';
import { fromItems } from '../src/index.js';
import { COUNT, JPEG_DIR, makeJpegData, SIZE, TARGET_MEAN_BYTES } from './jpegShard.js';
import { compare, fmt, median, method, type Contender } from './rounds.js';

/** CPU time of every thread of this process (worker threads included) per image, by contender. */
const cpuPerImage = new Map<string, number[]>();

/** A contender whose timed runs (not the warm-up) also record CPU microseconds per image. */
function withCpu(name: string, run: () => Promise<number>): Contender {
  return {
    name,
    run: async (round) => {
      const cpu = process.cpuUsage();
      const images = await run();
      const used = process.cpuUsage(cpu);
      if (round > 0) {
        const list = cpuPerImage.get(name) ?? [];
        list.push((used.user + used.system) / images);
        cpuPerImage.set(name, list);
      }
      return images;
    },
  };
}

function copies(jpegs: readonly Uint8Array[], rounds: number): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let r = 0; r < rounds; r++) for (const jpeg of jpegs) out.push(jpeg.slice());
  return out;
}

/**
 * PIL in one python process kept running: each request decodes every file `repeat` times and
 * answers the count, so a run times decoding and a pipe round trip, not the interpreter's start.
 */
function startPil(repeat: number): { decode: () => Promise<number>; stop: () => void } | undefined {
  if (spawnSync('/usr/bin/python3', ['-c', 'import PIL'], { encoding: 'utf8' }).status !== 0) return undefined;
  const script = `
import io, sys
from PIL import Image
files = [open(f"${join(JPEG_DIR, 'jpg')}/{i}.jpg", "rb").read() for i in range(${COUNT})]
for line in sys.stdin:
    n = 0
    for r in range(${repeat}):
        for b in files:
            im = Image.open(io.BytesIO(b)); im = im.convert("RGB"); im.tobytes(); n += 1
    print(n, flush=True)
`;
  const child: ChildProcessWithoutNullStreams = spawn('/usr/bin/python3', ['-c', script]);
  const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
  return {
    decode: async () => {
      child.stdin.write('run\n');
      const answer = await lines.next();
      if (answer.done === true) throw new Error('the PIL process ended');
      return Number(answer.value);
    },
    stop: () => {
      child.stdin.end();
      child.kill();
    },
  };
}

/** Decoders on the main thread (and PIL, when installed), each decoding every image twice. */
async function mainThread(jpegs: readonly Uint8Array[]): Promise<void> {
  const repeat = 2;
  const pil = startPil(repeat);
  const contenders: Contender[] = [];
  // Its CPU time is the python process's, not this one's: no CPU figure for it.
  if (pil !== undefined) contenders.push({ name: 'PIL (python3-pil), 1 at a time', run: pil.decode });
  if (loadTurboJpeg() !== undefined) {
    contenders.push(
      withCpu('libjpeg-turbo binding, main thread, 1 at a time', async () => {
        const items = copies(jpegs, repeat);
        for (const [index, bytes] of items.entries()) await decodeImage(bytes, { index });
        return items.length;
      }),
    );
  }
  for (const inFlight of [1, 64]) {
    contenders.push(
      withCpu(`sharp, main thread, ${inFlight} in flight`, async () => {
        const items = copies(jpegs, repeat);
        let next = 0;
        let decoded = 0;
        await Promise.all(
          Array.from({ length: inFlight }, async () => {
            while (next < items.length) {
              const index = next++;
              await decodeImage(items[index]!, { index, options: { decoder: 'sharp' } });
              decoded++;
            }
          }),
        );
        return decoded;
      }),
    );
  }
  try {
    await compare(`JPEG decode on the main thread (${fmt(COUNT * repeat)} images a run)`, contenders, COUNT * repeat);
  } finally {
    pil?.stop();
  }
  if (pil === undefined) console.log('(PIL reference not measured: apt-get install python3-pil to add it)');
}

/** Each decoder on worker threads through parallelMap, for each thread count. */
async function workers(jpegs: readonly Uint8Array[], threadCounts: readonly number[]): Promise<void> {
  const repeat = 2;
  const decoders = loadTurboJpeg() === undefined ? (['sharp'] as const) : (['turbojpeg', 'sharp'] as const);
  const executors: WorkerExecutor[] = [];
  try {
    const contenders: Contender[] = [];
    for (const decoder of decoders) {
      for (const threads of threadCounts) {
        // sharp works on libuv's pool: give each thread several decodes at once.
        const executor = workerExecutor({ threads, tasksPerThread: decoder === 'sharp' ? 8 : 2 });
        executors.push(executor);
        const name = `${decoder === 'turbojpeg' ? 'libjpeg-turbo binding' : 'sharp'}, ${threads} worker thread(s)`;
        contenders.push(
          withCpu(name, () =>
            lastValueFrom(
              fromItems(copies(jpegs, repeat)).pipe(
                parallelMap(decodeImageTask({ decoder }), { executor }),
                reduce((n) => n + 1, 0),
              ),
            ),
          ),
        );
      }
    }
    await compare(`JPEG decode on worker threads, parallelMap (${fmt(COUNT * repeat)} images a run)`, contenders, COUNT * repeat);
  } finally {
    await Promise.all(executors.map((executor) => executor.close()));
  }
}

/** Reading the tar alone, then tar + decode on worker threads: the whole pipeline. */
async function pipeline(shard: string, threadCounts: readonly number[]): Promise<number> {
  const repeat = 4;
  const shards = Array.from({ length: repeat }, () => shard);
  const executors: WorkerExecutor[] = [];
  try {
    const decode = decodeImageFieldsTask<Record<string, unknown>>({ fields: ['jpg'] });
    const contenders: Contender[] = [
      withCpu('tar read only (no decode), main thread', () => lastValueFrom(fromWebDataset(shards).pipe(reduce((n) => n + 1, 0)))),
    ];
    for (const threads of threadCounts) {
      const executor = workerExecutor({ threads });
      executors.push(executor);
      contenders.push(
        withCpu(`tar + decode pipeline, ${threads} worker thread(s)`, () =>
          lastValueFrom(
            fromWebDataset(shards).pipe(
              parallelMap(decode, { executor }),
              map((sample) => ((sample['jpg'] as { data: Uint8Array }).data.length === SIZE * SIZE * 3 ? 1 : 0)),
              reduce((total, ok) => total + ok, 0),
            ),
          ),
        ),
      );
    }
    const measured = await compare(`tar + decode pipeline (${fmt(COUNT * repeat)} samples a run)`, contenders, COUNT * repeat);
    return Math.max(...measured.rates.slice(1).map((rates) => median(rates)));
  } finally {
    await Promise.all(executors.map((executor) => executor.close()));
  }
}

async function main(): Promise<void> {
  const cores = availableParallelism();
  console.log(
    `decode bench: ${COUNT} JPEGs ${SIZE}x${SIZE}, ${cores} cores, libjpeg-turbo binding ${loadTurboJpeg() ? 'built' : 'absent (sharp only)'}`,
  );
  const { jpegs, shard, quality } = await makeJpegData();
  const bytes = jpegs.reduce((total, jpeg) => total + jpeg.byteLength, 0);
  console.log(
    `images: mean ${fmt(bytes / COUNT)} bytes (target ${fmt(TARGET_MEAN_BYTES)}, the peers' mean), ` +
      `min ${fmt(Math.min(...jpegs.map((jpeg) => jpeg.byteLength)))}, max ${fmt(Math.max(...jpegs.map((jpeg) => jpeg.byteLength)))}; ` +
      `sharp quality ${quality}`,
  );
  method();
  const threadCounts = [...new Set([Math.max(1, cores - 1), cores])];
  await mainThread(jpegs);
  await workers(jpegs, threadCounts);
  const best = await pipeline(shard, threadCounts);

  console.log('\nCPU microseconds per image, all threads of this process (median of the timed runs):');
  for (const [name, list] of cpuPerImage) console.log(`  ${name.padEnd(50)} ${fmt(median(list))}`);
  console.log(
    `\nload average at the end: ${loadavg()
      .map((n) => n.toFixed(1))
      .join(' ')} (figures drop when other processes share the cores)`,
  );
  console.log(
    `tar + decode pipeline: ${fmt(best)} samples/s, median of the best thread count (goal >= 6500 on 2 cores): ${best >= 6500 ? 'met' : 'NOT met'}`,
  );
  const leanest = Math.min(...[...cpuPerImage].filter(([name]) => name.startsWith('tar + decode')).map(([, list]) => median(list)));
  console.log(
    `CPU cost ${fmt(leanest)} us/sample over all threads: at most ${fmt((cores * 1e6) / leanest)} samples/s on ${cores} otherwise idle cores`,
  );
}

await main();
