import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import sharp from 'sharp';
import { DecodeError, decodeImage, decodeImageFields } from '../../src/adapters/decodeImage.js';
import { loadTurboJpeg, turboJpegLoadError } from '../../src/adapters/turbojpeg/binding.js';
import { InvalidArgumentError } from '../../src/errors.js';
import { digitJpegs, digitSamples } from './fixtures/sampleImages.js';

/** Largest per-channel difference between two images of the same shape. */
function maxDifference(a: Uint8Array, b: Uint8Array): number {
  assert.equal(a.length, b.length);
  let max = 0;
  for (let i = 0; i < a.length; i++) max = Math.max(max, Math.abs(a[i]! - b[i]!));
  return max;
}

/** Rows [top, top+h) and columns [left, left+w) of an RGB image. */
function cropOf(data: Uint8Array, width: number, top: number, left: number, h: number, w: number): Uint8Array {
  const out = new Uint8Array(h * w * 3);
  for (let y = 0; y < h; y++) out.set(data.subarray(((top + y) * width + left) * 3, ((top + y) * width + left + w) * 3), y * w * 3);
  return out;
}

function mirrored(data: Uint8Array, width: number, height: number): Uint8Array {
  const out = new Uint8Array(data.length);
  for (let y = 0; y < height; y++)
    for (let x = 0; x < width; x++) out.set(data.subarray((y * width + x) * 3, (y * width + x) * 3 + 3), (y * width + width - 1 - x) * 3);
  return out;
}

