import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import sharp from 'sharp';
import { DEFAULT_MAX_PIXELS } from '../../../src/limits.js';
import { sharpImageDecoder } from '../../../sources/tfrecord/imageDecoder.js';
import { withDimensions } from '../../adapters/fixtures/sampleImages.js';

// TFDS `decodeImages: true` decodes with sharp on the main thread: the same hostile images as the
// worker decoders (issue 9.11) must be refused before their pixels are allocated.
async function smallJpeg(): Promise<Uint8Array> {
  const pixels = Buffer.alloc(8 * 8 * 3, 200);
  return new Uint8Array(
    await sharp(pixels, { raw: { width: 8, height: 8, channels: 3 } })
      .jpeg()
      .toBuffer(),
  );
}

describe('sharpImageDecoder', () => {
  it('decodes a real JPEG to its shape', async () => {
    const image = await sharpImageDecoder(await smallJpeg(), { shape: [-1, -1, 3], format: 'jpeg' });
    assert.deepEqual(image.shape, [8, 8, 3]);
    assert.equal(image.data.length, 8 * 8 * 3);
  });

  it('issue 9.11: a header claiming 20000x20000 pixels is refused (over DEFAULT_MAX_PIXELS)', async () => {
    assert.ok(20000 * 20000 > DEFAULT_MAX_PIXELS);
    const hostile = withDimensions(await smallJpeg(), 20000, 20000);
    await assert.rejects(sharpImageDecoder(hostile, { shape: [-1, -1, 3], format: 'jpeg' }), /pixel limit/i);
  });

  it('issue 9.11: a truncated JPEG is refused, not decoded to grey', async () => {
    const jpeg = await smallJpeg();
    await assert.rejects(sharpImageDecoder(jpeg.subarray(0, Math.floor(jpeg.length * 0.6)), { shape: [-1, -1, 3], format: 'jpeg' }));
  });
});
