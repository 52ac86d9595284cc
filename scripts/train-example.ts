/**
 * Example: train a small tfjs model on a WebDataset shard, then evaluate it exactly over 2
 * simulated ranks.
 *
 * Data: `../shared/data/webdataset/sample.tgz` (WebDataset's own test shard: 90 samples of a 28x28
 * digit `.png` and its class `.cls`). PNGs are decoded in worker threads (`rxfeed/workers`),
 * batches become tfjs tensors on the cpu backend (`rxfeed/tfjs`).
 *
 * Training: softmax regression (a 2352 x 10 dense layer on the RGB pixels) by gradient descent, a
 * few epochs of shuffled batches of 16. tfjs-core alone registers no gradients (the full
 * `@tensorflow/tfjs` package does), so the step uses the closed-form gradient of softmax
 * cross-entropy, `X^T (softmax(XW + b) - Y) / B`, written in tfjs ops. Evaluation: the same shard split over 2 ranks by `shard`, each rank's
 * stream padded by `padToBatch` to the same number of full batches, pad rows masked out, so the
 * correct-prediction counts summed over ranks cover every sample exactly once; it checks that the
 * global indices seen are 0..89, each once, and prints the accuracy.
 *
 * Run: `npm run build && node dist/scripts/train-example.js`
 */
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { map } from 'rxjs';
import { batch } from '../operators/batch.js';
import { collate } from '../operators/collate.js';
import { padToBatch } from '../operators/padToBatch.js';
import { parallelMap } from '../operators/parallelMap.js';
import { shard } from '../operators/shard.js';
import { shuffleBuffer } from '../operators/shuffleBuffer.js';
import { toDevice } from '../operators/toDevice.js';
import { fromWebDataset } from '../sources/webdataset/index.js';
import type { DecodedImage } from '../src/adapters/decodeImage.js';
import { decodeImageFieldsTask, workerExecutor } from '../src/adapters/piscina.js';
import { tfjsAdapter } from '../src/adapters/tfjs.js';
import { toLoader } from '../src/index.js';
import { leakCheck } from '../src/testing/leakCheck.js';

const shardPath = join(process.cwd(), '..', 'shared', 'data', 'webdataset', 'sample.tgz');
const SIZE = 90; // samples in sample.tgz
const CLASSES = 10;
const FEATURES = 28 * 28 * 3;
const BATCH = 16;
const EPOCHS = 4;
const WORLD_SIZE = 2;

interface Sample {
  readonly image: DecodedImage;
  readonly label: number;
  readonly index: number;
}

await tf.setBackend('cpu');
await using executor = workerExecutor({ threads: 1 });
const decode = decodeImageFieldsTask<{ index: number; png: Uint8Array; cls: Uint8Array }>({ fields: ['png'] });
const adapter = tfjsAdapter(tf, { dtypes: { uint8: 'float32' } });

/** Samples with their global position, decoded in a worker thread. */
const samples = (rank = 0, worldSize = 1) =>
  fromWebDataset(shardPath, { extensions: ['png', 'cls'] }).pipe(
    map((sample, index) => ({ index, png: sample['png'] as Uint8Array, cls: sample['cls'] as Uint8Array })),
    shard({ rank, worldSize }),
    parallelMap(decode, { executor }),
    map((sample): Sample => ({
      image: sample.png as DecodedImage,
      label: Number(new TextDecoder().decode(sample.cls as Uint8Array)),
      index: sample.index,
    })),
  );

const weights = tf.variable(tf.zeros([FEATURES, CLASSES]), true, 'weights');
const bias = tf.variable(tf.zeros([CLASSES]), true, 'bias');
const LEARNING_RATE = 0.5;
const logits = (images: tf.Tensor): tf.Tensor2D =>
  tf.tidy(() => tf.add(tf.matMul(tf.div(tf.reshape(images, [-1, FEATURES]), 255), weights), bias) as tf.Tensor2D);

await leakCheck(tf, async () => {
  let step = 0;
  for (let epoch = 0; epoch < EPOCHS; epoch++) {
    const train = samples().pipe(
      shuffleBuffer(SIZE, { seed: 7 + epoch }),
      map(({ image, label }) => ({ image, label })),
      batch(BATCH),
      collate(),
      toDevice(adapter, { prefetch: 2 }),
    );
    for await (const { image, label } of toLoader(train, { prefetch: 2 })) {
      const loss = tf.tidy(() => {
        const x = tf.div(tf.reshape(image, [-1, FEATURES]), 255);
        const y = tf.oneHot(tf.cast(label, 'int32') as tf.Tensor1D, CLASSES);
        const z = tf.add(tf.matMul(x, weights), bias);
        const error = tf.div(tf.sub(tf.softmax(z), y), x.shape[0]); // dLoss/dz, mean over the batch
        weights.assign(tf.sub(weights, tf.mul(tf.matMul(x, error, true, false), LEARNING_RATE)));
        bias.assign(tf.sub(bias, tf.mul(tf.sum(error, 0), LEARNING_RATE)));
        return tf.losses.softmaxCrossEntropy(y, z);
      });
      if (step % 5 === 0) console.log(`epoch ${epoch} step ${step}: loss ${(await loss.data())[0]!.toFixed(4)}`);
      tf.dispose([loss, image, label]);
      step++;
    }
  }
  console.log(`trained ${step} steps`);
});

// Exact streaming evaluation: each simulated rank reads its share, padded to the same batch count.
let correct = 0;
let counted = 0;
const seen = new Array<number>(SIZE).fill(0);
await leakCheck(tf, async () => {
  for (let rank = 0; rank < WORLD_SIZE; rank++) {
    const evaluation = samples(rank, WORLD_SIZE).pipe(
      padToBatch<Sample>(BATCH, { size: SIZE, worldSize: WORLD_SIZE }),
      collate(),
      toDevice(adapter, { prefetch: 2 }),
    );
    let rankCorrect = 0;
    let rankCounted = 0;
    let batches = 0;
    for await (const padded of toLoader(evaluation)) {
      const { rows, mask, index } = padded;
      const hits = tf.tidy(() => {
        const predicted = tf.argMax(logits(rows.image), 1);
        const right = tf.cast(tf.equal(predicted, tf.cast(rows.label, 'int32')), 'float32');
        return tf.sum(tf.mul(right, tf.cast(mask, 'float32')));
      });
      rankCorrect += (await hits.data())[0]!;
      for (const bit of (await mask.data()) as Uint8Array) rankCounted += bit;
      // Global indices (float32 on the device: exact below 2^24), -1 for pad rows.
      for (const i of (await index.data()) as Float32Array) if (i >= 0) seen[i]!++;
      tf.dispose([hits, rows.image, rows.label, rows.index, mask, index]);
      batches++;
    }
    console.log(`rank ${rank}: ${batches} batches of ${BATCH}, ${rankCounted} real samples, ${rankCorrect} correct`);
    correct += rankCorrect;
    counted += rankCounted;
  }
});
if (counted !== SIZE || seen.some((times) => times !== 1)) {
  throw new Error(`evaluation was not exact: ${counted} samples counted, indices seen ${JSON.stringify(seen)}`);
}
console.log(`accuracy over ${WORLD_SIZE} ranks: ${correct}/${counted} = ${(correct / counted).toFixed(4)} (every sample counted once)`);
tf.dispose([weights, bias]);
