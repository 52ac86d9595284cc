/**
 * Issue 9: hostile TFDS metadata. `dataset_info.json` and `features.json` are input like any
 * other: they must not lead reads outside the dataset directory, set prototypes, or end in a
 * plain TypeError / RangeError.
 */
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { deflateSync } from 'node:zlib';
import { after, describe, it } from 'node:test';
import { lastValueFrom, toArray, type Observable } from 'rxjs';
import { FileReadError, InvalidArgumentError, sizeOf } from '../../../src/index.js';
import {
  encodeExample,
  FeatureError,
  fromTfds,
  parseTfdsInfo,
  readTfdsInfo,
  resolveTfdsSplit,
  TfdsError,
  TfdsMetadataError,
  tfrecordFrame,
  type ExampleInput,
  type FromTfdsOptions,
  type TfdsExample,
} from '../../../sources/tfrecord/index.js';
import { TfdsFeatures } from '../../../sources/tfrecord/tfdsFeatures.js';
import { bridgeDir, tempDir } from './paths.js';

const all = <T>(source: Observable<T>): Promise<T[]> => lastValueFrom(source.pipe(toArray()));
const tmp = tempDir('tfds-hostile');
after(() => tmp.remove());

const FEATURES = 'tensorflow_datasets.core.features';
const dict = (features: Record<string, unknown>): unknown => ({
  pythonClassName: `${FEATURES}.features_dict.FeaturesDict`,
  featuresDict: { features },
});
const tensor = (dtype: string, dims: number[]): unknown => ({
  pythonClassName: `${FEATURES}.tensor_feature.Tensor`,
  tensor: { shape: { dimensions: dims.map(String) }, dtype, encoding: 'none' },
});
const scalar = (dtype: string): unknown => ({
  pythonClassName: `${FEATURES}.scalar.Scalar`,
  tensor: { shape: {}, dtype, encoding: 'none' },
});
const textFeature = { pythonClassName: `${FEATURES}.text_feature.Text`, text: {} };
const sequence = (kind: 'sequence_feature.Sequence' | 'dataset_feature.Dataset', feature: unknown): unknown => ({
  pythonClassName: `${FEATURES}.${kind}`,
  sequence: { feature, length: '-1' },
});
const info = (name: string, splits: unknown[]): Record<string, unknown> => ({ name, fileFormat: 'tfrecord', version: '1.0.0', splits });

/** A dataset directory with these two JSON documents and the given shard files. */
function dataset(dir: string, datasetInfo: unknown, features: unknown, shards: Record<string, Uint8Array> = {}): string {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'dataset_info.json'), JSON.stringify(datasetInfo));
  writeFileSync(join(dir, 'features.json'), JSON.stringify(features));
  for (const [name, bytes] of Object.entries(shards)) writeFileSync(join(dir, name), bytes);
  return dir;
}

const oneRecord = (features: ExampleInput): Uint8Array => tfrecordFrame(encodeExample(features));
const labelFeatures = dict({ label: scalar('int64') });
const bridgeFeatures = JSON.parse(readFileSync(join(bridgeDir, 'features.json'), 'utf8')) as unknown;

/** Asserts a TfdsMetadataError for `file` at `jsonPath` whose message matches `message`. */
function isMetadataError(file: string, jsonPath: string, message: RegExp): (error: unknown) => true {
  return (error: unknown) => {
    assert.ok(error instanceof TfdsMetadataError, `expected a TfdsMetadataError, got ${String(error)}`);
    assert.ok(error instanceof TfdsError);
    assert.equal(error.code, 'RXFEED_ERR_TFDS_METADATA');
    assert.equal(error.file, file);
    assert.equal(error.jsonPath, jsonPath);
    assert.match(error.message, message);
    return true;
  };
}

