/**
 * rxfeed's TFRecord writer and reader checked against an independent reader: Debian's
 * /usr/bin/python3 with python3-protobuf (tf.train.Example parsed by Google's protobuf runtime,
 * CRCs by its own table CRC32C) and python3-pil (JPEGs decoded by libjpeg), installed by
 * scripts/install-python-protobuf.sh. Skipped only when that reader is absent and
 * RXFEED_REQUIRE_SERVERS is not '1'; in CI it must be there.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, describe, it } from 'node:test';
import { lastValueFrom, range, map, toArray, type Observable } from 'rxjs';
import { fromItems } from '../../../src/index.js';
import {
  fromTFRecord,
  fromTfds,
  toTFRecord,
  type DecodedImage,
  type Example,
  type ExampleInput,
  type FeatureValue,
} from '../../../sources/tfrecord/index.js';

const repoRoot = fileURLToPath(new URL('../../../../', import.meta.url));
const reader = join(repoRoot, 'spec', 'integration', 'tfrecord', 'read_tfrecord.py');
const bridgeDir = join(repoRoot, '..', 'shared', 'data', 'tfds', 'octo-bridge_dataset', '1.0.0');
const python = '/usr/bin/python3';

const probe = spawnSync(python, ['-c', 'import google.protobuf, PIL'], { encoding: 'utf8' });
const available = probe.status === 0;
const required = process.env.RXFEED_REQUIRE_SERVERS === '1';
const skip =
  available || required
    ? false
    : `${python} with python3-protobuf and python3-pil is absent (scripts/install-python-protobuf.sh installs them)`;

const tmpBase = join(repoRoot, '.tmp', 'spec-tfrecord');
mkdirSync(tmpBase, { recursive: true });
const tmp = mkdtempSync(join(tmpBase, 'python-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

const all = <T>(source: Observable<T>): Promise<T[]> => lastValueFrom(source.pipe(toArray()));

interface PythonFile {
  file: string;
  records: unknown[];
}

function readWithPython(mode: 'example' | 'images', files: string[]): PythonFile[] {
  assert.ok(available, `the independent reader is required here: ${probe.stderr || probe.error?.message}`);
  const result = spawnSync(python, [reader, mode, ...files], { encoding: 'utf8', maxBuffer: 512 * 1024 * 1024 });
  assert.equal(result.status, 0, result.stderr);
  return JSON.parse(result.stdout) as PythonFile[];
}

/** A decoded feature in the reader's JSON form: bytes as base64, floats as bits, int64 as strings. */
function asPythonJson(value: FeatureValue): unknown {
  if (value === null) return { none: true };
  if (value instanceof Float32Array) return { float_bits: [...new Uint32Array(Float32Array.from(value).buffer)] };
  if (Array.isArray(value)) return { bytes: value.map((bytes) => Buffer.from(bytes).toString('base64')) };
  return { int64: [...(value as BigInt64Array)].map((v) => v.toString()) };
}

function exampleAsPythonJson(example: Example): Record<string, unknown> {
  return Object.fromEntries(
    Object.keys(example)
      .sort()
      .map((key) => [key, asPythonJson(example[key]!)]),
  );
}

describe('TFRecord against an independent reader (python3-protobuf, Pillow)', { skip }, () => {
  it('what toTFRecord writes, protobuf parses to the same values and its CRCs check', async () => {
    const path = join(tmp, 'written.tfrecord');
    const utf8 = new TextEncoder();
    const inputs: ExampleInput[] = [
      {
        label: BigInt64Array.of(-9223372036854775808n, -1n, 0n, 1n, 127n, 128n, 9223372036854775807n),
        weights: Float32Array.of(0.5, -0.0, 1e-45, 3.4028234663852886e38, Number.POSITIVE_INFINITY),
        text: ['', 'plain', 'ünïcødé ✓'],
        blob: [new Uint8Array(70000).map((_, i) => (i * 31) & 0xff)],
        none: null,
      },
      { only: Int32Array.of(-5, 5) },
      {},
    ];
    const written = await lastValueFrom(fromItems(inputs).pipe(toTFRecord(path)));
    assert.equal(written.records, 3);
    const [python] = readWithPython('example', [path]);
    const ours = (await all(fromTFRecord([path], { decode: 'example' }))).map(exampleAsPythonJson);
    assert.deepEqual(python!.records, ours);
    // And against the inputs themselves, not only our own decoder.
    assert.deepEqual(python!.records[0], {
      blob: { bytes: [Buffer.from((inputs[0]!.blob as Uint8Array[])[0]!).toString('base64')] },
      label: { int64: ['-9223372036854775808', '-1', '0', '1', '127', '128', '9223372036854775807'] },
      none: { none: true },
      text: { bytes: ['', 'plain', 'ünïcødé ✓'].map((t) => Buffer.from(utf8.encode(t)).toString('base64')) },
      weights: { float_bits: [0x3f000000, 0x80000000, 0x00000001, 0x7f7fffff, 0x7f800000] },
    });
    assert.deepEqual(python!.records[1], { only: { int64: ['-5', '5'] } });
    assert.deepEqual(python!.records[2], {});
  });

  it('a multi-megabyte dataset written with toTFRecord reads back identically in both readers', async () => {
    const path = join(tmp, 'many.tfrecord');
    await lastValueFrom(
      range(0, 500).pipe(
        map((i) => ({ id: BigInt64Array.of(BigInt(i) * 1_000_000_007n), pad: [new Uint8Array(4096 + i).fill(i & 0xff)] })),
        toTFRecord(path),
      ),
    );
    const [python] = readWithPython('example', [path]);
    const ours = (await all(fromTFRecord([path], { decode: 'example', chunkBytes: 10_000 }))).map(exampleAsPythonJson);
    assert.equal(ours.length, 500);
    assert.deepEqual(python!.records, ours);
  });

  it('every feature value of both bridge splits matches, encoded images included', async () => {
    for (const split of ['train', 'val']) {
      const file = join(bridgeDir, `bridge_dataset-${split}.tfrecord-00000-of-00001`);
      const [python] = readWithPython('example', [file]);
      const ours = (await all(fromTFRecord([file], { decode: 'example' }))).map(exampleAsPythonJson);
      assert.equal(ours.length, 25);
      assert.deepEqual(python!.records, ours);
    }
  });

  it('every bridge JPEG decodes to the same RGB pixels as Pillow', async () => {
    for (const split of ['train', 'val']) {
      const file = join(bridgeDir, `bridge_dataset-${split}.tfrecord-00000-of-00001`);
      const [python] = readWithPython('images', [file]);
      const episodes = await all(fromTfds(bridgeDir, { split, decodeImages: true }));
      const ours = episodes.map((episode) => {
        const steps = episode.steps as unknown as { observation: Record<string, DecodedImage> }[];
        const digests: Record<string, string[]> = {};
        for (const key of ['image_0', 'image_1', 'image_2', 'image_3']) {
          digests[`steps/observation/${key}`] = steps.map((step) => createHash('sha256').update(step.observation[key]!.data).digest('hex'));
        }
        return digests;
      });
      assert.deepEqual(python!.records, ours);
    }
  });
});
