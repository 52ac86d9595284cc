import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { MongoClient } from 'mongodb';
import sharp from 'sharp';
import { loadEjson, mongo, specClient, specDbName } from '../integration/mongodb/server.js';
import { assertFailure, bridgeDir, cli, cliJson, pytorchData, tarSamples, tfrecordRecords, webdataset } from './cli.js';

/** The first value under `key` anywhere in a parsed JSON tree. */
function findKey(tree: unknown, key: string): unknown {
  if (typeof tree !== 'object' || tree === null) return undefined;
  if (Object.hasOwn(tree, key)) return (tree as Record<string, unknown>)[key];
  for (const child of Object.values(tree)) {
    const found = findKey(child, key);
    if (found !== undefined) return found;
  }
  return undefined;
}

interface Field {
  name: string;
  type: string;
  shape?: number[];
  bytes: number;
  value?: string;
}
interface InspectJson {
  input: string;
  format: string;
  samples: { key: string; fields: Field[] }[];
}

describe('rxfeed inspect', () => {
  it("issue 14: inspect -n 2 of a gzip shard gives GNU tar's first samples, PNG shapes as sharp reads them and .cls labels", async () => {
    const shard = join(webdataset, 'sample.tgz');
    const result = await cliJson<InspectJson>(['inspect', shard, '-n', '2']);
    const listed = tarSamples(shard).slice(0, 2);
    assert.deepEqual(
      result.samples.map((sample) => sample.key),
      listed.map((sample) => sample.key),
    );
    for (const [index, sample] of result.samples.entries()) {
      const expected = await Promise.all(
        listed[index]!.fields.map(async ({ extension, size }) => {
          const member = execFileSync('tar', ['-xzOf', shard, `${listed[index]!.key}.${extension}`]);
          assert.equal(member.length, size);
          if (extension === 'png') {
            const { width, height } = await sharp(member).metadata();
            return { name: extension, type: 'image', shape: [height, width], bytes: size };
          }
          return { name: extension, type: 'int', bytes: size, value: member.toString('utf8').trim() };
        }),
      );
      assert.deepEqual(
        [...sample.fields].sort((a, b) => a.name.localeCompare(b.name)),
        expected.sort((a, b) => a.name.localeCompare(b.name)),
      );
    }
  });

  it('issue 14: inspect of a TFRecord file gives each Example feature with its kind, length and size', async () => {
    const file = join(pytorchData, 'example.tfrecord');
    const result = await cliJson<InspectJson>(['inspect', file, '-n', '9']);
    // Four records (the MANIFEST), whatever -n asks beyond them.
    assert.equal(result.samples.length, tfrecordRecords(file).length);
    assert.equal(result.samples.length, 4);
    for (const [index, sample] of result.samples.entries()) {
      assert.equal(sample.key, String(index));
      const byName = new Map(sample.fields.map((field) => [field.name, field]));
      assert.deepEqual([...byName.keys()].sort(), ['x_byte', 'x_float', 'x_int']);
      assert.deepEqual(
        { ...byName.get('x_int'), value: undefined },
        { name: 'x_int', type: 'int64', shape: [10], bytes: 80, value: undefined },
      );
      assert.deepEqual(
        { ...byName.get('x_float'), value: undefined },
        { name: 'x_float', type: 'float', shape: [10], bytes: 40, value: undefined },
      );
      assert.equal(byName.get('x_byte')!.type, 'bytes');
      assert.deepEqual(byName.get('x_byte')!.shape, [1]);
    }
    // The record bytes hold the first values in the clear: the excerpt shows them.
    const first = result.samples[0]!.fields.find((field) => field.name === 'x_byte')!;
    assert.ok(tfrecordRecords(file)[0]!.includes(Buffer.from(first.value!)), first.value);
    assert.equal(first.bytes, Buffer.byteLength(first.value!));
  });

  it("issue 14: inspect of a SequenceExample file gives its context features and feature lists with each list's steps", async () => {
    const result = await cliJson<InspectJson>(['inspect', join(pytorchData, 'sequence_example.tfrecord'), '-n', '1']);
    const names = result.samples[0]!.fields.map((field) => field.name).sort();
    assert.ok(names.some((name) => name.startsWith('context/')));
    const lists = result.samples[0]!.fields.filter((field) => field.name.startsWith('feature_lists/'));
    assert.ok(lists.length > 0);
    for (const list of lists) {
      assert.match(list.type, /^list of (int64|float|bytes)$/);
      assert.ok(list.shape!.length >= 1);
    }
  });

  it("issue 14: inspect of a TFDS split walks features.json's nested features: steps as a list, images with their stored shape", async () => {
    const result = await cliJson<InspectJson>(['inspect', bridgeDir, '--split', 'val[:2]', '-n', '5']);
    assert.equal(result.format, 'tfds');
    assert.equal(result.samples.length, 2);
    const fields = new Map(result.samples[0]!.fields.map((field) => [field.name, field]));
    assert.equal(fields.get('steps')!.type, 'list');
    const features = JSON.parse(readFileSync(join(bridgeDir, 'features.json'), 'utf8')) as unknown;
    for (const camera of ['image_0', 'image_1', 'image_2', 'image_3']) {
      const declared = findKey(features, camera) as { image: { shape: { dimensions: string[] } } };
      const image = fields.get(`steps[]/observation/${camera}`)!;
      assert.deepEqual(image.shape, declared.image.shape.dimensions.slice(0, 2).map(Number));
      assert.equal(image.type, 'image (encoded)');
      assert.deepEqual(image.shape, [64, 64]);
    }
    assert.equal(fields.get('steps[]/language_instruction')!.type, 'string');
  });

  it('issue 14: inspect prints one table per sample', async () => {
    const result = await cli(['inspect', join(pytorchData, 'example.tfrecord'), '-n', '1']);
    assert.equal(result.status, 0);
    assert.equal(result.stderr, '');
    const lines = result.stdout.trimEnd().split('\n');
    assert.equal(lines[0], `tfrecord: ${join(pytorchData, 'example.tfrecord')}`);
    assert.equal(lines[2], 'sample 0: 0');
    assert.match(lines[3]!, /^field\s+type\s+shape\s+size\s+value$/);
    assert.match(result.stdout, /\nx_int\s+int64\s+\[10\]\s+80 B\s+\[/);
  });

  it('issue 14: -n 0 and -n x are usage errors (exit 2); a truncated shard is one line with its code', async () => {
    for (const count of ['0', 'x']) {
      const result = await cli(['inspect', join(pytorchData, 'example.tfrecord'), '-n', count]);
      assert.equal(result.status, 2);
      assert.match(result.stderr, /^error: option '-n, --samples <count>' argument '.*' is invalid/);
    }
    const truncated = await cli(['inspect', join(bridgeDir, 'features.json'), '--format', 'tfrecord']);
    assertFailure(truncated, 'inspect', 'RXFEED_ERR_CORRUPT_RECORD');
  });
});

describe('rxfeed inspect of a MongoDB view (RXFEED_MONGODB_URI)', { skip: mongo.skip }, () => {
  const db = specDbName('cli_inspect');
  let client: MongoClient;
  let students: ReturnType<typeof loadEjson>;

  before(async () => {
    client = specClient();
    students = loadEjson('students.json');
    const { BSON } = await import('mongodb');
    // One large binary: inspect shows its size, never its bytes.
    const large = { ...students[0]!, photo: new BSON.Binary(Buffer.alloc(300_000, 7)) };
    await client
      .db(db)
      .collection('students')
      .insertMany([large, ...students.slice(1)]);
  });
  after(async () => {
    await client.db(db).dropDatabase();
    await client.close();
  });

  it('issue 14: inspect gives the first documents with their fields, BSON types and bounded value excerpts', async () => {
    const uri = mongo.uri!.replace(/^(mongodb:\/\/[^/?]*)\/?/, `$1/${db}.students`);
    const result = await cli(['inspect', uri, '-n', '2', '--json']);
    assert.equal(result.status, 0, result.stderr);
    assert.ok(result.stdout.length < 10_000, `${result.stdout.length} characters for two documents`);
    const parsed = JSON.parse(result.stdout) as InspectJson;
    assert.equal(parsed.samples.length, 2);
    for (const [index, sample] of parsed.samples.entries()) {
      const document = students[index]!;
      assert.equal(sample.key, (document._id as { toHexString(): string }).toHexString());
      const fields = new Map(sample.fields.map((field) => [field.name, field]));
      assert.deepEqual([...fields.keys()].sort(), [...Object.keys(document), ...(index === 0 ? ['photo'] : [])].sort());
      assert.deepEqual(fields.get('_id'), { name: '_id', type: 'objectId', bytes: 12, value: sample.key });
      assert.deepEqual(fields.get('name'), {
        name: 'name',
        type: 'string',
        bytes: Buffer.byteLength(document.name as string),
        value: document.name,
      });
      assert.equal(fields.get('scores')!.type, 'array');
      assert.deepEqual(fields.get('scores')!.shape, [(document.scores as unknown[]).length]);
      assert.ok(fields.get('scores')!.value!.length <= 63);
    }
    assert.deepEqual(
      parsed.samples[0]!.fields.find((field) => field.name === 'photo'),
      { name: 'photo', type: 'binData', bytes: 300_000 },
    );
  });
});