describe('issue 9.3: TFDS metadata cannot point outside the dataset directory', () => {
  // A readable shard one level above the dataset directory: what an escape would read.
  const root = join(tmp.dir, 'escape');
  mkdirSync(root, { recursive: true });
  writeFileSync(join(root, 'secret-train.tfrecord-00000-of-00001'), oneRecord({ label: BigInt64Array.of(42n) }));
  let n = 0;
  const dirWith = (datasetInfo: unknown): string => dataset(join(root, `ds${n++}`), datasetInfo, labelFeatures);

  it('issue 9.3: a filepathTemplate with ../ fails typed before any file is read', () => {
    const dir = dirWith(
      info('secret', [{ name: 'train', shardLengths: ['1'], filepathTemplate: '../{DATASET}-{SPLIT}.{FILEFORMAT}-{SHARD_X_OF_Y}' }]),
    );
    assert.throws(
      () => fromTfds(dir, { split: 'train' }),
      isMetadataError('dataset_info.json', 'splits[0].filepathTemplate', /inside the dataset directory/),
    );
  });

  it("issue 9.3: the issue's '../../../../etc/passwd' template, an absolute one and '.' segments fail typed", () => {
    for (const template of ['../../../../etc/passwd', '/etc/passwd', './{SPLIT}', 'a/../../b', 'a//b', 'a\\..\\b', 'sub/', '']) {
      const dir = dirWith(info('d', [{ name: 'train', shardLengths: ['1'], filepathTemplate: template }]));
      assert.throws(
        () => readTfdsInfo(dir),
        isMetadataError('dataset_info.json', 'splits[0].filepathTemplate', /not a file path inside/),
        template,
      );
    }
  });

  it('issue 9.3: a dataset name with .. or / cannot inject a path through {DATASET}', () => {
    for (const name of ['../secret', '..', 'a/b', 'a\\b', 'x\0y']) {
      const dir = dirWith(info(name, [{ name: 'train', shardLengths: ['1'] }]));
      assert.throws(() => fromTfds(dir, { split: 'train' }), isMetadataError('dataset_info.json', 'name', /must not contain/), name);
    }
  });

  it('issue 9.3: a split name with .. or / cannot inject a path through {SPLIT}', () => {
    const dir = dirWith(info('secret', [{ name: '../../x', shardLengths: ['1'] }]));
    assert.throws(() => readTfdsInfo(dir), isMetadataError('dataset_info.json', 'splits[0].name', /must not contain/));
  });

  it('issue 9.3: templates that stay inside (subfolders, every placeholder) still resolve', () => {
    const dir = dirWith(
      info('d', [
        { name: 'train', shardLengths: ['2', '3'], filepathTemplate: 'shards/{SPLIT}/{DATASET}.{FILEFORMAT}-{SHARD_INDEX}-{NUM_SHARDS}' },
      ]),
    );
    assert.deepEqual(readTfdsInfo(dir).splits.get('train')?.files, [
      join(dir, 'shards/train/d.tfrecord-00000-00002'),
      join(dir, 'shards/train/d.tfrecord-00001-00002'),
    ]);
  });
});

describe('issue 9.4: TFDS feature names are data, never prototypes', () => {
  it('issue 9.4: features named __proto__, constructor and toString decode as own fields, in dicts, Sequences and Datasets', async () => {
    const features = dict({
      ['__proto__']: tensor('float32', [2]),
      constructor: scalar('int64'),
      meta: dict({ ['__proto__']: textFeature }),
      seq: sequence('sequence_feature.Sequence', dict({ ['__proto__']: scalar('float32') })),
      steps: sequence('dataset_feature.Dataset', dict({ ['__proto__']: textFeature, toString: scalar('int64') })),
    });
    const record = Object.fromEntries<ExampleInput[string]>([
      ['__proto__', Float32Array.of(1.5, 2.5)],
      ['constructor', BigInt64Array.of(7n)],
      ['meta/__proto__', ['m']],
      ['seq/__proto__', Float32Array.of(0.5, 1, 2)],
      ['steps/__proto__', ['a', 'b']],
      ['steps/toString', BigInt64Array.of(1n, 2n)],
    ]);
    const dir = dataset(join(tmp.dir, 'proto'), info('proto', [{ name: 'train', shardLengths: ['1'] }]), features, {
      'proto-train.tfrecord-00000-of-00001': oneRecord(record),
    });
    const [example] = await all(fromTfds(dir, { split: 'train' }));
    const plainWithOwn = (value: unknown, key: string): Record<string, unknown> => {
      const object = value as Record<string, unknown>;
      assert.equal(Object.getPrototypeOf(object), Object.prototype);
      assert.ok(Object.hasOwn(object, key), `own ${key}`);
      return object;
    };
    const top = plainWithOwn(example, '__proto__');
    assert.deepEqual(Object.keys(top), ['__proto__', 'constructor', 'meta', 'seq', 'steps']);
    assert.deepEqual(Object.getOwnPropertyDescriptor(top, '__proto__')?.value, Float32Array.of(1.5, 2.5));
    assert.equal(plainWithOwn(top, 'constructor').constructor, 7n);
    assert.equal(Object.getOwnPropertyDescriptor(plainWithOwn(top.meta, '__proto__'), '__proto__')?.value, 'm');
    assert.deepEqual(Object.getOwnPropertyDescriptor(plainWithOwn(top.seq, '__proto__'), '__proto__')?.value, Float32Array.of(0.5, 1, 2));
    const steps = top.steps as TfdsExample[];
    assert.equal(steps.length, 2);
    steps.forEach((step, i) => {
      plainWithOwn(step, '__proto__');
      assert.equal(Object.getOwnPropertyDescriptor(step, '__proto__')?.value, ['a', 'b'][i]);
      assert.equal(Object.getOwnPropertyDescriptor(step, 'toString')?.value, BigInt(i + 1));
    });
  });
});

