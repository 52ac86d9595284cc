/**
 * The files the peer benchmark reads, made once under `.tmp/bench/peers/`: 20,000 real 128x128
 * JPEGs with a class label each, packed as 8 WebDataset tar shards (`<key>.jpg` + `<key>.cls`, the
 * label as decimal text) and as 8 TFRecord shards of `tf.train.Example`s (`image/encoded` bytes +
 * `image/class/label` int64, framed with real masked CRC32Cs). Sample `i` is the same image and
 * label in both, in the same shard and position.
 *
 * The pixels are natural-like rather than random: a base colour, a few low-frequency waves, value
 * noise on a 4-pixel grid and some per-pixel grain, so that libjpeg at quality 94 makes files of about
 * 11.9 KB on average (the issue asks for about 11.8 KB), the size of small dataset photos.
 *
 * `manifest.json` is written last: when it is there and every file has the size it records, the
 * files are reused; otherwise everything is made again.
 *
 * @module
 */
import { mkdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { from, lastValueFrom } from 'rxjs';
import sharp from 'sharp';
import { toTFRecord } from '../../sources/tfrecord/index.js';
import { writeTarShard } from '../benchShards.js';

export const SAMPLES = 20_000;
export const SHARDS = 8;
export const SIZE = 128;
const CLASSES = 1000;
const QUALITY = 94;
/** Changes when the generated content changes, so older files are not reused. */
const VERSION = 1;

/** The generated files, in reading order, and what they hold. */
export interface PeerData {
  readonly tar: readonly string[];
  readonly tfrecord: readonly string[];
  readonly samples: number;
  /** Mean size of the encoded JPEGs, in bytes. */
  readonly meanJpegBytes: number;
}

interface Manifest extends PeerData {
  readonly version: number;
  /** Size of every file in `tar` then `tfrecord`. */
  readonly sizes: readonly number[];
}

/** A small deterministic generator (LCG), so that the images are the same on every machine. */
function generator(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return state / 4294967296;
  };
}

/** RGB pixels of image `index`. */
function pixels(index: number): Buffer {
  const random = generator(Math.imul(index + 1, 2654435761));
  const waves = Array.from({ length: 6 }, () => ({
    fx: (random() - 0.5) * 0.5,
    fy: (random() - 0.5) * 0.5,
    phase: random() * 2 * Math.PI,
    amplitude: [random() * 60, random() * 60, random() * 60],
  }));
  const base = [random() * 255, random() * 255, random() * 255];
  const cell = 4;
  const grid = SIZE / cell + 2;
  const noise = Float32Array.from({ length: grid * grid * 3 }, () => (random() - 0.5) * 160);
  const out = Buffer.alloc(SIZE * SIZE * 3);
  const wave = new Float32Array(waves.length);
  for (let y = 0; y < SIZE; y++) {
    for (let x = 0; x < SIZE; x++) {
      for (let w = 0; w < waves.length; w++) wave[w] = Math.sin(waves[w]!.fx * x + waves[w]!.fy * y + waves[w]!.phase);
      const gx = x / cell;
      const gy = y / cell;
      const x0 = Math.floor(gx);
      const y0 = Math.floor(gy);
      const tx = gx - x0;
      const ty = gy - y0;
      for (let c = 0; c < 3; c++) {
        let value = base[c]!;
        for (let w = 0; w < waves.length; w++) value += waves[w]!.amplitude[c]! * wave[w]!;
        const at = (cx: number, cy: number): number => noise[(cy * grid + cx) * 3 + c]!;
        value += (at(x0, y0) * (1 - tx) + at(x0 + 1, y0) * tx) * (1 - ty) + (at(x0, y0 + 1) * (1 - tx) + at(x0 + 1, y0 + 1) * tx) * ty;
        value += (random() - 0.5) * 60;
        out[(y * SIZE + x) * 3 + c] = Math.max(0, Math.min(255, Math.round(value)));
      }
    }
  }
  return out;
}

async function jpegOf(index: number): Promise<Uint8Array> {
  const jpeg = await sharp(pixels(index), { raw: { width: SIZE, height: SIZE, channels: 3 } })
    .jpeg({ quality: QUALITY })
    .toBuffer();
  return new Uint8Array(jpeg.buffer, jpeg.byteOffset, jpeg.byteLength);
}

/** The label of sample `index`. */
export function labelOf(index: number): number {
  return index % CLASSES;
}

async function sizesOf(paths: readonly string[]): Promise<number[]> {
  return Promise.all(paths.map(async (path) => (await stat(path)).size));
}

async function reusable(dir: string): Promise<PeerData | undefined> {
  try {
    const manifest = JSON.parse(await readFile(join(dir, 'manifest.json'), 'utf8')) as Manifest;
    if (manifest.version !== VERSION || manifest.samples !== SAMPLES) return undefined;
    const sizes = await sizesOf([...manifest.tar, ...manifest.tfrecord]);
    if (sizes.some((size, at) => size !== manifest.sizes[at])) return undefined;
    return { tar: manifest.tar, tfrecord: manifest.tfrecord, samples: manifest.samples, meanJpegBytes: manifest.meanJpegBytes };
  } catch {
    return undefined;
  }
}

/**
 * The peer benchmark's files under `<root>/.tmp/bench/peers/`, made unless already there and
 * complete (about two minutes on one core).
 */
export async function peerData(root: string): Promise<PeerData> {
  const dir = join(root, '.tmp', 'bench', 'peers');
  const existing = await reusable(dir);
  if (existing !== undefined) return existing;
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true });
  const tarPaths: string[] = [];
  const tfrecordPaths: string[] = [];
  let jpegBytes = 0;
  for (let shard = 0; shard < SHARDS; shard++) {
    const first = Math.floor((shard * SAMPLES) / SHARDS);
    const last = Math.floor(((shard + 1) * SAMPLES) / SHARDS);
    const jpegs: Uint8Array[] = [];
    for (let index = first; index < last; index++) jpegs.push(await jpegOf(index));
    for (const jpeg of jpegs) jpegBytes += jpeg.byteLength;
    const tarPath = join(dir, `peers-${String(shard).padStart(6, '0')}.tar`);
    await writeTarShard(
      tarPath,
      jpegs.map((jpeg, at) => ({
        key: `sample${String(first + at).padStart(6, '0')}`,
        members: { jpg: jpeg, cls: String(labelOf(first + at)) },
      })),
    );
    const tfrecordPath = join(dir, `peers.tfrecord-${String(shard).padStart(5, '0')}-of-${String(SHARDS).padStart(5, '0')}`);
    await lastValueFrom(
      from(jpegs.map((jpeg, at) => ({ 'image/encoded': [jpeg], 'image/class/label': BigInt64Array.of(BigInt(labelOf(first + at))) }))).pipe(
        toTFRecord(tfrecordPath),
      ),
    );
    tarPaths.push(tarPath);
    tfrecordPaths.push(tfrecordPath);
    console.log(`peer data: shard ${shard + 1} of ${SHARDS} written`);
  }
  const data: PeerData = { tar: tarPaths, tfrecord: tfrecordPaths, samples: SAMPLES, meanJpegBytes: jpegBytes / SAMPLES };
  const manifest: Manifest = { ...data, version: VERSION, sizes: await sizesOf([...tarPaths, ...tfrecordPaths]) };
  await writeFile(join(dir, 'manifest.json'), `${JSON.stringify(manifest, null, 1)}\n`);
  return data;
}
