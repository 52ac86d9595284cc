import assert from 'node:assert/strict';
import { copyFileSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { tfrecordDataset } from '../../sources/tfrecord/index.js';
import { webDatasetIndexed } from '../../sources/webdataset/index.js';
import { pythonTfrecord2idx } from '../sources/tfrecord/tfrecord2idx.js';
import { assertFailure, bridgeDir, cli, cliJson, fileSize, pytorchData, tarSamples, tempDir, webdataset } from './cli.js';

interface IndexJson {
  input: string;
  format: string;
  written: { file: string; index: string; kind: string; samples: number; bytes: number }[];
}

describe('rxfeed index', () => {
  let temp: { dir: string; remove: () => void };
  before(() => {
    temp = tempDir('index');
    for (const name of ['compressed.tar', 'testgz.tar', 'sample.tgz']) copyFileSync(join(webdataset, name), join(temp.dir, name));
    copyFileSync(join(pytorchData, 'example.tfrecord'), join(temp.dir, 'example.tfrecord'));
  });
  after(() => temp.remove());

  it("issue 14: index writes each shard's sample index sidecar, which webDatasetIndexed then reads with GNU tar's keys", async () => {
    const shards = ['compressed.tar', 'testgz.tar'].map((name) => join(temp.dir, name));
    const result = await cliJson<IndexJson>(['index', join(temp.dir, '{compressed,testgz}.tar')]);
    assert.deepEqual(result, {
      input: join(temp.dir, '{compressed,testgz}.tar'),
      format: 'tar',
      written: shards.map((shard) => ({
        file: shard,
        index: `${shard}.idx.json`,
        kind: 'webdataset-sidecar',
        samples: tarSamples(shard).length,
        bytes: fileSize(`${shard}.idx.json`),
      })),
    });
    for (const shard of shards) {
      const sidecar = JSON.parse(readFileSync(`${shard}.idx.json`, 'utf8')) as {
        shardBytes: number;
        samples: [string, number, number, number][];
      };
      assert.equal(sidecar.shardBytes, fileSize(shard));
      assert.deepEqual(
        sidecar.samples.map(([key]) => key),
        tarSamples(shard).map((sample) => sample.key),
      );
      // The dataset reads the sidecar (a wrong one would fail its checks) and gives the same keys.
      const dataset = await webDatasetIndexed(shard);
      try {
        const last = await dataset.read([dataset.size - 1]);
        assert.equal(last[0]!.__key__, tarSamples(shard).at(-1)!.key);
      } finally {
        await dataset.close();
      }
    }
  });

  it('issue 14: a directory listed with --format skips the indexes written beside its shards', async () => {
    const dir = tempDir('index-ls');
    try {
      copyFileSync(join(webdataset, 'compressed.tar'), join(dir.dir, 'compressed.tar'));
      await cliJson<IndexJson>(['index', dir.dir]);
      const listed = await cliJson<{ shards: { name: string; samples: number }[] }>(['ls', dir.dir, '--format', 'tar']);
      assert.deepEqual(listed.shards, [
        { name: join(dir.dir, 'compressed.tar'), bytes: fileSize(join(dir.dir, 'compressed.tar')), samples: 3 },
      ]);
    } finally {
      dir.remove();
    }
  });

  it("issue 14: index writes a TFRecord file's index byte for byte as tfrecord2idx does", async () => {
    const file = join(temp.dir, 'example.tfrecord');
    const result = await cliJson<IndexJson>(['index', file]);
    assert.deepEqual(result.written, [{ file, index: `${file}.idx`, kind: 'tfrecord2idx', samples: 4, bytes: fileSize(`${file}.idx`) }]);
    pythonTfrecord2idx(file, join(temp.dir, 'python.idx'));
    assert.deepEqual(readFileSync(`${file}.idx`), readFileSync(join(temp.dir, 'python.idx')));
    const dataset = await tfrecordDataset([file]);
    try {
      assert.equal(dataset.size, 4);
    } finally {
      await dataset.close();
    }
  });

  it('issue 14: index refuses what it cannot index, each in one line with its code', async () => {
    assertFailure(await cli(['index', join(temp.dir, 'sample.tgz')]), 'index', 'RXFEED_ERR_COMPRESSED_SHARD');
    // Refused before any connection: nothing listens on port 9.
    assertFailure(await cli(['index', 'http://127.0.0.1:9/shards/train-0.tar']), 'index', 'RXFEED_ERR_INVALID_ARG');
    assertFailure(await cli(['index', 's3://bucket/shards/']), 'index', 'RXFEED_ERR_INVALID_ARG');
    assertFailure(await cli(['index', 'mongodb://127.0.0.1:9/db.collection']), 'index', 'RXFEED_ERR_INVALID_ARG');
  });

  it('issue 14: index of a TFDS directory indexes the shard files of the split asked for', async () => {
    const target = tempDir('index-tfds');
    try {
      for (const name of [
        'dataset_info.json',
        'features.json',
        'bridge_dataset-val.tfrecord-00000-of-00001',
        'bridge_dataset-train.tfrecord-00000-of-00001',
      ]) {
        copyFileSync(join(bridgeDir, name), join(target.dir, name));
      }
      const result = await cliJson<IndexJson>(['index', target.dir, '--split', 'val']);
      const file = join(target.dir, 'bridge_dataset-val.tfrecord-00000-of-00001');
      assert.deepEqual(result.written, [{ file, index: `${file}.idx`, kind: 'tfrecord2idx', samples: 25, bytes: fileSize(`${file}.idx`) }]);
      pythonTfrecord2idx(file, join(target.dir, 'python.idx'));
      assert.deepEqual(readFileSync(`${file}.idx`), readFileSync(join(target.dir, 'python.idx')));
    } finally {
      target.remove();
    }
  });
});
