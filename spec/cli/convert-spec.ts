import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { MongoClient } from 'mongodb';
import { decodeExample } from '../../sources/tfrecord/index.js';
import { loadEjson, mongo, specClient, specDbName } from '../integration/mongodb/server.js';
import { rgwStore, serverEnv } from '../integration/objectstore/servers.js';
import { assertFailure, cli, cliJson, fileSize, pytorchData, tarSamples, tempDir, tfrecordRecords, webdataset } from './cli.js';

interface ConvertJson {
  input: string;
  from: string;
  to: string;
  files: { path: string; samples: number; bytes: number }[];
  totals: { files: number; samples: number; bytes: number };
}

describe('rxfeed convert', () => {
  let temp: { dir: string; remove: () => void };
  before(() => (temp = tempDir('convert')));
  after(() => temp.remove());

  it('issue 14: TFRecord -> tar -> TFRecord gives back the same Examples; the shards are what GNU tar lists', async () => {
    const source = join(pytorchData, 'example.tfrecord');
    const tars = await cliJson<ConvertJson>(['convert', source, join(temp.dir, 'ex-%06d.tar'), '--max-count', '3']);
    const shards = [join(temp.dir, 'ex-000000.tar'), join(temp.dir, 'ex-000001.tar')];
    assert.deepEqual(tars, {
      input: source,
      from: 'tfrecord',
      to: 'tar',
      files: shards.map((path, index) => ({ path, samples: [3, 1][index], bytes: fileSize(path) })),
      totals: { files: 2, samples: 4, bytes: fileSize(shards[0]!) + fileSize(shards[1]!) },
    });
    // Example i is sample i: a one-value bytes feature as is, the int64 and float lists as typed JSON.
    const listed = shards.flatMap((shard) => tarSamples(shard));
    assert.deepEqual(
      listed.map((sample) => [sample.key, sample.fields.map((field) => field.extension).sort()]),
      ['000000000', '000000001', '000000002', '000000003'].map((key) => [key, ['x_byte', 'x_float.float.json', 'x_int.int64.json']]),
    );
    const records = tfrecordRecords(source);
    const firstBytes = execFileSync('tar', ['-xOf', shards[0]!, '000000000.x_byte']);
    assert.deepEqual(firstBytes, Buffer.from((decodeExample(records[0]!).x_byte as Uint8Array[])[0]!));
    const ints = JSON.parse(execFileSync('tar', ['-xOf', shards[0]!, '000000000.x_int.int64.json'], { encoding: 'utf8' })) as number[];
    assert.deepEqual(ints.map(BigInt), [...(decodeExample(records[0]!).x_int as BigInt64Array)]);

    const back = join(temp.dir, 'back.tfrecord');
    const written = await cliJson<ConvertJson>(['convert', join(temp.dir, 'ex-{000000..000001}.tar'), back]);
    assert.deepEqual(written.files, [{ path: back, samples: 4, bytes: fileSize(back) }]);
    const again = tfrecordRecords(back);
    assert.equal(again.length, records.length);
    again.forEach((record, index) => assert.deepEqual(decodeExample(record), decodeExample(records[index]!)));
  });

  it('issue 14: WebDataset -> TFRecord writes each sample as an Example with one bytes feature per field', async () => {
    const out = join(temp.dir, 'compressed.tfrecord');
    const result = await cliJson<ConvertJson>(['convert', join(webdataset, 'compressed.tar'), out]);
    const listed = tarSamples(join(webdataset, 'compressed.tar'));
    assert.deepEqual(result.totals, { files: 1, samples: listed.length, bytes: fileSize(out) });
    const examples = tfrecordRecords(out).map((record) => decodeExample(record));
    assert.deepEqual(
      examples.map((example) => Object.keys(example)),
      listed.map((sample) => sample.fields.map((field) => field.extension)),
    );
    examples.forEach((example, index) => {
      const member = execFileSync('tar', ['-xOf', join(webdataset, 'compressed.tar'), `${listed[index]!.key}.txt.gz`]);
      assert.deepEqual(
        (example['txt.gz'] as Uint8Array[]).map((bytes) => Buffer.from(bytes)),
        [member],
      );
    });
  });

  it('issue 14: convert refuses an output it cannot write and options that do not apply, each in one line', async () => {
    assertFailure(
      await cli(['convert', join(pytorchData, 'example.tfrecord'), join(temp.dir, 'out.zip')]),
      'convert',
      'RXFEED_ERR_INVALID_ARG',
    );
    assertFailure(
      await cli(['convert', join(webdataset, 'compressed.tar'), join(temp.dir, 'o-%d.tar')]),
      'convert',
      'RXFEED_ERR_INVALID_ARG',
    );
    assertFailure(
      await cli(['convert', join(webdataset, 'compressed.tar'), join(temp.dir, 'o.tfrecord'), '--max-count', '2']),
      'convert',
      'RXFEED_ERR_INVALID_ARG',
    );
    // A SequenceExample's feature lists have no place in the mapping: refused, not dropped.
    assertFailure(
      await cli(['convert', join(pytorchData, 'sequence_example.tfrecord'), join(temp.dir, 's-%d.tar')]),
      'convert',
      'RXFEED_ERR_INVALID_ARG',
    );
    const usage = await cli(['convert', join(pytorchData, 'example.tfrecord'), join(temp.dir, 'u-%d.tar'), '--max-size', '0']);
    assert.equal(usage.status, 2);
    // Nothing was left behind by the refusals: no shard, no temporary file.
    assert.deepEqual(
      readdirSync(temp.dir).filter((name) => /^(?:out|o|s|u)[-.]/.test(name) || name.endsWith('.tmp')),
      [],
    );
    assert.equal(existsSync(join(temp.dir, 'o.tfrecord')), false);
  });
});