describe('issue 9.13: zlib-encoded TFDS tensors inflate only to their size, and garbage fails typed', () => {
  const features = dict({
    t: {
      pythonClassName: `${FEATURES}.tensor_feature.Tensor`,
      tensor: { shape: { dimensions: ['4'] }, dtype: 'float32', encoding: 'zlib' },
    },
  });
  const read = async (stored: Uint8Array, name: string): Promise<TfdsExample[]> => {
    const dir = dataset(join(tmp.dir, name), info('z', [{ name: 'train', shardLengths: ['1'] }]), features, {
      'z-train.tfrecord-00000-of-00001': oneRecord({ t: [stored] }),
    });
    return all(fromTfds(dir, { split: 'train' }));
  };

  it('issue 9.13: a well-formed zlib tensor decodes', async () => {
    const values = Float32Array.of(1, 2, 3, 4);
    const [example] = await read(deflateSync(new Uint8Array(values.buffer)), 'zlib-ok');
    assert.deepEqual(example!.t, values);
  });

  it('issue 9.13: garbage and a zlib bomb are FeatureErrors (decode), not a zlib Error or 10 MB inflated', async () => {
    const isDecodeError = (error: unknown): boolean => {
      assert.ok(error instanceof FeatureError, String(error));
      assert.equal(error.feature, 't');
      assert.equal(error.mismatch, 'decode');
      assert.equal(error.location?.record, 0);
      return true;
    };
    await assert.rejects(read(Uint8Array.of(1, 2, 3, 4, 5), 'zlib-garbage'), isDecodeError);
    await assert.rejects(read(deflateSync(new Uint8Array(10 * 1024 * 1024)), 'zlib-bomb'), (error: unknown) => {
      isDecodeError(error);
      assert.match((error as Error).message, /at most 16 bytes/);
      return true;
    });
  });
});

