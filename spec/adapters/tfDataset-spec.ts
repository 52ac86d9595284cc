import assert from 'node:assert/strict';
import { mkdtemp, readFile, readdir, readlink, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import * as tfd from '@tensorflow/tfjs-data';
import * as tfl from '@tensorflow/tfjs-layers';
import { lastValueFrom, map } from 'rxjs';
import { batch } from '../../operators/batch.js';
import { collate } from '../../operators/collate.js';
import { shuffleBuffer } from '../../operators/shuffleBuffer.js';
import { toDevice } from '../../operators/toDevice.js';
import { fromWebDataset } from '../../sources/webdataset/index.js';
import { decodeBatch } from '../../src/adapters/decodeBatch.js';
import { CorruptRecordError, fixedLenFeature, fromTFRecord, toTFRecord } from '../../sources/tfrecord/index.js';
import { toTfDataset, tfjsAdapter, type TfDatasetModule } from '../../src/adapters/tfjs.js';
import { InvalidArgumentError } from '../../src/errors.js';
import { fromItems, Random, toLoader } from '../../src/index.js';
import { sampleTgz } from './fixtures/sampleImages.js';

const tfjs: TfDatasetModule = { ...tf, data: tfd };
const CLASSES = 3;

interface Point {
  readonly x: readonly number[];
  readonly label: number;
  readonly id: number;
}

/** Three blobs around points 120 degrees apart: separable by a linear softmax layer. */
function blobs(count: number, seed: number): Point[] {
  const random = new Random(seed);
  return Array.from({ length: count }, (_, id) => {
    const label = id % CLASSES;
    const angle = (2 * Math.PI * label) / CLASSES;
    const x = [2 * Math.cos(angle) + 3.2 * (random.next() - 0.5), 2 * Math.sin(angle) + 3.2 * (random.next() - 0.5)];
    return { x, label, id };
  });
}

/** A linear softmax classifier with zero initial weights: training is deterministic. */
function classifier(): tfl.Sequential {
  const model = tfl.sequential({
    layers: [tfl.layers.dense({ inputShape: [2], units: CLASSES, activation: 'softmax', kernelInitializer: 'zeros' })],
  });
  model.compile({ optimizer: tf.train.sgd(0.5), loss: 'categoricalCrossentropy' });
  return model;
}

const xsYs = ({ x, label }: { x: tf.Tensor; label: tf.Tensor }) => ({ xs: x, ys: tf.oneHot(tf.cast(label, 'int32'), CLASSES) });

/** Paths this process has open under `dir`, read from /proc/self/fd. */
async function openFilesUnder(dir: string): Promise<string[]> {
  const open: string[] = [];
  for (const fd of await readdir('/proc/self/fd')) {
    const target = await readlink(join('/proc/self/fd', fd)).catch(() => '');
    if (target.startsWith(dir)) open.push(target);
  }
  return open;
}

describe('toTfDataset: model.fitDataset on an rxfeed pipeline', () => {
  let dir: string;
  before(async () => {
    await tf.setBackend('cpu');
    dir = await mkdtemp(join(tmpdir(), 'rxfeed-tfdataset-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('issue 14: trains a tfjs-layers model that classifies held-out data; every epoch is reshuffled, tensors stay level', async () => {
    const train = blobs(384, 1);
    const heldOut = blobs(192, 2);
    const loader = toLoader(fromItems(train).pipe(shuffleBuffer(128, { seed: 5 }), batch(32), collate()));
    const orders: number[][] = [];
    await using dataset = toTfDataset(loader, tfjs, {
      map: (b) => {
        if (orders.length === 0 || orders.at(-1)!.length === train.length) orders.push([]);
        orders.at(-1)!.push(...b.id.dataSync());
        return xsYs(b);
      },
    });
    assert.equal(dataset.size, 12);
    const model = classifier();
    const tensorsAtEpochEnd: number[] = [];
    const history = await model.fitDataset(dataset, {
      epochs: 4,
      verbose: 0,
      callbacks: { onEpochEnd: async () => void tensorsAtEpochEnd.push(tf.memory().numTensors) },
    });

    const losses = history.history['loss'] as number[];
    assert.equal(losses.length, 4);
    for (let epoch = 1; epoch < losses.length; epoch++) assert.ok(losses[epoch]! < losses[epoch - 1]!, `loss ${losses.join(', ')}`);
    const predicted = tf.tidy(() => tf.argMax(model.predict(tf.tensor2d(heldOut.map((p) => [...p.x]))) as tf.Tensor, 1));
    const labels = predicted.dataSync();
    predicted.dispose();
    const correct = heldOut.filter((p, i) => labels[i] === p.label).length;
    // Deterministic (zero initial weights, seeded data and shuffle): 187/192 = 97.4%; chance is 64.
    assert.equal(correct, 187, `held-out accuracy ${correct}/192`);

    // Each fitDataset epoch was a new loader pass (epochs 0..3: the iterator fitDataset makes
    // first and never reads took none), in a new order over the same samples.
    assert.equal(loader.epoch, 3);
    assert.equal(orders.length, 4);
    const ids = Array.from({ length: train.length }, (_, i) => i);
    for (const order of orders)
      assert.deepEqual(
        [...order].sort((a, b) => a - b),
        ids,
      );
    for (let epoch = 1; epoch < orders.length; epoch++) assert.notDeepEqual(orders[epoch], orders[epoch - 1]);
    assert.deepEqual(tensorsAtEpochEnd, Array(4).fill(tensorsAtEpochEnd[0]), `numTensors at epoch ends ${tensorsAtEpochEnd.join(', ')}`);
  });

  it("issue 14: trains on real shards: the digits of WebDataset's sample.tgz, decoded in the pipeline", async () => {
    const digits = fromWebDataset(sampleTgz, { extensions: ['png', 'cls'] }).pipe(
      map((sample) => ({ png: sample['png'] as Uint8Array, label: Number(new TextDecoder().decode(sample['cls'] as Uint8Array)) })),
      shuffleBuffer(90, { seed: 3 }),
      batch(15),
      decodeBatch<{ png: Uint8Array; label: number }, 'png'>({ fields: ['png'], size: [28, 28] }),
    );
    await using dataset = toTfDataset(digits, tfjs, {
      dtypes: { uint8: 'float32' },
      map: ({ png, label }) => ({ xs: tf.div(png, 255), ys: tf.oneHot(label, 10) }),
    });
    const model = tfl.sequential({
      layers: [
        tfl.layers.flatten({ inputShape: [28, 28, 3] }),
        tfl.layers.dense({ units: 10, activation: 'softmax', kernelInitializer: 'zeros' }),
      ],
    });
    model.compile({ optimizer: tf.train.sgd(0.1), loss: 'categoricalCrossentropy', metrics: ['accuracy'] });
    const history = await model.fitDataset(dataset, { epochs: 8, verbose: 0 });
    const losses = history.history['loss'] as number[];
    for (let epoch = 1; epoch < losses.length; epoch++) assert.ok(losses[epoch]! < losses[epoch - 1]!, `loss ${losses.join(', ')}`);
    const accuracy = history.history['acc'] as number[];
    // Deterministic: zero initial weights, a seeded shuffle. Chance is 0.1.
    assert.equal(accuracy.at(-1), 1);
  });

  it('issue 14: a pipeline ending in toDevice: the batch tensors the element leaves out are disposed', async () => {
    const pipeline = fromItems(blobs(96, 3)).pipe(batch(32), collate(), toDevice(tfjsAdapter(tf), { prefetch: 1 }));
    await using dataset = toTfDataset(pipeline, tfjs, { map: xsYs });
    const model = classifier();
    await model.fitDataset(dataset, { epochs: 1, verbose: 0 }); // optimizer and history settle
    const before = tf.memory().numTensors;
    await model.fitDataset(dataset, { epochs: 2, verbose: 0 });
    assert.equal(tf.memory().numTensors, before);
  });

  it('issue 14: fitDataset stopping early (batchesPerEpoch) leaves a pass open until the dataset is disposed, which closes the TFRecord file', async () => {
    const path = join(dir, 'blobs.tfrecord');
    await lastValueFrom(
      fromItems(blobs(600, 4)).pipe(
        map((p) => ({ x: Float32Array.from(p.x), label: BigInt64Array.of(BigInt(p.label)) })),
        toTFRecord(path),
      ),
    );
    const features = { x: fixedLenFeature('float32', [2]), label: fixedLenFeature('int64', []) };
    // Small reads, so the file is still being read when training stops.
    const pipeline = fromTFRecord([path], { decode: 'example', features, chunkBytes: 4096, int64: 'int32' }).pipe(
      map(({ x, label }) => ({ x, label: label[0]! })),
      batch(20),
      collate(),
    );
    const dataset = toTfDataset(pipeline, tfjs, { map: xsYs });
    const tensorsAtEpochEnd: number[] = [];
    await classifier().fitDataset(dataset.repeat(), {
      epochs: 3,
      batchesPerEpoch: 4,
      verbose: 0,
      callbacks: { onEpochEnd: async () => void tensorsAtEpochEnd.push(tf.memory().numTensors) },
    });
    assert.deepEqual(await openFilesUnder(dir), [path], 'the pass fitDataset left is still reading');
    const trained = tf.memory().numTensors;
    await dataset[Symbol.asyncDispose]();
    assert.deepEqual(await openFilesUnder(dir), []);
    assert.equal(tf.memory().numTensors, trained);
    assert.deepEqual(tensorsAtEpochEnd, Array(3).fill(tensorsAtEpochEnd[0]));
  });

  it('issue 14: a pipeline error rejects fitDataset with its typed error, and the file is closed', async () => {
    const path = join(dir, 'corrupt.tfrecord');
    await lastValueFrom(
      fromItems(blobs(60, 5)).pipe(
        map((p) => ({ x: Float32Array.from(p.x), label: BigInt64Array.of(BigInt(p.label)) })),
        toTFRecord(path),
      ),
    );
    const bytes = await readFile(path);
    const recordBytes = bytes.length / 60;
    bytes[45 * recordBytes + 20]! ^= 0xff; // inside record 45's data: its CRC fails
    await writeFile(path, bytes);
    const features = { x: fixedLenFeature('float32', [2]), label: fixedLenFeature('int64', []) };
    const pipeline = fromTFRecord([path], { decode: 'example', features, int64: 'int32' }).pipe(
      map(({ x, label }) => ({ x, label: label[0]! })),
      batch(10),
      collate(),
    );
    await using dataset = toTfDataset(pipeline, tfjs, { map: xsYs });
    await assert.rejects(classifier().fitDataset(dataset, { epochs: 1, verbose: 0 }), (error: unknown) => {
      assert.ok(error instanceof CorruptRecordError, String(error));
      assert.equal(error.code, 'RXFEED_ERR_CORRUPT_RECORD');
      assert.match(error.message, /corrupt\.tfrecord/);
      return true;
    });
    assert.deepEqual(await openFilesUnder(dir), []);
  });

  it('issue 14: a throw in map rejects fitDataset with that very error, frees the batch tensors and closes the file', async () => {
    const path = join(dir, 'map-throws.tfrecord');
    await lastValueFrom(
      fromItems(blobs(60, 7)).pipe(
        map((p) => ({ x: Float32Array.from(p.x), label: BigInt64Array.of(BigInt(p.label)) })),
        toTFRecord(path),
      ),
    );
    const features = { x: fixedLenFeature('float32', [2]), label: fixedLenFeature('int64', []) };
    const pipeline = fromTFRecord([path], { decode: 'example', features, int64: 'int32' }).pipe(
      map(({ x, label }) => ({ x, label: label[0]! })),
      batch(10),
      collate(),
    );
    // A throw before the first step, and one after two: fitDataset itself keeps a failed epoch's
    // step tensors (a plain tfjs-data generator failing after a step leaves 2), so the tensor
    // count is asserted where no step ran; the error and the file are asserted in both.
    for (const throwAt of [1, 3]) {
      const thrown = new Error(`map failed on batch ${throwAt}`);
      let calls = 0;
      await using dataset = toTfDataset(pipeline, tfjs, {
        map: (b) => {
          const element = xsYs(b);
          if (++calls === throwAt) throw thrown;
          return element;
        },
      });
      const model = classifier();
      const before = tf.memory().numTensors;
      await assert.rejects(model.fitDataset(dataset, { epochs: 1, verbose: 0 }), (error: unknown) => error === thrown);
      assert.equal(calls, throwAt);
      assert.deepEqual(await openFilesUnder(dir), []);
      if (throwAt === 1) assert.equal(tf.memory().numTensors, before, 'the converted batch and what map made are freed');
    }
  });

  it('issue 14: map is mandatory and tf must carry tfjs-data', () => {
    const pipeline = fromItems(blobs(4, 6)).pipe(batch(2), collate());
    assert.throws(
      () => toTfDataset(pipeline, tfjs, {} as never),
      (error: unknown) => error instanceof InvalidArgumentError && error.argument === 'toTfDataset.map',
    );
    assert.throws(
      () => toTfDataset(pipeline, tf as unknown as TfDatasetModule, { map: xsYs }),
      (error: unknown) => error instanceof InvalidArgumentError && error.argument === 'toTfDataset.tf',
    );
  });
});
