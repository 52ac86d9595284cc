import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { MongoClient } from 'mongodb';
import { loadEjson, mongo, specClient, specDbName } from '../integration/mongodb/server.js';
import { rgwStore, serverEnv } from '../integration/objectstore/servers.js';
import {
  assertFailure,
  bridgeDir,
  cli,
  cliJson,
  fileSize,
  pytorchData,
  sharedData,
  tarSamples,
  tfrecordRecords,
  webdataset,
} from './cli.js';

interface LsJson {
  input: string;
  format: string;
  shards: { name: string; split?: string; bytes: number | null; samples: number }[];
  totals: { shards: number; bytes: number | null; samples: number };
}

const SHARDS = ['compressed.tar', 'sample.tgz', 'testgz.tar'];

/** What `ls` must say of local files: sizes from the file system, samples from GNU tar or the framing. */
function expectedShards(
  names: readonly string[],
  dir: string,
  count: (path: string) => number,
  shown = (path: string) => path,
): LsJson['shards'] {
  return names.map((name) => {
    const path = join(dir, name);
    return { name: shown(path), bytes: fileSize(path), samples: count(path) };
  });
}

function totalsOf(shards: LsJson['shards']): LsJson['totals'] {
  return {
    shards: shards.length,
    bytes: shards.reduce((sum, shard) => sum + shard.bytes!, 0),
    samples: shards.reduce((sum, shard) => sum + shard.samples, 0),
  };
}

describe('rxfeed ls', () => {
  it('issue 14: ls --json lists a directory of WebDataset shards with the sizes of the files and the samples of GNU tar listings', async () => {
    const result = await cliJson<LsJson>(['ls', webdataset]);
    const shards = expectedShards(SHARDS, webdataset, (path) => tarSamples(path).length);
    assert.deepEqual(result, { input: webdataset, format: 'tar', shards, totals: totalsOf(shards) });
    // The MANIFEST's counts.
    assert.deepEqual(
      result.shards.map((shard) => shard.samples),
      [3, 90, 1000],
    );
  });

  it('issue 14: ls reads brace patterns and * in the file name', async () => {
    const braces = await cliJson<LsJson>(['ls', join(webdataset, '{testgz,compressed}.tar')]);
    assert.deepEqual(
      braces.shards.map((shard) => shard.name),
      [join(webdataset, 'testgz.tar'), join(webdataset, 'compressed.tar')],
    );
    const star = await cliJson<LsJson>(['ls', join(webdataset, '*.tar')]);
    const shards = expectedShards(['compressed.tar', 'testgz.tar'], webdataset, (path) => tarSamples(path).length);
    assert.deepEqual(star.shards, shards);
  });

  it('issue 14: ls --json counts the records of TFRecord files by their framing', async () => {
    const result = await cliJson<LsJson>(['ls', pytorchData]);
    const names = ['example.tfrecord', 'sequence_example.tfrecord'];
    const shards = expectedShards(names, pytorchData, (path) => tfrecordRecords(path).length);
    assert.deepEqual(result, { input: pytorchData, format: 'tfrecord', shards, totals: totalsOf(shards) });
    assert.deepEqual(
      shards.map((shard) => shard.samples),
      [4, 4],
    );
  });

  it("issue 14: ls --json of a TFDS directory gives each split's shard files with dataset_info.json's shardLengths", async () => {
    const info = JSON.parse(readFileSync(join(bridgeDir, 'dataset_info.json'), 'utf8')) as {
      splits: { name: string; shardLengths: string[] }[];
    };
    const shards = info.splits.flatMap((split) =>
      split.shardLengths.map((length, index) => {
        const name = join(
          bridgeDir,
          `bridge_dataset-${split.name}.tfrecord-${String(index).padStart(5, '0')}-of-${String(split.shardLengths.length).padStart(5, '0')}`,
        );
        return { name, split: split.name, bytes: fileSize(name), samples: Number(length) };
      }),
    );
    assert.deepEqual(await cliJson<LsJson>(['ls', bridgeDir]), { input: bridgeDir, format: 'tfds', shards, totals: totalsOf(shards) });
    const val = await cliJson<LsJson>(['ls', bridgeDir, '--split', 'val[:10%]']);
    assert.deepEqual(
      val.shards,
      shards.filter((shard) => shard.split === 'val'),
    );
  });

  it('issue 14: ls prints a table with every shard and the totals', async () => {
    const result = await cli(['ls', join(webdataset, 'compressed.tar')]);
    assert.equal(result.status, 0);
    assert.equal(result.stderr, '');
    const lines = result.stdout.trimEnd().split('\n');
    assert.equal(lines[0], `tar: ${join(webdataset, 'compressed.tar')}`);
    assert.match(lines[1]!, /^shard\s+bytes\s+size\s+samples$/);
    assert.match(
      lines[3]!,
      new RegExp(`^${join(webdataset, 'compressed.tar')}\\s+${fileSize(join(webdataset, 'compressed.tar'))}\\s+10\\.0 KiB\\s+3$`),
    );
    assert.match(lines[4]!, /^total \(1 shard\)\s+10240\s+10\.0 KiB\s+3$/);
  });

  it('issue 14: a missing file, an unknown format and a corrupt shard each end in one line with the code and exit 1', async () => {
    assertFailure(await cli(['ls', join(webdataset, 'missing.tar')]), 'ls', 'RXFEED_ERR_FILE_NOT_FOUND');
    assertFailure(await cli(['ls', join(sharedData, 'sigv4', 'LICENSE.aws-c-auth')]), 'ls', 'RXFEED_ERR_INVALID_ARG');
    assertFailure(await cli(['ls', join(sharedData, 'mongodb-json', 'grades.json'), '--format', 'tar']), 'ls', 'RXFEED_ERR_CORRUPT_SHARD');
    assertFailure(await cli(['ls', join(pytorchData, 'example.tfrecord'), '--split', 'train']), 'ls', 'RXFEED_ERR_INVALID_ARG');
  });
});

