/**
 * The JPEG data of the decode benchmarks: 1024 synthetic 128x128 colour JPEGs of about 11.8 KB
 * each on average, the mean size of the peers' images (bench/peers/): textured content (two sine
 * gratings per channel plus pixel noise), encoded with sharp at the quality whose mean size over
 * the first 64 images lands nearest 11,800 bytes. Generated once under
 * .tmp/bench/decode/<recipe>/, with a tar shard of them as WebDataset samples (`.jpg` + `.cls`).
 *
 * @module
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import tar from 'tar-stream';

/** Images in the shard. */
export const COUNT = 1024;
/** Width and height of each image. */
export const SIZE = 128;
/** The mean JPEG size the data is tuned to: that of the peers' images. */
export const TARGET_MEAN_BYTES = 11_800;
/** Changing how images are made changes this name, so old files are not reused. */
const RECIPE = 'gratings-noise-11.8k';
/** Where the images and the shard are written. */
export const JPEG_DIR = join(process.cwd(), '.tmp', 'bench', 'decode', RECIPE);

/** Deterministic textured RGB pixels for image `i`: two sine gratings per channel plus noise. */
function pixelsOf(i: number): Buffer {
  const pixels = Buffer.alloc(SIZE * SIZE * 3);
  let state = (i * 2654435761) >>> 0;
  const frequency = (k: number): number => 0.05 + ((i * 7 + k * 13) % 17) * 0.02;
  for (let y = 0; y < SIZE; y++) {
    for (let x = 0; x < SIZE; x++) {
      for (let c = 0; c < 3; c++) {
        state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
        const noise = (state >>> 24) - 128;
        const grating = 60 * Math.sin(x * frequency(c) + y * frequency(c + 3)) + 40 * Math.sin((x - y) * frequency(c + 6) + i);
        pixels[(y * SIZE + x) * 3 + c] = Math.max(0, Math.min(255, Math.round(128 + grating + noise * 0.35)));
      }
    }
  }
  return pixels;
}

const encode = (pixels: Buffer, quality: number): Promise<Buffer> =>
  sharp(pixels, { raw: { width: SIZE, height: SIZE, channels: 3 } })
    .jpeg({ quality })
    .toBuffer();

/** The quality (1-100) whose mean size over the first 64 images is nearest the target. */
async function chooseQuality(): Promise<number> {
  const probes = Array.from({ length: 64 }, (_, i) => pixelsOf(i));
  const meanAt = async (quality: number): Promise<number> => {
    let bytes = 0;
    for (const pixels of probes) bytes += (await encode(pixels, quality)).byteLength;
    return bytes / probes.length;
  };
  // Sizes grow with quality: bisect for the first quality at or above the target.
  let low = 1;
  let high = 100;
  while (low < high) {
    const middle = (low + high) >> 1;
    if ((await meanAt(middle)) < TARGET_MEAN_BYTES) low = middle + 1;
    else high = middle;
  }
  const below = Math.max(1, low - 1);
  return Math.abs((await meanAt(below)) - TARGET_MEAN_BYTES) < Math.abs((await meanAt(low)) - TARGET_MEAN_BYTES) ? below : low;
}

/** The images (made once, then read back) and the path of the tar shard holding them. */
export async function makeJpegData(): Promise<{ jpegs: Uint8Array[]; shard: string; quality: number }> {
  mkdirSync(join(JPEG_DIR, 'jpg'), { recursive: true });
  const shard = join(JPEG_DIR, 'samples.tar');
  const qualityFile = join(JPEG_DIR, 'quality.txt');
  const quality = existsSync(qualityFile) ? Number(readFileSync(qualityFile, 'utf8')) : await chooseQuality();
  const jpegs: Uint8Array[] = [];
  for (let i = 0; i < COUNT; i++) {
    const path = join(JPEG_DIR, 'jpg', `${i}.jpg`);
    if (!existsSync(path)) writeFileSync(path, await encode(pixelsOf(i), quality));
    jpegs.push(new Uint8Array(readFileSync(path)));
  }
  writeFileSync(qualityFile, String(quality));
  if (!existsSync(shard)) {
    const pack = tar.pack();
    const chunks: Buffer[] = [];
    pack.on('data', (chunk: unknown) => void chunks.push(chunk as Buffer));
    const done = new Promise<void>((resolve) => pack.on('end', () => resolve()));
    jpegs.forEach((jpeg, i) => {
      const key = String(i).padStart(6, '0');
      pack.entry({ name: `${key}.jpg` }, Buffer.from(jpeg));
      pack.entry({ name: `${key}.cls` }, String(i % 10));
    });
    pack.finalize();
    await done;
    writeFileSync(shard, Buffer.concat(chunks));
  }
  return { jpegs, shard, quality };
}
