import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { lastValueFrom, take, toArray, type Observable } from 'rxjs';
import { infoOf, InvalidArgumentError, sizeOf, toLoader } from '../../../src/index.js';
import {
  FeatureError,
  fromTfds,
  readTfdsInfo,
  resolveTfdsSplit,
  TfdsError,
  type DecodedImage,
  type ImageDecoder,
  type TfdsExample,
} from '../../../sources/tfrecord/index.js';
import { bridgeDir, openFds, tempDir } from './paths.js';

const all = <T>(source: Observable<T>): Promise<T[]> => lastValueFrom(source.pipe(toArray()));
const tmp = tempDir('tfds');
after(() => tmp.remove());

// Values read independently with Debian's python3-protobuf (read_tfrecord.py) and, for pixels,
// Debian's Pillow (libjpeg): episode ids in file order, and facts about episode 0.
const TRAIN_IDS = [5, 0, 1, 3, 2, 3, 3, 2, 5, 4, 0, 5, 1, 3, 2, 4, 4, 6, 2, 4, 0, 1, 1, 7, 0];
const VAL_IDS = [3, 0, 3, 5, 3, 2, 0, 1, 3, 5, 1, 2, 0, 4, 2, 7, 1, 4, 4, 5, 4, 6, 2, 0, 1];
const TRAIN_0 = {
  filePath:
    '/nfs/kun2/users/homer/datasets/bridge_data_all/numpy_256/bridge_data_v1/berkeley/toysink2_bww/put_cup_from_counter_or_drying_rack_into_sink/val/out.npy',
  instruction: 'put cup from counter or drying rack into sink',
  firstActionBits: [801672736, 772938128, 794329600, 3024624607, 3037144986, 866197257, 1065353216],
  lastStateBits: [1047355359, 1039263387, 1039021123, 1026432891, 3191565567, 3207679187, 1065360062],
  embeddingFirstBits: [1028673357, 1035267245, 1017442854],
  image0Bytes: 3807,
  // Sum of all pixel bytes and the first two RGB pixels of step 0's images, as Pillow decodes them.
  pixels: {
    image_0: { sum: 1487210, head: [61, 57, 46, 82, 75, 67] },
    image_1: { sum: 1419680, head: [174, 187, 193, 131, 152, 157] },
    image_2: { sum: 1454784, head: [6, 10, 9, 27, 31, 30] },
    image_3: { sum: 0, head: [0, 0, 0, 0, 0, 0] },
  },
};
const VAL_0 = {
  instruction: 'flip pot upright which is in sink',
  firstActionBits: [2943917428, 796919080, 2955068024, 3018902315, 3028866595, 3041475220, 1065353216],
};

const bits = (values: Float32Array): number[] => [...new Uint32Array(values.buffer, values.byteOffset, values.length)];
type Step = {
  action: Float32Array;
  language_embedding: Float32Array;
  is_first: boolean;
  is_last: boolean;
  is_terminal: boolean;
  language_instruction: string;
  discount: number;
  reward: number;
  observation: { state: Float32Array } & Record<`image_${0 | 1 | 2 | 3}`, Uint8Array | DecodedImage>;
};
type Episode = { steps: Step[]; episode_metadata: Record<string, unknown> };
const episodes = async (split: string, decodeImages?: boolean | ImageDecoder): Promise<Episode[]> =>
  (await all(fromTfds(bridgeDir, { split, decodeImages }))) as unknown as Episode[];
const ids = (list: Episode[]): number[] => list.map((e) => e.episode_metadata.episode_id as number);