describe('decodeImage', () => {
  it('decodes the WebDataset PNG digits to RGB with the grey value in every channel', async () => {
    const [first] = await digitSamples();
    const image = await decodeImage(first!.png);
    assert.deepEqual(image.shape, [28, 28, 3]);
    assert.equal(image.dtype, 'uint8');
    const grey = await sharp(first!.png).toColourspace('b-w').raw().toBuffer();
    assert.equal(grey.length, 28 * 28);
    for (let i = 0; i < grey.length; i++) {
      assert.deepEqual([...image.data.subarray(3 * i, 3 * i + 3)], [grey[i], grey[i], grey[i]]);
    }
    assert.equal(image.data.buffer.byteLength, image.data.byteLength, 'the image owns its buffer (transferable)');
  });

  it('decodes JPEG with libjpeg-turbo (when built) within a few levels of sharp', async () => {
    const jpegs = await digitJpegs(8);
    for (const [index, bytes] of jpegs.entries()) {
      const auto = await decodeImage(bytes, { index });
      const viaSharp = await decodeImage(bytes, { index, options: { decoder: 'sharp' } });
      assert.deepEqual(auto.shape, [128, 128, 3]);
      assert.deepEqual(viaSharp.shape, [128, 128, 3]);
      assert.ok(maxDifference(auto.data, viaSharp.data) <= 8, `item ${index}: decoders differ by more than 8 levels`);
    }
  });

  it("decoder 'turbojpeg' uses the binding, or says how to build it", async () => {
    const [bytes] = await digitJpegs(1);
    if (process.env['RXFEED_REQUIRE_SERVERS'] === '1') {
      assert.ok(loadTurboJpeg(), `CI builds the libjpeg-turbo binding: ${String(turboJpegLoadError())}`);
    }
    if (loadTurboJpeg() === undefined) {
      await assert.rejects(decodeImage(bytes!, { options: { decoder: 'turbojpeg' } }), /turbojpeg\/build\.sh/);
    } else {
      const image = await decodeImage(bytes!, { options: { decoder: 'turbojpeg' } });
      assert.deepEqual(image.shape, [128, 128, 3]);
      // A 1/4 DCT-scaled decode for a 32x32 target.
      const small = await decodeImage(bytes!, { options: { decoder: 'turbojpeg', resize: [32, 32] } });
      assert.deepEqual(small.shape, [32, 32, 3]);
    }
  });

  it('resizes, then centre-crops exactly the middle of the resized image', async () => {
    const [bytes] = await digitJpegs(1);
    const resized = await decodeImage(bytes!.slice(), { options: { resize: [40, 50], decoder: 'sharp' } });
    assert.deepEqual(resized.shape, [40, 50, 3]);
    const cropped = await decodeImage(bytes!.slice(), { options: { resize: [40, 50], crop: { size: [20, 30] }, decoder: 'sharp' } });
    assert.deepEqual(cropped.shape, [20, 30, 3]);
    assert.deepEqual(cropped.data, cropOf(resized.data, 50, 10, 10, 20, 30));
  });

  it('random crops and flips come from (seed, epoch, index): repeatable, and varying by index and epoch', async () => {
    const [bytes] = await digitJpegs(1);
    const options = { resize: [80, 80] as const, crop: { size: [64, 64] as const, random: true }, randomFlip: true };
    const run = (index: number, epoch: number, seed = 9): Promise<Uint8Array> =>
      decodeImage(bytes!.slice(), { index, epoch, seed, options }).then((image) => image.data);
    assert.deepEqual(await run(3, 0), await run(3, 0));
    const byIndex = await Promise.all([0, 1, 2, 3, 4, 5].map((index) => run(index, 0)));
    const distinct = new Set(byIndex.map((data) => Buffer.from(data).toString('base64')));
    assert.ok(distinct.size >= 5, `only ${distinct.size} different crops over 6 indices`);
    assert.notDeepEqual(await run(3, 0), await run(3, 1));
    assert.notDeepEqual(await run(3, 0), await run(3, 0, 10));
    // Each result is the unflipped crop at some position, or its mirror image.
    const full = await decodeImage(bytes!.slice(), { options: { resize: [80, 80] } });
    const found = byIndex.every((data) => {
      for (let top = 0; top <= 16; top++)
        for (let left = 0; left <= 16; left++) {
          const candidate = cropOf(full.data, 80, top, left, 64, 64);
          if (maxDifference(candidate, data) === 0 || maxDifference(mirrored(candidate, 64, 64), data) === 0) return true;
        }
      return false;
    });
    assert.ok(found, 'every random crop is a (possibly mirrored) window of the image');
  });

  it('fails with DecodeError naming the item for bytes that are no image, and for an oversized crop', async () => {
    await assert.rejects(decodeImage(new TextEncoder().encode('hello'), { index: 12 }), (error: unknown) => {
      assert.ok(error instanceof DecodeError);
      assert.equal(error.code, 'RXFEED_ERR_DECODE');
      assert.equal(error.index, 12);
      assert.match(error.message, /^decode item 12: /);
      return true;
    });
    const [sample] = await digitSamples();
    await assert.rejects(
      decodeImage(sample!.png, { index: 4, options: { crop: { size: [29, 10] } } }),
      /decode item 4: crop 29x10 is larger than the image \(28x28\); resize first/,
    );
    await assert.rejects(decodeImage(sample!.png, { options: { resize: [0, 3] } }), InvalidArgumentError);
  });
});

describe('decodeImageFields', () => {
  it('decodes the named fields of a WebDataset sample and keeps the others', async () => {
    const [sample] = await digitSamples();
    const out = await decodeImageFields(
      { __key__: sample!.key, png: sample!.png, cls: sample!.cls },
      { index: 0, options: { fields: ['jpg', 'png'], resize: [14, 14] } },
    );
    assert.equal(out.__key__, sample!.key);
    assert.equal(out.cls, sample!.cls);
    assert.deepEqual((out.png as { shape: number[] }).shape, [14, 14, 3]);
  });

  it('fails when the sample has none of the fields, naming what it has', async () => {
    await assert.rejects(
      decodeImageFields({ txt: 'x' }, { index: 7, options: { fields: ['jpg', 'png'] } }),
      /decode item 7: the sample has none of the fields 'jpg', 'png' \(it has txt\)/,
    );
    await assert.rejects(decodeImageFields({ png: new Uint8Array(1) }, { options: { fields: [] } }), InvalidArgumentError);
  });
});
