/**
 * The README's main job: a real pipeline over WebDataset shards it generates itself.
 *
 * 1. Writes 8 tar shards of 64x64 JPEGs with their class under `.tmp/demo/` (once; reused after).
 * 2. Trains for two epochs with a worker pipeline (demoPipeline.ts): each thread (one per core)
 *    reads its shards of the epoch's shard order, shuffles, decodes JPEGs and collates batches
 *    into typed-array tensors; the main thread only merges batches, shows a progress line, and
 *    prints the loop's throughput at the end. A "step" here is a nearest-mean classifier update:
 *    the point is the input pipeline, not the model.
 * 3. Evaluates exactly over 2 simulated ranks: each rank reads its share, padded to the same
 *    number of full batches; pad rows are masked, so every sample is counted once.
 *
 * Run: `npm ci && npm run demo` (needs nothing but this repository).
 */
import { createWriteStream, existsSync, mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pipeline as pipeStreams } from 'node:stream/promises';
import { map } from 'rxjs';
import sharp from 'sharp';
import tar from 'tar-stream';
import { fromWebDataset, type WebDatasetSample } from '../sources/webdataset/index.js';
import type { DecodedImage } from '../src/adapters/decodeImage.js';
import { decodeImageFieldsTask, workerExecutor, workerPipeline } from '../src/adapters/piscina.js';
import {
  collate,
  epochs,
  padToBatch,
  parallelMap,
  progress,
  shard,
  toLoader,
  type CollatedPaddedBatch,
  type HostTensor,
  type Loader,
  type LoaderState,
} from '../src/index.js';
import type { trainPart } from './demoPipeline.js';

const DIR = join(process.cwd(), '.tmp', 'demo');
const SHARDS = 8;
const PER_SHARD = 2000;
const SIZE = SHARDS * PER_SHARD;
const CLASSES = 10;
const SIDE = 64;
const BATCH = 128;
const EPOCHS = 2;
const WORLD_SIZE = 2;

const shardPaths = Array.from({ length: SHARDS }, (_, i) => join(DIR, `train-${String(i).padStart(6, '0')}.tar`));

/** Class c is a noisy image of brightness about 20 + 22c: learnable by its mean. */
async function makeJpegs(): Promise<Buffer[][]> {
  const variants: Buffer[][] = [];
  let state = 12345;
  const noise = () => ((state = (Math.imul(state, 1103515245) + 12345) >>> 0) >>> 24) % 31;
  for (let label = 0; label < CLASSES; label++) {
    const forLabel: Buffer[] = [];
    for (let v = 0; v < 16; v++) {
      const pixels = Buffer.alloc(SIDE * SIDE * 3);
      for (let i = 0; i < pixels.length; i++) pixels[i] = 5 + 22 * label + noise();
      forLabel.push(
        await sharp(pixels, { raw: { width: SIDE, height: SIDE, channels: 3 } })
          .jpeg({ quality: 90 })
          .toBuffer(),
      );
    }
    variants.push(forLabel);
  }
  return variants;
}

async function writeShards(): Promise<void> {
  if (shardPaths.every((path) => existsSync(path))) return;
  mkdirSync(DIR, { recursive: true });
  const started = performance.now();
  const jpegs = await makeJpegs();
  for (let s = 0; s < SHARDS; s++) {
    const pack = tar.pack();
    const temporary = `${shardPaths[s]}.partial`;
    const written = pipeStreams(pack, createWriteStream(temporary));
    for (let i = 0; i < PER_SHARD; i++) {
      const index = s * PER_SHARD + i;
      const label = (index * 7) % CLASSES;
      const key = `sample${String(index).padStart(8, '0')}`;
      pack.entry({ name: `${key}.jpg` }, jpegs[label]![index % 16]!);
      pack.entry({ name: `${key}.cls` }, String(label));
    }
    pack.finalize();
    await written;
    renameSync(temporary, shardPaths[s]!);
  }
  console.log(`wrote ${SHARDS} shards of ${PER_SHARD} samples to ${DIR} in ${((performance.now() - started) / 1000).toFixed(1)} s`);
}

/** What the decode task receives: the two fields of a sample, and its position for evaluation. */
interface Encoded {
  readonly jpg: Uint8Array;
  readonly cls: Uint8Array;
  readonly index: number;
}

const fields = (sample: WebDatasetSample, index: number): Encoded => ({
  jpg: sample['jpg'] as Uint8Array,
  cls: sample['cls'] as Uint8Array,
  index,
});

const labelOf = (cls: Uint8Array): number => Number(new TextDecoder().decode(cls));

function meanOfRows(image: HostTensor): Float64Array {
  const data = image.data as Uint8Array;
  const rows = image.shape[0]!;
  const perRow = data.length / rows;
  const means = new Float64Array(rows);
  for (let row = 0; row < rows; row++) {
    let sum = 0;
    for (let i = row * perRow, end = i + perRow; i < end; i++) sum += data[i]!;
    means[row] = sum / perRow;
  }
  return means;
}