const http = serverEnv(['RXFEED_HTTP_ENDPOINT'], 'scripts/start-nginx.sh');

describe(
  'rxfeed ls over HTTP (nginx)',
  { skip: http === undefined ? 'RXFEED_HTTP_ENDPOINT not set (scripts/start-nginx.sh)' : false },
  () => {
    it('issue 14: ls of a URL ending in / lists the nginx directory as the local one, sizes and samples alike', async () => {
      const base = `${http!.RXFEED_HTTP_ENDPOINT}/shared/webdataset/`;
      const result = await cliJson<LsJson>(['ls', base]);
      const shards = expectedShards(
        SHARDS,
        webdataset,
        (path) => tarSamples(path).length,
        (path) => `${base}${path.slice(webdataset.length + 1)}`,
      );
      assert.deepEqual(result, { input: base, format: 'tar', shards, totals: totalsOf(shards) });
      const braces = await cliJson<LsJson>(['ls', `${base}{compressed,testgz}.tar`]);
      assert.deepEqual(
        braces.shards,
        shards.filter((shard) => shard.name.endsWith('.tar')),
      );
    });

    it('issue 14: the user and password of an http input never reach the output, in the input or in any shard name', async () => {
      const secret = `pw-${randomBytes(8).toString('hex')}`;
      const endpoint = new URL(http!.RXFEED_HTTP_ENDPOINT);
      const base = `${endpoint.protocol}//bob:${secret}@${endpoint.host}/shared/webdataset/`;
      for (const input of [base, `${base}testgz.tar`]) {
        const result = await cli(['ls', input]);
        assert.equal(result.status, 0, result.stderr);
        assert.ok(!result.stdout.includes(secret) && !result.stderr.includes(secret), result.stdout);
        const listed = await cliJson<LsJson>(['ls', input]);
        assert.equal(listed.input, input.replace(`bob:${secret}@`, '***@'));
        assert.ok(listed.shards.length > 0);
        for (const shard of listed.shards) assert.ok(shard.name.startsWith(`${endpoint.protocol}//***@${endpoint.host}/`), shard.name);
      }
    });
  },
);

const rgw = serverEnv(['RXFEED_S3_ENDPOINT', 'RXFEED_S3_ACCESS_KEY', 'RXFEED_S3_SECRET_KEY', 'RXFEED_S3_REGION'], 'scripts/start-rgw.sh');

