/**
 * Random access over the shared TFRecord files and TFDS directory: every element read by index,
 * in a random order, equals the sequential source's element at that position.
 */
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { lastValueFrom, toArray, type Observable } from 'rxjs';
import type { ByteSource } from '../../../src/index.js';
import { httpStore } from '../../../sources/objectstore/index.js';
import { serverEnv } from '../objectstore/servers.js';
import {
  fromTFRecord,
  fromTfds,
  readRecordIndex,
  RecordIndexError,
  tfdsDataset,
  TfdsError,
  tfrecordDataset,
} from '../../../sources/tfrecord/index.js';
import { bridgeDir, openFds, pytorchData, sharedData, tempDir } from '../../sources/tfrecord/paths.js';
import { pythonTfrecord2idx } from '../../sources/tfrecord/tfrecord2idx.js';
import { readShuffled } from '../../src/readShuffled.js';

const all = <T>(source: Observable<T>): Promise<T[]> => lastValueFrom(source.pipe(toArray()));
const tmp = tempDir('random-access');
after(() => tmp.remove());

const exampleFile = join(pytorchData, 'example.tfrecord');
const sequenceFile = join(pytorchData, 'sequence_example.tfrecord');

describe('tfrecordDataset on the pytorch/data files', () => {
  it("issue 11: Examples and SequenceExamples read in a random order equal fromTFRecord's, raw and decoded", async () => {
    const files = [exampleFile, sequenceFile, exampleFile];
    const raw = await tfrecordDataset(files);
    assert.equal(raw.size, 12);
    assert.deepEqual(raw.layout.shardEnds, [4, 8, 12]);
    assert.deepEqual(await readShuffled(raw, 1), await all(fromTFRecord(files)));
    await raw.close();
    const examples = await tfrecordDataset([exampleFile], { decode: 'example' });
    assert.deepEqual(await readShuffled(examples, 2), await all(fromTFRecord([exampleFile], { decode: 'example' })));
    await examples.close();
    const sequences = await tfrecordDataset([sequenceFile], { decode: 'sequence-example', int64: 'number' });
    assert.deepEqual(
      await readShuffled(sequences, 3),
      await all(fromTFRecord([sequenceFile], { decode: 'sequence-example', int64: 'number' })),
    );
    await sequences.close();
  });

  it('issue 11: an index made by a Python tfrecord2idx loop is read and used', async () => {
    const indexes = new Map<string, string>();
    for (const file of [exampleFile, sequenceFile]) {
      const indexFile = join(tmp.dir, `${file.endsWith('sequence_example.tfrecord') ? 'sequence' : 'example'}.idx`);
      pythonTfrecord2idx(file, indexFile);
      indexes.set(file, indexFile);
    }
    const dataset = await tfrecordDataset([exampleFile, sequenceFile], { indexPath: (file) => indexes.get(file)! });
    const fromPython = await readRecordIndex(indexes.get(exampleFile)!, { file: exampleFile });
    assert.deepEqual([...dataset.indexes[0]!.offsets], [...fromPython.offsets]);
    assert.deepEqual(await readShuffled(dataset, 4), await all(fromTFRecord([exampleFile, sequenceFile])));
    await dataset.close();
    // Used, not rebuilt: an index of the wrong file fails.
    writeFileSync(indexes.get(sequenceFile)!, readFileSync(indexes.get(exampleFile)!));
    await assert.rejects(tfrecordDataset([sequenceFile], { indexPath: (file) => indexes.get(file)! }), (error: unknown) => {
      assert.ok(error instanceof RecordIndexError);
      assert.equal(error.code, 'RXFEED_ERR_TFRECORD_INDEX');
      assert.match(error.message, /its frames cover 523 bytes of the file's 2760/);
      return true;
    });
  });
});

describe('tfdsDataset on the octo bridge dataset', () => {
  it("issue 11: every episode of train, val and a sliced union, read in a random order, equals fromTfds's", async () => {
    for (const [split, seed] of [
      ['train', 5],
      ['val', 6],
      ['train[3:20]+val[:5]', 7],
    ] as const) {
      const dataset = await tfdsDataset(bridgeDir, split);
      const expected = await all(fromTfds(bridgeDir, { split }));
      assert.equal(dataset.size, expected.length);
      assert.deepEqual(await readShuffled(dataset, seed), expected);
      await dataset.close();
    }
  });

  it('issue 11: the layout has one shard per shard file (per range of one, for a slice)', async () => {
    const train = join(bridgeDir, 'bridge_dataset-train.tfrecord-00000-of-00001');
    const val = join(bridgeDir, 'bridge_dataset-val.tfrecord-00000-of-00001');
    const whole = await tfdsDataset(bridgeDir, 'train');
    assert.deepEqual(whole.layout, { shardEnds: [25], shardNames: [train] });
    await whole.close();
    const union = await tfdsDataset(bridgeDir, 'train[3:20]+val[:5]');
    assert.deepEqual(union.layout, { shardEnds: [17, 22], shardNames: [train, val] });
    await union.close();
  });

  it("issue 11: images decoded (by sharp) equal fromTfds's", async () => {
    const dataset = await tfdsDataset(bridgeDir, 'val[:4]', { decodeImages: true });
    assert.deepEqual(await readShuffled(dataset, 8), await all(fromTfds(bridgeDir, { split: 'val[:4]', decodeImages: true })));
    await dataset.close();
  });

  it('issue 11: a shard holding another number of records than shardLengths declares fails typed', async () => {
    const dir = join(tmp.dir, 'bridge-lying');
    mkdirSync(dir);
    for (const name of ['features.json', 'bridge_dataset-train.tfrecord-00000-of-00001', 'bridge_dataset-val.tfrecord-00000-of-00001']) {
      symlinkSync(join(bridgeDir, name), join(dir, name));
    }
    const info = JSON.parse(readFileSync(join(bridgeDir, 'dataset_info.json'), 'utf8')) as { splits: { shardLengths: string[] }[] };
    info.splits[0]!.shardLengths = ['26'];
    writeFileSync(join(dir, 'dataset_info.json'), JSON.stringify(info));
    await assert.rejects(tfdsDataset(dir, 'train'), (error: unknown) => {
      assert.ok(error instanceof TfdsError);
      assert.match(error.message, /bridge_dataset-train.tfrecord-00000-of-00001 holds 25 records; dataset_info.json declares 26/);
      return true;
    });
  });

  it('issue 11: close() leaves no file open and later reads fail with DatasetClosedError', async () => {
    const before = openFds();
    const dataset = await tfdsDataset(bridgeDir, 'train+val');
    await dataset.read([0, 30, 49]);
    await dataset.close();
    assert.equal(openFds(), before);
    await assert.rejects(dataset.read([0]), { name: 'DatasetClosedError', code: 'RXFEED_ERR_DATASET_CLOSED' });
  });
});

// Against a real nginx (scripts/start-nginx.sh): /shared/ is ../shared/data.
const httpEnv = serverEnv(['RXFEED_HTTP_ENDPOINT'], 'scripts/start-nginx.sh');

describe(
  'tfrecordDataset over HTTP (nginx)',
  { skip: httpEnv === undefined ? 'RXFEED_HTTP_ENDPOINT not set (scripts/start-nginx.sh)' : false },
  () => {
    it('issue 11: shards read by Range GETs equal the local files read sequentially; a run of neighbours is one range read', async () => {
      const store = httpStore({ baseUrl: `${httpEnv?.RXFEED_HTTP_ENDPOINT ?? ''}/shared/` });
      const keys = ['tfds/octo-bridge_dataset/1.0.0/bridge_dataset-val.tfrecord-00000-of-00001', 'tfrecord/pytorch-data/example.tfrecord'];
      const ranges: [number, number][] = [];
      const sources: ByteSource[] = keys.map((key) => {
        const inner = store.open(key);
        return {
          name: inner.name,
          size: (signal) => inner.size(signal),
          read: (start, end, signal) => {
            ranges.push([start, end]);
            return inner.read(start, end, signal);
          },
          stream: (start, signal) => inner.stream(start, signal),
        };
      });
      const dataset = await tfrecordDataset(sources);
      assert.equal(dataset.size, 29);
      assert.deepEqual(
        dataset.layout.shardNames,
        sources.map((source) => source.name),
      );
      assert.deepEqual(await readShuffled(dataset, 9), await all(fromTFRecord(keys.map((key) => join(sharedData, key)))));
      ranges.length = 0;
      await dataset.read([27, 3, 26, 4, 5]);
      const index = dataset.indexes[0]!;
      assert.deepEqual(
        ranges.sort((a, b) => a[0] - b[0] || a[1] - b[1]),
        [
          [124, 389], // dataset records 26, 27: example.tfrecord's records 1 (124 + 131 bytes) and 2 (255 + 134)
          [index.offsets[3]!, index.offsets[5]! + index.lengths[5]!],
        ].sort((a, b) => a[0]! - b[0]! || a[1]! - b[1]!),
      );
      await dataset.close();
    });
  },
);
