/**
 * Seeds of the generators: the real files of `../shared/data/` (read in place, never copied into
 * the repository), cut into the units each parser reads.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import type { Seed } from './mutate.js';

/** The shared test data folder (`../shared/data` from the repository root). */
export const sharedData = join(process.cwd(), '..', 'shared', 'data');

/** The TFDS dataset directory of the octo bridge dataset. */
export const octoDir = join(sharedData, 'tfds', 'octo-bridge_dataset', '1.0.0');

function read(...path: string[]): Uint8Array {
  return new Uint8Array(readFileSync(join(sharedData, ...path)));
}

/** The first members of a tar, cut at a member boundary after `limit` bytes (a valid, shorter tar). */
function tarPrefix(tar: Uint8Array, limit: number): Uint8Array {
  let offset = 0;
  while (offset + 512 <= tar.byteLength && offset < limit) {
    const size = parseInt(
      Buffer.from(tar.subarray(offset + 124, offset + 136))
        .toString('latin1')
        .replace(/\0.*$/s, '')
        .trim() || '0',
      8,
    );
    offset += 512 + Math.ceil(size / 512) * 512;
  }
  return tar.subarray(0, offset);
}

/** WebDataset shards as plain tar bytes. */
export function tarSeeds(): Seed[] {
  return [
    { name: 'compressed.tar', bytes: read('webdataset', 'compressed.tar') },
    { name: 'testgz.tar[:16K]', bytes: tarPrefix(read('webdataset', 'testgz.tar'), 16 * 1024) },
    { name: 'sample.tgz(inflated)', bytes: new Uint8Array(gunzipSync(read('webdataset', 'sample.tgz'))) },
  ];
}

/** WebDataset shards as gzip bytes. */
export function gzipTarSeeds(): Seed[] {
  return [{ name: 'sample.tgz', bytes: read('webdataset', 'sample.tgz') }];
}

/** The frames of a TFRecord file: `[length, crc, data, crc]` each. */
export function tfrecordFrames(bytes: Uint8Array): { start: number; data: Uint8Array }[] {
  const frames: { start: number; data: Uint8Array }[] = [];
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (let at = 0; at + 12 <= bytes.byteLength;) {
    const length = Number(view.getBigUint64(at, true));
    frames.push({ start: at, data: bytes.subarray(at + 12, at + 12 + length) });
    at += 16 + length;
  }
  return frames;
}

/** The first `count` records of the octo train shard, framed (an episode is about 139 KB). */
function octoRecords(count: number): Uint8Array {
  const shard = read('tfds', 'octo-bridge_dataset', '1.0.0', 'bridge_dataset-train.tfrecord-00000-of-00001');
  const frames = tfrecordFrames(shard.subarray(0, 1024 * 1024));
  const end = frames[count]!.start;
  return shard.slice(0, end);
}

/** TFRecord files (framing included). */
export function tfrecordSeeds(): Seed[] {
  return [
    { name: 'example.tfrecord', bytes: read('tfrecord', 'pytorch-data', 'example.tfrecord') },
    { name: 'sequence_example.tfrecord', bytes: read('tfrecord', 'pytorch-data', 'sequence_example.tfrecord') },
    { name: 'octo-train[0]', bytes: octoRecords(1) },
  ];
}

/** Serialised `tf.train.Example`s (the records of the TFRecord seeds). */
export function exampleSeeds(): Seed[] {
  const seeds: Seed[] = [];
  const file = read('tfrecord', 'pytorch-data', 'example.tfrecord');
  tfrecordFrames(file).forEach((frame, index) => seeds.push({ name: `example.tfrecord#${index}`, bytes: frame.data.slice() }));
  seeds.push({ name: 'octo-train#0', bytes: tfrecordFrames(octoRecords(1))[0]!.data.slice() });
  return seeds;
}

/** Serialised `tf.train.SequenceExample`s. */
export function sequenceExampleSeeds(): Seed[] {
  const file = read('tfrecord', 'pytorch-data', 'sequence_example.tfrecord');
  return tfrecordFrames(file).map((frame, index) => ({ name: `sequence_example.tfrecord#${index}`, bytes: frame.data.slice() }));
}

/** The octo dataset's metadata files, parsed. */
export function tfdsSeeds(): { info: unknown; features: unknown } {
  return {
    info: JSON.parse(readFileSync(join(octoDir, 'dataset_info.json'), 'utf8')),
    features: JSON.parse(readFileSync(join(octoDir, 'features.json'), 'utf8')),
  };
}

/** Real JPEGs: the first camera images of the octo episode (64x64 JPEGs inside its Example), found by their markers. */
export function jpegSeeds(count = 3): Seed[] {
  const record = tfrecordFrames(octoRecords(1))[0]!.data;
  const seeds: Seed[] = [];
  for (let at = 0; seeds.length < count;) {
    const start = Buffer.from(record.buffer, record.byteOffset, record.byteLength).indexOf(Buffer.from([0xff, 0xd8, 0xff]), at);
    if (start < 0) break;
    const end = Buffer.from(record.buffer, record.byteOffset, record.byteLength).indexOf(Buffer.from([0xff, 0xd9]), start);
    if (end < 0) break;
    seeds.push({ name: `octo-train#0 jpeg ${seeds.length}`, bytes: record.slice(start, end + 2) });
    at = end + 2;
  }
  return seeds;
}

/** Real PNGs: the first digits of WebDataset's sample shard. */
export function pngSeeds(count = 3): Seed[] {
  const tar = new Uint8Array(gunzipSync(read('webdataset', 'sample.tgz')));
  const seeds: Seed[] = [];
  for (let offset = 0; offset + 512 <= tar.byteLength && seeds.length < count;) {
    const name = Buffer.from(tar.subarray(offset, offset + 100))
      .toString('latin1')
      .replace(/\0.*$/s, '');
    const size = parseInt(
      Buffer.from(tar.subarray(offset + 124, offset + 136))
        .toString('latin1')
        .replace(/\0.*$/s, '')
        .trim() || '0',
      8,
    );
    if (name.endsWith('.png')) seeds.push({ name: `sample.tgz ${name}`, bytes: tar.slice(offset + 512, offset + 512 + size) });
    offset += 512 + Math.ceil(size / 512) * 512;
  }
  return seeds;
}