describe('issue 9.13: malformed dataset_info.json fails typed, naming the JSON path', () => {
  let n = 0;
  const features = join(bridgeDir, 'features.json');
  const withInfo = (text: string): string => {
    const dir = join(tmp.dir, `info${n++}`);
    mkdirSync(dir);
    writeFileSync(join(dir, 'dataset_info.json'), text);
    copyFileSync(features, join(dir, 'features.json'));
    return dir;
  };
  const cases: [string, unknown, string, RegExp][] = [
    ['null', null, '', /must be an object, got null/],
    ['an array', [], '', /must be an object, got an array of 0/],
    ['splits: 5', { splits: 5 }, 'splits', /must be an array, got 5/],
    ['a null split', { splits: [null] }, 'splits[0]', /must be an object, got null/],
    ['shardLengths: "25"', { splits: [{ name: 'train', shardLengths: '25' }] }, 'splits[0].shardLengths', /must be an array, got "25"/],
    [
      'shardLengths[3]: "x"',
      { splits: [{ name: 'train', shardLengths: ['1', 2, '3', 'x'] }] },
      'splits[0].shardLengths[3]',
      /dataset_info\.json: splits\[0\]\.shardLengths\[3\] must be a non-negative integer, got "x"/,
    ],
    ['a negative length', { splits: [{ name: 'train', shardLengths: [-1] }] }, 'splits[0].shardLengths[0]', /non-negative integer, got -1/],
    ['a fractional length', { splits: [{ name: 'train', shardLengths: [1.5] }] }, 'splits[0].shardLengths[0]', /got 1\.5/],
    [
      'an unsafe length',
      { splits: [{ name: 'train', shardLengths: ['99999999999999999999'] }] },
      'splits[0].shardLengths[0]',
      /non-negative integer/,
    ],
    [
      'lengths adding up past 2^53',
      { splits: [{ name: 'train', shardLengths: [2 ** 52, 2 ** 52, 2 ** 52] }] },
      'splits[0].shardLengths',
      /safe integer/,
    ],
    ['a numeric split name', { splits: [{ name: 5 }] }, 'splits[0].name', /must be a string, got 5/],
    ['a missing split name', { splits: [{ shardLengths: [] }] }, 'splits[0].name', /must be a string, got nothing/],
    ['a repeated split', { splits: [{ name: 'a' }, { name: 'a' }] }, 'splits[1].name', /repeats split "a"/],
    ['an object name', { name: { toString: 1 } }, 'name', /must be a string, got an object/],
    ['a numeric version', { version: 1 }, 'version', /must be a string, got 1/],
    ['a numeric template', { splits: [{ name: 'a', filepathTemplate: 7 }] }, 'splits[0].filepathTemplate', /must be a string, got 7/],
  ];
  for (const [title, value, jsonPath, message] of cases) {
    it(`issue 9.13: ${title}`, () => {
      const dir = withInfo(JSON.stringify(value));
      assert.throws(() => fromTfds(dir, { split: 'train' }), isMetadataError('dataset_info.json', jsonPath, message));
    });
  }

  it('issue 9.13: parseTfdsInfo checks parsed JSON without the disk, and its dataDir', () => {
    assert.throws(() => parseTfdsInfo('d', null, {}), isMetadataError('dataset_info.json', '', /must be an object, got null/));
    assert.throws(
      () => parseTfdsInfo(5 as unknown as string, {}, {}),
      (error: unknown) => error instanceof InvalidArgumentError && error.argument === 'dataDir',
    );
    assert.deepEqual(
      [...parseTfdsInfo('d', JSON.parse(readFileSync(join(bridgeDir, 'dataset_info.json'), 'utf8')), null).splits.keys()],
      ['train', 'val'],
    );
  });

  it('issue 9.13: a file format other than tfrecord, or an unreadable JSON file, is a TfdsError', () => {
    assert.throws(
      () => readTfdsInfo(withInfo(JSON.stringify({ fileFormat: { a: 1 } }))),
      isMetadataError('dataset_info.json', 'fileFormat', /must be a string/),
    );
    assert.throws(
      () => readTfdsInfo(withInfo(JSON.stringify({ fileFormat: 'riegeli' }))),
      (error: unknown) =>
        error instanceof TfdsError && error.code === 'RXFEED_ERR_TFDS' && /"riegeli" is not supported/.test(error.message),
    );
    assert.throws(
      () => readTfdsInfo(withInfo('{"splits": [')),
      (error: unknown) =>
        error instanceof TfdsError && error.code === 'RXFEED_ERR_TFDS' && /dataset_info\.json is not valid JSON/.test(error.message),
    );
    const directory = withInfo('{}');
    const inner = join(tmp.dir, `info${n++}`);
    mkdirSync(join(inner, 'features.json'), { recursive: true });
    copyFileSync(join(directory, 'dataset_info.json'), join(inner, 'dataset_info.json'));
    assert.throws(
      () => readTfdsInfo(inner),
      (error: unknown) =>
        error instanceof TfdsError && error.code === 'RXFEED_ERR_TFDS' && /features\.json is not a regular file/.test(error.message),
    );
  });

  it('issue 9.13: a million shardLengths neither overflow the stack nor lose the size; the missing shard fails typed', async () => {
    const lengths = new Array<string>(1_000_000).fill('1');
    const dir = withInfo(JSON.stringify(info('big', [{ name: 'train', shardLengths: lengths }])));
    const info0 = readTfdsInfo(dir);
    assert.equal(info0.splits.get('train')?.numExamples, 1_000_000);
    assert.equal(info0.splits.get('train')?.files.length, 1_000_000);
    const source = fromTfds(dir, { split: 'train[:3]' });
    assert.equal(sizeOf(source), 3);
    await assert.rejects(all(source), (error: unknown) => {
      assert.ok(error instanceof FileReadError, String(error));
      assert.equal(error.code, 'RXFEED_ERR_FILE_NOT_FOUND');
      assert.equal(error.path, join(dir, 'big-train.tfrecord-00000-of-1000000'));
      return true;
    });
  });
});