describe('readTfdsInfo and resolveTfdsSplit on the octo bridge dataset', () => {
  const info = readTfdsInfo(bridgeDir);

  it('reads splits, shard lengths and shard file names', () => {
    assert.equal(info.name, 'bridge_dataset');
    assert.equal(info.version, '1.0.0');
    assert.deepEqual([...info.splits.keys()], ['train', 'val']);
    assert.deepEqual(info.splits.get('train'), {
      name: 'train',
      shardLengths: [25],
      files: [join(bridgeDir, 'bridge_dataset-train.tfrecord-00000-of-00001')],
      numExamples: 25,
    });
  });

  it('resolves TFDS slicing: percent (rounded half to even), absolute, negative, index, shard, unions', () => {
    const r = (expression: string): [string, number, number][] =>
      resolveTfdsSplit(info, expression).map(({ split, start, end }) => [split, start, end]);
    assert.deepEqual(r('train'), [['train', 0, 25]]);
    assert.deepEqual(r('train[:10%]'), [['train', 0, 2]]); // 2.5 rounds to 2, as Python's round
    assert.deepEqual(r('train[:30%]'), [['train', 0, 8]]); // 7.5 rounds to 8
    assert.deepEqual(r('train[-5%:]'), [['train', 24, 25]]);
    assert.deepEqual(r('train[10%:20%]'), [['train', 2, 5]]);
    assert.deepEqual(r('train[100:200]'), [['train', 25, 25]]);
    assert.deepEqual(r('train[5:200]'), [['train', 5, 25]]);
    assert.deepEqual(r('train[-3:-1]'), [['train', 22, 24]]);
    assert.deepEqual(r('train[7]'), [['train', 7, 8]]);
    assert.deepEqual(r('train[-1]'), [['train', 24, 25]]);
    assert.deepEqual(r('train[:1shard]'), [['train', 0, 25]]);
    assert.deepEqual(r('train[:50%](pct1_dropremainder)'), [['train', 0, 0]]);
    assert.deepEqual(r('train + val[:4]'), [
      ['train', 0, 25],
      ['val', 0, 4],
    ]);
    assert.throws(
      () => r('test'),
      (e: unknown) => e instanceof InvalidArgumentError && /no split 'test'.*train, val/.test(e.message),
    );
    assert.throws(() => r('train[::2]'), InvalidArgumentError);
    assert.throws(() => r('train[:150%]'), InvalidArgumentError);
    assert.throws(() => r('train[30]'), InvalidArgumentError);
  });
});

