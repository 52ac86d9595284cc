/**
 * Random access, the parts that need no server (issue 11): the samplers' speed and memory, a
 * global shuffle of TFRecord files on local disk against reading them front to back, the
 * TFRecord record index, and shuffle quality. The method (interleaved rounds, medians, ratios)
 * and the table printing are shared with `randomAccessRemote.ts`; `randomAccess.ts` runs both.
 *
 * @module
 */
import { randomFillSync } from 'node:crypto';
import { mkdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { lastValueFrom, map, range, toArray, type Observable } from 'rxjs';
import { fromRandomAccess } from '../sources/core/fromRandomAccess.js';
import { fromItems } from '../sources/core/fromItems.js';
import { buildRecordIndex, fromTFRecord, tfrecordDataset, toTFRecord, writeRecordIndex } from '../sources/tfrecord/index.js';
import { shuffleBuffer } from '../operators/shuffleBuffer.js';
import { toLoader } from '../src/loader.js';
import { permutation } from '../src/random.js';
import { blockShuffle, globalShuffle, orderOf, type IndexOrder } from '../src/sampler.js';
import { shuffleQuality } from '../src/testing/shuffleQuality.js';
import { compare, fmt, median, method, printTable, ROUNDS } from './rounds.js';

export const root = process.cwd();
// The heap figures need a collection first; the flag is set here so `node dist/bench/...` needs none.
setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

const mb = (bytes: number): string => `${fmt(bytes / 1e6, 1)} MB`;

/** Read a pipeline the way a training loop does. */
export async function consume(source: Observable<unknown>): Promise<number> {
  let items = 0;
  for await (const item of toLoader(source, { prefetch: 64 })) if (item !== undefined) items++;
  return items;
}

// --- 1. The samplers ---------------------------------------------------------------------------

const POSITIONS = 10_000_000;

/** Ask `order` for POSITIONS positions (passes over it when it is shorter); answers indices/s. */
function drive(order: IndexOrder): number {
  const length = Math.min(order.length, POSITIONS);
  let sum = 0; // used below, so the calls cannot be dropped
  const start = performance.now();
  for (let done = 0; done < POSITIONS; done += length) for (let position = 0; position < length; position++) sum += order.at(position);
  const seconds = (performance.now() - start) / 1000;
  if (sum < 0) throw new Error('unreachable');
  return POSITIONS / seconds;
}

function memory(): { rss: number; heap: number; buffers: number } {
  gc();
  const usage = process.memoryUsage();
  return { rss: usage.rss, heap: usage.heapUsed, buffers: usage.arrayBuffers };
}

export function samplerSection(): void {
  const cases: { name: string; order: () => IndexOrder }[] = [
    { name: 'globalShuffle, N = 10^6', order: () => orderOf(globalShuffle({ seed: 7 }), 1e6, 3) },
    { name: 'globalShuffle, N = 10^9', order: () => orderOf(globalShuffle({ seed: 7 }), 1e9, 3) },
    { name: 'globalShuffle, N = 2^53 - 1', order: () => orderOf(globalShuffle({ seed: 7 }), Number.MAX_SAFE_INTEGER, 3) },
    {
      name: 'blockShuffle, 10^4 shards x 10^5, k = 8',
      order: () => {
        const shardEnds = Array.from({ length: 10_000 }, (_, shard) => (shard + 1) * 100_000);
        return orderOf(blockShuffle({ seed: 7, shardsPerBlock: 8 }), 1e9, 3, shardEnds);
      },
    },
  ];
  const rates = cases.map(() => [] as number[]);
  const memoryRows: string[][] = cases.map(() => []);
  for (let round = 0; round <= ROUNDS; round++) {
    for (let turn = 0; turn < cases.length; turn++) {
      const which = (round + turn) % cases.length;
      const before = memory();
      const order = cases[which]!.order();
      const rate = drive(order);
      const after = memory();
      if (round > 0) rates[which]!.push(rate);
      if (round === ROUNDS) {
        memoryRows[which] = [
          cases[which]!.name,
          `${mb(before.rss)} -> ${mb(after.rss)}`,
          `${mb(before.heap)} -> ${mb(after.heap)}`,
          `${mb(before.buffers)} -> ${mb(after.buffers)}`,
        ];
      }
      if (order.length < 0) throw new Error('unreachable'); // keeps the order alive across `after`
    }
  }
  const fisherYates = { before: memory(), seconds: 0, after: memory() };
  const start = performance.now();
  const shuffled = permutation(POSITIONS, 7);
  fisherYates.seconds = (performance.now() - start) / 1000;
  fisherYates.after = memory();
  printTable(
    `1. Samplers: orderOf(...).at(p) for 10^7 positions p = 0, 1, ... on the main thread (median of ${ROUNDS} rounds after 1 warm-up, cases rotated)`,
    ['order', 'indices/s (median)', 'range'],
    [
      ...cases.map((entry, which) => [
        entry.name,
        fmt(median(rates[which]!)),
        `${fmt(Math.min(...rates[which]!))}-${fmt(Math.max(...rates[which]!))}`,
      ]),
      [`Fisher-Yates permutation(10^7) (reference)`, fmt(POSITIONS / fisherYates.seconds), `${fmt(fisherYates.seconds, 3)} s to build`],
    ],
  );
  memoryRows.push([
    'Fisher-Yates permutation(10^7)',
    `${mb(fisherYates.before.rss)} -> ${mb(fisherYates.after.rss)}`,
    `${mb(fisherYates.before.heap)} -> ${mb(fisherYates.after.heap)}`,
    `${mb(fisherYates.before.buffers)} -> ${mb(fisherYates.after.buffers)} (${mb(shuffled.byteLength)} array)`,
  ]);
  printTable(
    'Memory before making the order and after its 10^7 positions (order still referenced; after a gc), last round',
    ['order', 'RSS', 'JS heap used', 'ArrayBuffers'],
    memoryRows,
  );
}

// --- 2 and 4. TFRecord: global shuffle from local disk, record index ----------------------------

const RECORDS = 20_000;
const TF_FILES = 4;
const PAYLOAD = 12 * 1024;

/** 20,000 Examples (12 KiB random bytes + int64 label) as bench/tfrecord.ts makes them, in 4 files of 5,000. */
async function tfrecordFiles(): Promise<string[]> {
  const dir = join(root, '.tmp', 'bench', 'tfrecord-ra');
  await mkdir(dir, { recursive: true });
  const payload = new Uint8Array(PAYLOAD);
  randomFillSync(payload);
  const files: string[] = [];
  for (let file = 0; file < TF_FILES; file++) {
    const path = join(dir, `train-${String(file).padStart(5, '0')}-of-${String(TF_FILES).padStart(5, '0')}.tfrecord`);
    await rm(`${path}.idx`, { force: true }); // section 4 times the scan, then writes it
    const first = (file * RECORDS) / TF_FILES;
    await lastValueFrom(
      range(first, RECORDS / TF_FILES).pipe(
        map((i) => {
          payload[0] = i & 0xff;
          return { image: [payload], label: BigInt64Array.of(BigInt(i % 1000)) };
        }),
        toTFRecord(path),
      ),
    );
    files.push(path);
  }
  return files;
}

export async function tfrecordSection(): Promise<void> {
  const files = await tfrecordFiles();
  let bytes = 0;
  for (const file of files) bytes += (await stat(file)).size;
  console.log(
    `\n2. TFRecord: ${RECORDS} Examples (${PAYLOAD} B bytes feature + int64 label) in ${TF_FILES} files, ${mb(bytes)}, page cache warm`,
  );

  // 4 (TFRecord part): the header scan, then the sidecars the datasets below open from.
  const scans: number[] = [];
  for (let run = 0; run <= 3; run++) {
    const start = performance.now();
    for (const file of files) await buildRecordIndex(file);
    if (run > 0) scans.push((performance.now() - start) / 1000);
  }
  let idxBytes = 0;
  for (const file of files) {
    await writeRecordIndex(`${file}.idx`, await buildRecordIndex(file));
    idxBytes += (await stat(`${file}.idx`)).size;
  }
  const openScan = performance.now();
  const scanned = await tfrecordDataset(files, { indexPath: (file) => `${file}.missing-idx` });
  const openScanSeconds = (performance.now() - openScan) / 1000;
  await scanned.close();
  const openIdx = performance.now();
  const raw = await tfrecordDataset(files);
  const openIdxSeconds = (performance.now() - openIdx) / 1000;
  const decoded = await tfrecordDataset(files, { decode: 'example' });
  printTable(
    '4a. TFRecord record index (excluded from the timed loops below)',
    ['measure', 'value'],
    [
      [
        'buildRecordIndex, 4 files (median of 3 after a warm-up)',
        `${fmt(median(scans), 3)} s, ${fmt(bytes / median(scans) / 1e6)} MB/s of file scanned`,
      ],
      ['tfrecordDataset open, scanning the headers', `${fmt(openScanSeconds, 3)} s`],
      ['tfrecordDataset open, from the .idx files', `${fmt(openIdxSeconds, 3)} s`],
      ['sidecar .idx (tfrecord2idx text)', `${fmt(idxBytes)} B, ${fmt(idxBytes / RECORDS, 1)} B/record`],
    ],
  );

  console.log('');
  method();
  await compare(
    '2a. TFRecord raw records: sequential vs global shuffle (fromRandomAccess, readSize 64)',
    [
      { name: 'fromTFRecord(files)', run: () => consume(fromTFRecord(files)) },
      {
        name: 'fromRandomAccess(tfrecordDataset, globalShuffle)',
        run: (round) => consume(fromRandomAccess(raw, { sampler: globalShuffle({ seed: round }) })),
      },
    ],
    RECORDS,
    bytes,
  );
  await compare(
    "2b. TFRecord decoded Examples (decode: 'example'): sequential vs global shuffle",
    [
      { name: "fromTFRecord(files, { decode: 'example' })", run: () => consume(fromTFRecord(files, { decode: 'example' })) },
      {
        name: "fromRandomAccess(tfrecordDataset(.., { decode: 'example' }), globalShuffle)",
        run: (round) => consume(fromRandomAccess(decoded, { sampler: globalShuffle({ seed: round }) })),
      },
    ],
    RECORDS,
    bytes,
  );
  await raw.close();
  await decoded.close();
}

// --- 5. Shuffle quality ------------------------------------------------------------------------

export async function qualitySection(): Promise<void> {
  const size = 20_000;
  const shardEnds = Array.from({ length: 16 }, (_, shard) => ((shard + 1) * size) / 16);
  const orderArray = (order: IndexOrder): number[] => Array.from({ length: order.length }, (_, position) => order.at(position));
  const items = Array.from({ length: size }, (_, index) => index);
  const cases: [string, () => Promise<number[]> | number[]][] = [
    ...[1, 2, 3].map((seed): [string, () => number[]] => [
      `globalShuffle, seed ${seed}`,
      () => orderArray(orderOf(globalShuffle({ seed }), size, 0)),
    ]),
    ...[1, 4, 16].map((k): [string, () => number[]] => [
      `blockShuffle, 16 shards, k = ${k}`,
      () => orderArray(orderOf(blockShuffle({ seed: 1, shardsPerBlock: k }), size, 0, shardEnds)),
    ]),
    ...[1000, 10_000].map((buffer): [string, () => Promise<number[]>] => [
      `shuffleBuffer(${buffer}) over fromItems(0..N-1)`,
      () => lastValueFrom(fromItems(items).pipe(shuffleBuffer<number>(buffer, { seed: 1 }), toArray())),
    ]),
  ];
  const rows: string[][] = [];
  for (const [name, make] of cases) {
    const quality = shuffleQuality(await make());
    rows.push([
      name,
      fmt(quality.displacementKs, 4),
      fmt(quality.ksCritical, 4),
      quality.displacementKs < quality.ksCritical ? 'yes' : 'no',
      fmt(quality.correlation, 4),
      fmt(quality.meanDisplacement),
    ]);
  }
  printTable(
    `5. Shuffle quality, N = ${size} (uniform: KS under its critical value, correlation ~ N(0, ${fmt(1 / Math.sqrt(size - 1), 4)}), mean displacement ${fmt((size * size - 1) / (3 * size))})`,
    ['order', 'displacement KS', 'critical (p = 0.001)', 'uniform?', 'correlation', 'mean displacement'],
    rows,
  );
}