describe('issue 9.13: malformed features.json fails typed, naming the JSON path', () => {
  const feature = (value: unknown): unknown => dict({ a: value });
  const cases: [string, unknown, string, RegExp][] = [
    ['null', null, '', /must be an object, got null/],
    [
      'features: 5',
      { pythonClassName: `${FEATURES}.features_dict.FeaturesDict`, featuresDict: { features: 5 } },
      'featuresDict.features',
      /must be an object, got 5/,
    ],
    [
      'featuresDict: "x"',
      { pythonClassName: `${FEATURES}.features_dict.FeaturesDict`, featuresDict: 'x' },
      'featuresDict',
      /must be an object, got "x"/,
    ],
    ['a null feature', feature(null), 'featuresDict.features.a', /must be an object, got null/],
    [
      'an object class name',
      feature({ pythonClassName: { toString: 1 } }),
      'featuresDict.features.a.pythonClassName',
      /must be a string, got an object/,
    ],
    [
      'a null tensor',
      feature({ pythonClassName: `${FEATURES}.tensor_feature.Tensor`, tensor: null }),
      'featuresDict.features.a.tensor',
      /must be an object, got null/,
    ],
    [
      'dimensions: "7"',
      feature({ pythonClassName: `${FEATURES}.tensor_feature.Tensor`, tensor: { dtype: 'float32', shape: { dimensions: '7' } } }),
      'featuresDict.features.a.tensor.shape.dimensions',
      /must be an array, got "7"/,
    ],
    [
      'a dimension "x"',
      feature({ pythonClassName: `${FEATURES}.tensor_feature.Tensor`, tensor: { dtype: 'float32', shape: { dimensions: ['2', 'x'] } } }),
      'featuresDict.features.a.tensor.shape.dimensions[1]',
      /must be an integer >= -1, got "x"/,
    ],
    [
      'a dimension -2',
      feature({ pythonClassName: `${FEATURES}.image_feature.Image`, image: { shape: { dimensions: [-2, 4, 3] } } }),
      'featuresDict.features.a.image.shape.dimensions[0]',
      /got -2/,
    ],
    [
      'a numeric dtype',
      feature({ pythonClassName: `${FEATURES}.tensor_feature.Tensor`, tensor: { dtype: 7 } }),
      'featuresDict.features.a.tensor.dtype',
      /must be a string, got 7/,
    ],
    [
      'a sequence length "abc"',
      feature({ pythonClassName: `${FEATURES}.sequence_feature.Sequence`, sequence: { feature: scalar('int64'), length: 'abc' } }),
      'featuresDict.features.a.sequence.length',
      /must be an integer >= -1, got "abc"/,
    ],
    [
      'a sequence feature []',
      feature({ pythonClassName: `${FEATURES}.sequence_feature.Sequence`, sequence: { feature: [] } }),
      'featuresDict.features.a.sequence.feature',
      /must be an object, got an array of 0/,
    ],
  ];
  for (const [title, value, jsonPath, message] of cases) {
    it(`issue 9.13: ${title}`, () => {
      assert.throws(() => new TfdsFeatures(value, 'dir'), isMetadataError('features.json', jsonPath, message));
    });
  }

  it('issue 9.13: odd feature names appear quoted in the JSON path; a missing class is unsupported', () => {
    const bad = dict({ 'odd key': textFeature, 'x y': 5 });
    assert.throws(
      () => new TfdsFeatures(bad, 'dir'),
      isMetadataError('features.json', 'featuresDict.features["x y"]', /must be an object, got 5/),
    );
    assert.throws(
      () => new TfdsFeatures(dict({ 'odd key': { tensor: 1 } }), 'dir'),
      (error: unknown) =>
        error instanceof TfdsError && error.code === 'RXFEED_ERR_TFDS' && /'odd key'.*\(none\) is not supported/.test(error.message),
    );
  });

  it('issue 9.13: features nested 100,000 deep fail typed instead of overflowing the stack', () => {
    let deep: unknown = scalar('int64');
    for (let i = 0; i < 100_000; i++) deep = dict({ d: deep });
    assert.throws(
      () => new TfdsFeatures(deep, 'dir'),
      isMetadataError('features.json', `featuresDict.features${'.d.featuresDict.features'.repeat(64)}.d`, /deeper than 64/),
    );
  });

  it('issue 9.13: fromTfds reports a malformed features.json found on disk', () => {
    const dir = dataset(join(tmp.dir, 'bad-features'), info('d', [{ name: 'train', shardLengths: ['1'] }]), feature(null));
    assert.throws(
      () => fromTfds(dir, { split: 'train' }),
      isMetadataError('features.json', 'featuresDict.features.a', /must be an object, got null/),
    );
  });

  it('issue 9.13: the bridge dataset features.json, the model of the mutations, still builds', () => {
    assert.deepEqual(new TfdsFeatures(bridgeFeatures, bridgeDir).imagePaths, [
      'steps/observation/image_1',
      'steps/observation/image_0',
      'steps/observation/image_2',
      'steps/observation/image_3',
    ]);
  });
});