describe('fromTfds on the octo bridge dataset', () => {
  it('reads the 25 episodes of each split with their size known from shardLengths', async () => {
    for (const [split, expected] of [
      ['train', TRAIN_IDS],
      ['val', VAL_IDS],
    ] as const) {
      const source = fromTfds(bridgeDir, { split });
      assert.equal(sizeOf(source), 25);
      const list = (await all(source)) as unknown as Episode[];
      assert.equal(list.length, 25);
      assert.deepEqual(ids(list), expected);
      for (const episode of list) {
        assert.deepEqual(Object.keys(episode).sort(), ['episode_metadata', 'steps']);
        assert.equal(episode.steps.length, 10);
      }
    }
  });

  it('decodes the nested steps per features.json: tensors, scalars, bools, text, metadata', async () => {
    const [first] = await episodes('train[:1]');
    assert.deepEqual(first!.episode_metadata, {
      has_image_2: false,
      has_image_3: false,
      file_path: TRAIN_0.filePath,
      has_language: true,
      has_image_1: false,
      has_image_0: false,
      episode_id: 5,
    });
    const steps = first!.steps;
    steps.forEach((step, i) => {
      assert.deepEqual(Object.keys(step).sort(), [
        'action',
        'discount',
        'is_first',
        'is_last',
        'is_terminal',
        'language_embedding',
        'language_instruction',
        'observation',
        'reward',
      ]);
      assert.ok(step.action instanceof Float32Array && step.action.length === 7);
      assert.ok(step.language_embedding instanceof Float32Array && step.language_embedding.length === 512);
      assert.ok(step.observation.state instanceof Float32Array && step.observation.state.length === 7);
      assert.equal(step.is_first, i === 0);
      assert.equal(step.is_last, false);
      assert.equal(step.is_terminal, false);
      assert.equal(step.discount, 1);
      assert.equal(step.reward, 0);
      assert.equal(step.language_instruction, TRAIN_0.instruction);
      assert.deepEqual(Object.keys(step.observation).sort(), ['image_0', 'image_1', 'image_2', 'image_3', 'state']);
    });
    assert.deepEqual(bits(steps[0]!.action), TRAIN_0.firstActionBits);
    assert.deepEqual(bits(steps[9]!.observation.state), TRAIN_0.lastStateBits);
    assert.deepEqual(bits(steps[0]!.language_embedding).slice(0, 3), TRAIN_0.embeddingFirstBits);
    // Without decodeImages, images are the encoded JPEG bytes.
    const jpeg = steps[0]!.observation.image_0 as Uint8Array;
    assert.ok(jpeg instanceof Uint8Array);
    assert.equal(jpeg.length, TRAIN_0.image0Bytes);
    assert.deepEqual([...jpeg.subarray(0, 3)], [0xff, 0xd8, 0xff]);

    const [val] = await episodes('val[:1]');
    assert.equal(val!.steps[3]!.language_instruction, VAL_0.instruction);
    assert.deepEqual(bits(val!.steps[0]!.action), VAL_0.firstActionBits);
  });

  it('decodes every JPEG to 64x64x3 RGB with decodeImages (sharp by default)', async () => {
    const list = await episodes('train', true);
    let images = 0;
    for (const episode of list) {
      for (const step of episode.steps) {
        for (const key of ['image_0', 'image_1', 'image_2', 'image_3'] as const) {
          const image = step.observation[key] as DecodedImage;
          assert.deepEqual(image.shape, [64, 64, 3]);
          assert.equal(image.dtype, 'uint8');
          assert.ok(image.data instanceof Uint8Array);
          assert.equal(image.data.length, 64 * 64 * 3);
          images++;
        }
      }
    }
    assert.equal(images, 25 * 10 * 4);
    const step0 = list[0]!.steps[0]!.observation;
    for (const [key, expected] of Object.entries(TRAIN_0.pixels)) {
      const { data } = step0[key as 'image_0'] as DecodedImage;
      assert.equal(
        data.reduce((sum, v) => sum + v, 0),
        expected.sum,
        key,
      );
      assert.deepEqual([...data.subarray(0, 6)], expected.head, key);
    }
  });

  it('takes a pluggable image decoder and checks what it returns against features.json', async () => {
    const calls: string[] = [];
    const grey: ImageDecoder = (encoded, expected) => {
      calls.push(`${expected.format} ${expected.shape.join('x')} ${encoded[0]}`);
      return { data: new Uint8Array(64 * 64 * 3).fill(7), shape: [64, 64, 3], dtype: 'uint8' };
    };
    const [episode] = await episodes('val[:1]', grey);
    assert.equal(calls.length, 40);
    assert.equal(calls[0], 'jpeg 64x64x3 255');
    assert.equal((episode!.steps[5]!.observation.image_2 as DecodedImage).data[100], 7);
    const wrong: ImageDecoder = () => ({ data: new Uint8Array(32 * 32 * 3), shape: [32, 32, 3], dtype: 'uint8' });
    await assert.rejects(episodes('val[2:3]', wrong), (error: unknown) => {
      assert.ok(error instanceof FeatureError);
      assert.equal(error.mismatch, 'shape');
      assert.match(error.feature, /^steps\/observation\/image_[0-3]$/);
      assert.equal(error.location?.record, 2);
      return true;
    });
  });

  it('slices splits: train[:10%], train[100:200] clamped to nothing, train[-5%:], train+val', async () => {
    const check = async (split: string, expected: number[]): Promise<void> => {
      const source = fromTfds(bridgeDir, { split });
      assert.equal(sizeOf(source), expected.length, split);
      assert.deepEqual(ids((await all(source)) as unknown as Episode[]), expected, split);
    };
    await check('train[:10%]', TRAIN_IDS.slice(0, 2));
    await check('train[100:200]', []);
    await check('train[-5%:]', TRAIN_IDS.slice(24));
    await check('train[20:]', TRAIN_IDS.slice(20));
    await check('train+val', [...TRAIN_IDS, ...VAL_IDS]);
    await check('val[-2:]+train[:3]', [...VAL_IDS.slice(23), ...TRAIN_IDS.slice(0, 3)]);
  });

  it('offers exact element ranges across the split files and file selection for sharding', async () => {
    const both = fromTfds(bridgeDir, { split: 'train+val' });
    assert.equal(sizeOf(both), 50);
    const middle = infoOf(both).selectRange!(23, 27);
    assert.equal(sizeOf(middle), 4);
    assert.deepEqual(ids((await all(middle)) as unknown as Episode[]), [...TRAIN_IDS.slice(23), ...VAL_IDS.slice(0, 2)]);
    assert.deepEqual(
      infoOf(both).files!.map((f) => f.slice(f.lastIndexOf('/') + 1)),
      ['bridge_dataset-train.tfrecord-00000-of-00001', 'bridge_dataset-val.tfrecord-00000-of-00001'],
    );
    const valOnly = infoOf(both).selectFiles!([1]);
    assert.equal(sizeOf(valOnly), 25);
    assert.deepEqual(ids((await all(valOnly)) as unknown as Episode[]), VAL_IDS);
    // Four ranks over 50 episodes: 12, 13, 12, 13, together every episode once.
    const ranks = await Promise.all(
      [0, 1, 2, 3].map((rank) => all(infoOf(both).selectRange!(Math.floor((rank * 50) / 4), Math.floor(((rank + 1) * 50) / 4)))),
    );
    assert.deepEqual(
      ranks.map((r) => r.length),
      [12, 13, 12, 13],
    );
    assert.deepEqual(ids(ranks.flat() as unknown as Episode[]), [...TRAIN_IDS, ...VAL_IDS]);
  });

  it('closes the shard file when a loop stops after one episode', async () => {
    const before = openFds();
    for await (const episode of toLoader(fromTfds(bridgeDir, { split: 'train' }).pipe(take(1)))) {
      assert.ok((episode as TfdsExample).steps);
    }
    assert.equal(openFds(), before);
  });

  it('raises FeatureError naming the feature path and record when a record does not match features.json', async () => {
    const dir = join(tmp.dir, 'mismatch');
    mkdirSync(dir);
    copyFileSync(join(bridgeDir, 'dataset_info.json'), join(dir, 'dataset_info.json'));
    for (const split of ['train', 'val']) {
      const name = `bridge_dataset-${split}.tfrecord-00000-of-00001`;
      symlinkSync(join(bridgeDir, name), join(dir, name));
    }
    const features = readFileSync(join(bridgeDir, 'features.json'), 'utf8').replace(/("action"[\s\S]*?"dimensions": \[\s*)"7"/, '$1"8"');
    writeFileSync(join(dir, 'features.json'), features);
    await assert.rejects(all(fromTfds(dir, { split: 'val[3:]' })), (error: unknown) => {
      assert.ok(error instanceof FeatureError);
      assert.equal(error.code, 'RXFEED_ERR_FEATURE');
      assert.equal(error.feature, 'steps/action');
      assert.equal(error.mismatch, 'shape');
      assert.equal(error.location?.record, 3);
      assert.ok(error.message.includes('bridge_dataset-val.tfrecord-00000-of-00001'));
      return true;
    });
  });

  it('raises TfdsError for a directory without dataset_info.json or with unsupported features', () => {
    assert.throws(
      () => fromTfds(tmp.dir, { split: 'train' }),
      (error: unknown) => error instanceof TfdsError && error.code === 'RXFEED_ERR_TFDS' && /dataset_info\.json/.test(error.message),
    );
    const dir = join(tmp.dir, 'unsupported');
    mkdirSync(dir);
    copyFileSync(join(bridgeDir, 'dataset_info.json'), join(dir, 'dataset_info.json'));
    writeFileSync(
      join(dir, 'features.json'),
      JSON.stringify({
        pythonClassName: 'tensorflow_datasets.core.features.features_dict.FeaturesDict',
        featuresDict: { features: { audio: { pythonClassName: 'tensorflow_datasets.core.features.audio_feature.Audio' } } },
      }),
    );
    assert.throws(
      () => fromTfds(dir, { split: 'train' }),
      (error: unknown) => error instanceof TfdsError && /'audio'.*Audio is not supported/.test(error.message),
    );
  });
});