await writeShards();
await using executor = workerExecutor();
const decode = decodeImageFieldsTask<Encoded>({ fields: ['jpg'] });
const decoded = (sample: { jpg: unknown; cls: unknown; index: number }) => ({
  image: sample.jpg as DecodedImage,
  label: labelOf(sample.cls as Uint8Array),
  index: sample.index,
});

// Training: the model is a running mean brightness per class.
const classSums = new Float64Array(CLASSES);
const classCounts = new Float64Array(CLASSES);
await using trainBatches = workerPipeline<typeof trainPart>(new URL('./demoPipeline.js', import.meta.url), 'trainPart', {
  seed: 1,
  options: { shards: shardPaths, batchSize: BATCH, side: SIDE },
});
const train = trainBatches.pipe(
  epochs(EPOCHS),
  progress({ label: 'train samples', total: SIZE * EPOCHS, weight: (b) => b.label.shape[0]! }),
);
let trained = 0;
let bytes = 0;
const trainStarted = performance.now();
for await (const { image, label } of toLoader(train, { prefetch: 2 })) {
  const means = meanOfRows(image);
  const labels = label.data as Int32Array;
  for (let row = 0; row < labels.length; row++) {
    classSums[labels[row]!]! += means[row]!;
    classCounts[labels[row]!]!++;
  }
  trained += labels.length;
  bytes += image.data.length;
}
const trainSeconds = (performance.now() - trainStarted) / 1000;
console.log(
  `train: ${trained.toLocaleString('en-US')} samples in ${trainSeconds.toFixed(1)} s = ` +
    `${Math.round(trained / trainSeconds).toLocaleString('en-US')} samples/s ` +
    `(${(bytes / trainSeconds / 1e6).toFixed(0)} MB/s of decoded pixels, ${trainBatches.threads} pipeline thread(s))`,
);
const classMeans = Array.from(classSums, (sum, c) => sum / classCounts[c]!);
const predict = (mean: number): number => {
  let best = 0;
  for (let c = 1; c < CLASSES; c++) if (Math.abs(mean - classMeans[c]!) < Math.abs(mean - classMeans[best]!)) best = c;
  return best;
};

// Exact evaluation over simulated ranks: strided shares of the unshuffled order, padded to the same
// number of batches; index = position in the dataset.
let correct = 0;
let counted = 0;
const seen = new Uint8Array(SIZE);
for (let rank = 0; rank < WORLD_SIZE; rank++) {
  const evaluation = (state?: LoaderState): Loader<CollatedPaddedBatch<ReturnType<typeof decoded>>> =>
    toLoader(
      fromWebDataset(shardPaths, { extensions: ['jpg', 'cls'] }).pipe(
        map(fields),
        shard({ rank, worldSize: WORLD_SIZE }),
        parallelMap(decode, { executor }),
        map(decoded),
        padToBatch(BATCH, { size: SIZE, worldSize: WORLD_SIZE }),
        collate(),
      ),
      { state },
    );
  // Rank 0 is preempted halfway: it saves what its loop received, and a new loader resumes from
  // the file exactly there (see "Checkpoint and resume" in the README).
  const preemptAt = rank === 0 ? Math.floor(SIZE / WORLD_SIZE / BATCH / 2) : Infinity;
  let batches = 0;
  let loader = evaluation();
  for (;;) {
    let preempted = false;
    for await (const { rows, mask, index } of loader) {
      countBatch(rows, mask, index);
      if (++batches === preemptAt) {
        preempted = true;
        break;
      }
    }
    if (!preempted) break;
    const saved = join(DIR, `eval-rank${rank}.state.json`);
    writeFileSync(`${saved}.tmp`, JSON.stringify(loader.state()));
    renameSync(`${saved}.tmp`, saved);
    console.log(`eval rank ${rank}: preempted after ${batches} batches; state saved (${statSync(saved).size} bytes), resuming from it`);
    loader = evaluation(JSON.parse(readFileSync(saved, 'utf8')) as LoaderState);
  }
  console.log(`eval rank ${rank}/${WORLD_SIZE}: ${batches} batches of ${BATCH}`);
}
function countBatch(rows: { image: HostTensor; label: HostTensor }, mask: HostTensor, index: HostTensor): void {
  {
    const means = meanOfRows(rows.image);
    const labels = rows.label.data as Int32Array;
    const real = mask.data as Uint8Array;
    const indices = index.data as Float64Array;
    for (let row = 0; row < real.length; row++) {
      if (real[row] === 0) continue;
      counted++;
      seen[indices[row]!]!++;
      if (predict(means[row]!) === labels[row]) correct++;
    }
  }
}
if (counted !== SIZE || seen.some((times) => times !== 1)) {
  throw new Error(`evaluation was not exact: ${counted} of ${SIZE} samples counted`);
}
console.log(
  `eval: nearest-mean accuracy ${correct}/${counted} = ${(correct / counted).toFixed(4)} (classes differ in brightness by construction); ` +
    `${WORLD_SIZE} ranks, every sample counted exactly once`,
);