describe('rxfeed ls over S3 (Ceph RGW)', { skip: rgw === undefined ? 'RXFEED_S3_ENDPOINT not set (scripts/start-rgw.sh)' : false }, () => {
  const bucket = `rxfeed-cli-${Date.now().toString(36)}-${randomBytes(3).toString('hex')}`;
  const awsEnv = (secret: string): Record<string, string | undefined> => ({
    AWS_ENDPOINT_URL: rgw!.RXFEED_S3_ENDPOINT,
    AWS_ACCESS_KEY_ID: rgw!.RXFEED_S3_ACCESS_KEY,
    AWS_SECRET_ACCESS_KEY: secret,
    AWS_REGION: rgw!.RXFEED_S3_REGION,
    AWS_SESSION_TOKEN: undefined,
    AWS_DEFAULT_REGION: undefined,
  });

  before(async () => {
    const store = rgwStore(rgw!, bucket);
    await store.createBucket();
    for (const name of SHARDS) await store.put(`wds/${name}`, readFileSync(join(webdataset, name)));
    await store.put('wds/README.txt', new TextEncoder().encode('not a shard'));
  });

  it('issue 14: ls s3://bucket/prefix/ lists the shard objects with the sizes and samples of the local files', async () => {
    const result = await cliJson<LsJson>(['ls', `s3://${bucket}/wds/`], awsEnv(rgw!.RXFEED_S3_SECRET_KEY));
    const shards = expectedShards(
      SHARDS,
      webdataset,
      (path) => tarSamples(path).length,
      (path) => `s3://${bucket}/wds/${path.slice(webdataset.length + 1)}`,
    );
    assert.deepEqual(result, { input: `s3://${bucket}/wds/`, format: 'tar', shards, totals: totalsOf(shards) });
  });

  it('issue 14: a refused signature is one line with its code, and the secret is never printed', async () => {
    const secret = `wrong-${randomBytes(8).toString('hex')}`;
    const result = await cli(['ls', `s3://${bucket}/wds/`, '--debug'], awsEnv(secret));
    assertFailure(result, 'ls', 'RXFEED_ERR_OBJECT_ACCESS');
    assert.ok(!result.stderr.includes(secret));
    assert.ok(!result.stderr.includes(rgw!.RXFEED_S3_SECRET_KEY));
  });
});

describe('rxfeed ls of a MongoDB view (RXFEED_MONGODB_URI)', { skip: mongo.skip }, () => {
  const db = specDbName('cli_ls');
  let client: MongoClient;
  let grades: ReturnType<typeof loadEjson>;

  before(async () => {
    client = specClient();
    grades = loadEjson('grades.json');
    await client.db(db).collection('grades').insertMany(grades);
  });
  after(async () => {
    await client.db(db).dropDatabase();
    await client.close();
  });

  /** The spec's URI with the database and collection in its path. */
  const uriOf = (path: string): string => mongo.uri!.replace(/^(mongodb:\/\/[^/?]*)\/?/, `$1/${path}`);

  it('issue 14: ls counts the documents of a collection, and of a --filter view', async () => {
    const all = await cliJson<LsJson>(['ls', uriOf(`${db}.grades`)]);
    assert.equal(all.format, 'mongodb');
    assert.deepEqual(all.totals, { shards: 1, bytes: null, samples: grades.length });
    const filtered = await cliJson<LsJson>(['ls', uriOf(db), '--collection', 'grades', '--filter', '{"class_id": 7}']);
    assert.equal(filtered.totals.samples, grades.filter((grade) => grade.class_id === 7).length);
    assert.ok(filtered.totals.samples > 0);
  });

  it('issue 14: a URI naming no collection, or a filter that is not JSON, is one line with RXFEED_ERR_INVALID_ARG', async () => {
    assertFailure(await cli(['ls', uriOf(db)]), 'ls', 'RXFEED_ERR_INVALID_ARG');
    assertFailure(await cli(['ls', uriOf(`${db}.grades`), '--filter', '{class_id: 7']), 'ls', 'RXFEED_ERR_INVALID_ARG');
  });
});