describe('issue 9.13: TFDS split expressions and options fail typed on garbage', () => {
  const bridge = readTfdsInfo(bridgeDir);
  const isSplitError = (error: unknown): boolean => {
    assert.ok(error instanceof InvalidArgumentError, String(error));
    assert.equal(error.argument, 'split');
    // A bounded excerpt of the expression, never all of it.
    assert.ok(error.message.length < 300, `message of ${error.message.length} characters`);
    return true;
  };

  it('issue 9.13: a split that is not a string is an InvalidArgumentError', () => {
    for (const split of [5, null, undefined, {}, ['train'], Symbol('train')]) {
      assert.throws(() => resolveTfdsSplit(bridge, split as unknown as string), isSplitError);
      assert.throws(() => fromTfds(bridgeDir, { split } as unknown as FromTfdsOptions), isSplitError);
    }
  });

  it('issue 9.13: malformed expressions are InvalidArgumentErrors with a bounded message', () => {
    for (const split of [
      '',
      '+',
      'train+',
      'train[',
      'train]',
      'train[1:2:3]',
      'train[:10%%]',
      'train[a:b]',
      '[:10]',
      'train(closest',
      'tra in',
      'x'.repeat(100_000),
      `train[${'9'.repeat(100_000)}]`,
      'test',
      `${'a+'.repeat(50_000)}b`,
    ]) {
      assert.throws(() => resolveTfdsSplit(bridge, split), isSplitError, split.slice(0, 40));
    }
  });

  it('issue 9.13: huge bounds clamp to the split as Python slices do', () => {
    const r = (split: string): [number, number][] => resolveTfdsSplit(bridge, split).map(({ start, end }) => [start, end]);
    assert.deepEqual(r(`train[:${'9'.repeat(400)}]`), [[0, 25]]);
    assert.deepEqual(r(`train[-${'9'.repeat(400)}:]`), [[0, 25]]);
    assert.deepEqual(r(`train[-${'9'.repeat(400)}shard:${'9'.repeat(30)}shard]`), [[0, 25]]);
  });

  it('issue 9.13: bad fromTfds options are InvalidArgumentErrors at once', () => {
    const isArgument = (argument: string) => (error: unknown) => error instanceof InvalidArgumentError && error.argument === argument;
    assert.throws(() => fromTfds(bridgeDir, null as unknown as FromTfdsOptions), isArgument('fromTfds.options'));
    assert.throws(() => fromTfds(bridgeDir, { split: 'train', int64: 'float' as 'bigint' }), isArgument('fromTfds.int64'));
    assert.throws(
      () => fromTfds(bridgeDir, { split: 'train', decodeImages: 5 as unknown as boolean }),
      isArgument('fromTfds.decodeImages'),
    );
    assert.throws(() => fromTfds(bridgeDir, { split: 'train', recordsPerPull: 0 }), isArgument('fromTFRecord.recordsPerPull'));
    assert.throws(() => fromTfds(5 as unknown as string, { split: 'train' }), isArgument('dataDir'));
  });
});
