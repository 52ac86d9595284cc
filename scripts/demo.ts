/**
 * The README's main job: a real pipeline over WebDataset shards it generates itself, training a
 * real (small) tfjs model.
 *
 * 1. Writes 8 tar shards of 64x64 JPEGs with their class under `.tmp/demo/` (once; reused after).
 * 2. Reads one epoch with the pipeline alone, to measure the samples/s the loader can deliver: a
 *    worker pipeline (demoPipeline.ts) where each thread (one per core) reads its shards of the
 *    epoch's shard order, shuffles, decodes JPEGs and collates batches; the main thread only
 *    merges batches.
 * 3. Trains a tfjs-layers model (8x8 average pooling, a 32-unit hidden layer, softmax over the 10
 *    classes; cpu backend) with `model.fitDataset` on `toTfDataset(loader)`: every epoch is a new
 *    loader pass, reshuffled. It prints the model's step time beside the time it waited for the
 *    loader, so you see which of the two is the bottleneck.
 * 4. Evaluates the model exactly over 2 simulated ranks: each rank reads its share, padded to the
 *    same number of full batches; pad rows are masked, so every sample is counted once. Rank 0 is
 *    preempted halfway and resumes from its saved loader state.
 *
 * Run: `npm ci && npm run demo` (needs nothing but this repository).
 */