describe('rxfeed convert of a MongoDB view (RXFEED_MONGODB_URI)', { skip: mongo.skip }, () => {
  const db = specDbName('cli_convert');
  let client: MongoClient;
  let products: ReturnType<typeof loadEjson>;
  let temp: { dir: string; remove: () => void };

  before(async () => {
    temp = tempDir('convert-mongo');
    client = specClient();
    const { BSON } = await import('mongodb');
    products = loadEjson('products.json').map((product, index) => ({
      ...product,
      thumbnail: new BSON.Binary(Buffer.alloc(100 + index, index)),
    }));
    await client.db(db).collection('products').insertMany(products);
  });
  after(async () => {
    await client.db(db).dropDatabase();
    await client.close();
    temp.remove();
  });

  it('issue 14: a MongoDB view becomes shards: __key__ the _id hex, binary fields as members, the rest as JSON', async () => {
    const uri = mongo.uri!.replace(/^(mongodb:\/\/[^/?]*)\/?/, `$1/${db}.products`);
    const result = await cliJson<ConvertJson>(['convert', uri, join(temp.dir, 'p-%04d.tar'), '--max-count', '5']);
    const ordered = [...products].sort((a, b) =>
      (a._id as { toHexString(): string }).toHexString().localeCompare((b._id as { toHexString(): string }).toHexString()),
    );
    assert.deepEqual(
      result.files.map((file) => file.samples),
      [5, 5, 1],
    );
    const listed = result.files.flatMap((file) => tarSamples(file.path));
    assert.deepEqual(
      listed.map((sample) => sample.key),
      ordered.map((product) => (product._id as { toHexString(): string }).toHexString()),
    );
    for (const [index, sample] of listed.entries()) {
      const product = ordered[index]!;
      assert.deepEqual(sample.fields.map((field) => field.extension).sort(), ['json', 'thumbnail']);
      const shard = result.files[Math.floor(index / 5)]!.path;
      const thumbnail = execFileSync('tar', ['-xOf', shard, `${sample.key}.thumbnail`]);
      assert.deepEqual(thumbnail, Buffer.from((product.thumbnail as { buffer: Uint8Array }).buffer));
      const json = JSON.parse(execFileSync('tar', ['-xOf', shard, `${sample.key}.json`], { encoding: 'utf8' })) as Record<string, unknown>;
      const { _id, thumbnail: _thumbnail, ...rest } = product;
      assert.deepEqual(json, JSON.parse(JSON.stringify(rest)));
    }
  });
});

const rgw = serverEnv(['RXFEED_S3_ENDPOINT', 'RXFEED_S3_ACCESS_KEY', 'RXFEED_S3_SECRET_KEY', 'RXFEED_S3_REGION'], 'scripts/start-rgw.sh');

describe(
  'rxfeed convert to S3 (Ceph RGW)',
  { skip: rgw === undefined ? 'RXFEED_S3_ENDPOINT not set (scripts/start-rgw.sh)' : false },
  () => {
    const bucket = `rxfeed-cli-convert-${Date.now().toString(36)}-${randomBytes(3).toString('hex')}`;
    const env = (): Record<string, string | undefined> => ({
      AWS_ENDPOINT_URL: rgw!.RXFEED_S3_ENDPOINT,
      AWS_ACCESS_KEY_ID: rgw!.RXFEED_S3_ACCESS_KEY,
      AWS_SECRET_ACCESS_KEY: rgw!.RXFEED_S3_SECRET_KEY,
      AWS_REGION: rgw!.RXFEED_S3_REGION,
      AWS_SESSION_TOKEN: undefined,
    });
    before(async () => {
      const store = rgwStore(rgw!, bucket);
      await store.createBucket();
    });

    it('issue 14: convert writes shards to s3://bucket/pattern, which ls then lists with the same sizes and counts', async () => {
      const written = await cliJson<ConvertJson>(
        ['convert', join(pytorchData, 'example.tfrecord'), `s3://${bucket}/conv/ex-%02d.tar`, '--max-count', '2'],
        env(),
      );
      assert.deepEqual(
        written.files.map((file) => [file.path, file.samples]),
        [
          [`s3://${bucket}/conv/ex-00.tar`, 2],
          [`s3://${bucket}/conv/ex-01.tar`, 2],
        ],
      );
      const listed = await cliJson<{ shards: { name: string; bytes: number; samples: number }[] }>(['ls', `s3://${bucket}/conv/`], env());
      assert.deepEqual(
        listed.shards,
        written.files.map((file) => ({ name: file.path, bytes: file.bytes, samples: file.samples })),
      );
    });
  },
);