import { createWriteStream, existsSync, mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pipeline as pipeStreams } from 'node:stream/promises';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import * as tfd from '@tensorflow/tfjs-data';
import * as tfl from '@tensorflow/tfjs-layers';
import { map } from 'rxjs';
import sharp from 'sharp';
import tar from 'tar-stream';
import { fromWebDataset, type WebDatasetSample } from '../sources/webdataset/index.js';
import type { DecodedImage } from '../src/adapters/decodeImage.js';
import { decodeImageFieldsTask, workerExecutor, workerPipeline } from '../src/adapters/piscina.js';
import { tfjsAdapter, toTfDataset } from '../src/adapters/tfjs.js';
import {
  collate,
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
const EPOCHS = 4;
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

const rate = (perSecond: number): string => Math.round(perSecond).toLocaleString('en-US');

await writeShards();
await using executor = workerExecutor();
const decode = decodeImageFieldsTask<Encoded>({ fields: ['jpg'] });
const decoded = (sample: { jpg: unknown; cls: unknown; index: number }) => ({
  image: sample.jpg as DecodedImage,
  label: labelOf(sample.cls as Uint8Array),
  index: sample.index,
});

// The pipeline alone: one epoch read as fast as the loader delivers it.
await using trainBatches = workerPipeline<typeof trainPart>(new URL('./demoPipeline.js', import.meta.url), 'trainPart', {
  seed: 1,
  options: { shards: shardPaths, batchSize: BATCH, side: SIDE },
});
const loader = toLoader(trainBatches.pipe(progress({ label: 'train samples', total: SIZE, weight: (b) => b.label.shape[0]! })), {
  prefetch: 2,
});
let read = 0;
const readStarted = performance.now();
for await (const { label } of loader) read += label.shape[0]!;
const pipelineRate = read / ((performance.now() - readStarted) / 1000);
console.log(
  `pipeline alone: ${read.toLocaleString('en-US')} samples at ${rate(pipelineRate)} samples/s ` +
    `(${((pipelineRate * SIDE * SIDE * 3) / 1e6).toFixed(0)} MB/s of decoded pixels, ${trainBatches.threads} pipeline thread(s))`,
);
console.log(String(loader.report()));

// Training: a small model on the cpu backend. Pooling averages each 8x8 patch, so the dense
// layers see 8x8x3 = 192 features of the 64x64 image, rescaled from 0..255 to about -2..2
// (centred inputs of unit scale train in few steps; after pooling it costs 64 times less).
// Production mode skips tfjs's per-op NaN checks and its banner suggesting tfjs-node, which
// cannot install here (its install downloads libtensorflow).
tf.enableProdMode();
await tf.setBackend('cpu');
const init = (seed: number) => tfl.initializers.glorotUniform({ seed });
const model = tfl.sequential({
  layers: [
    tfl.layers.averagePooling2d({ inputShape: [SIDE, SIDE, 3], poolSize: 8 }),
    tfl.layers.rescaling({ scale: 1 / 64, offset: -2 }),
    tfl.layers.flatten(),
    tfl.layers.dense({ units: 32, activation: 'relu', kernelInitializer: init(1) }),
    tfl.layers.dense({ units: CLASSES, activation: 'softmax', kernelInitializer: init(2) }),
  ],
});
model.compile({ optimizer: tf.train.adam(0.02), loss: 'categoricalCrossentropy', metrics: ['accuracy'] });
const adapter = tfjsAdapter(tf, { dtypes: { uint8: 'float32' } });
await using dataset = toTfDataset(
  loader,
  { ...tf, data: tfd },
  {
    dtypes: { uint8: 'float32' },
    log: console.log, // says which tfjs backend the tensors go to
    map: ({ image, label }) => ({ xs: image, ys: tf.oneHot(label, CLASSES) }),
  },
);
// Where time goes: a step runs between onBatchBegin and onBatchEnd; from one batch's end to the
// next one's begin, fitDataset waits for the loader (and toTfDataset makes the tensors).
let stepMs = 0;
let waitMs = 0;
let trained = 0;
let steps = 0;
let mark = 0;
const trainStarted = performance.now();
await model.fitDataset(dataset, {
  epochs: EPOCHS,
  verbose: 0,
  callbacks: {
    onEpochBegin: async () => void (mark = performance.now()),
    onBatchBegin: async () => {
      waitMs += performance.now() - mark;
      mark = performance.now();
    },
    onBatchEnd: async (_batch, logs) => {
      stepMs += performance.now() - mark;
      trained += logs?.['size'] ?? 0;
      steps++;
      mark = performance.now();
    },
    onEpochEnd: async (epoch, logs) =>
      console.log(`epoch ${epoch + 1}/${EPOCHS}: loss ${logs?.['loss']?.toFixed(4)}, accuracy ${logs?.['acc']?.toFixed(4)}`),
  },
});
const trainSeconds = (performance.now() - trainStarted) / 1000;
const modelRate = trained / (stepMs / 1000);
console.log(
  `train: ${trained.toLocaleString('en-US')} samples in ${trainSeconds.toFixed(1)} s = ${rate(trained / trainSeconds)} samples/s; ` +
    `model step ${(stepMs / steps).toFixed(1)} ms/batch (${rate(modelRate)} samples/s), ` +
    `waiting for the loader ${(waitMs / steps).toFixed(1)} ms/batch (it delivers ${rate(pipelineRate)} samples/s): ` +
    `the ${stepMs >= waitMs ? 'model' : 'input pipeline'} is the bottleneck`,
);
// The loader's own account of the last epoch: every stage, in the worker threads too, and a verdict.
console.log(String(loader.report()));

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
  const image = adapter.toTensor(rows.image, 'rows.image') as tf.Tensor;
  const predicted = tf.tidy(() => tf.argMax(model.predict(image) as tf.Tensor, 1));
  const classes = predicted.dataSync();
  tf.dispose([image, predicted]);
  const labels = rows.label.data as Int32Array;
  const real = mask.data as Uint8Array;
  const indices = index.data as Float64Array;
  for (let row = 0; row < real.length; row++) {
    if (real[row] === 0) continue;
    counted++;
    seen[indices[row]!]!++;
    if (classes[row] === labels[row]) correct++;
  }
}
if (counted !== SIZE || seen.some((times) => times !== 1)) {
  throw new Error(`evaluation was not exact: ${counted} of ${SIZE} samples counted`);
}
console.log(
  `eval: model accuracy ${correct}/${counted} = ${(correct / counted).toFixed(4)} (classes differ in brightness by construction); ` +
    `${WORLD_SIZE} ranks, every sample counted exactly once`,
);
model.dispose();
