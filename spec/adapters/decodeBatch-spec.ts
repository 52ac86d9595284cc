import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { from, lastValueFrom, map, tap, toArray } from 'rxjs';
import { batch } from '../../operators/batch.js';
import { collate } from '../../operators/collate.js';
import { decodeBatch } from '../../src/adapters/decodeBatch.js';
import { DecodeError, decodeImage } from '../../src/adapters/decodeImage.js';
import { InvalidArgumentError } from '../../src/errors.js';
import { toLoader } from '../../src/loader.js';
import { fromItems } from '../../sources/core/fromItems.js';
import { digitJpegs, digitSamples } from './fixtures/sampleImages.js';

interface Sample {
  readonly __key__: string;
  readonly jpg: Uint8Array;
  readonly cls: number;
}

async function samples(count: number): Promise<Sample[]> {
  const jpegs = await digitJpegs(count);
  return jpegs.map((jpg, i) => ({ __key__: `s${i}`, jpg, cls: i % 10 }));
}

describe('decodeBatch (issue 12)', () => {
  it('issue 12: gives exactly what a per-sample decode then collate gives: pixels, shape and the other fields', async () => {
    const input = await samples(10);
    const fused = await lastValueFrom(
      from(input).pipe(batch(4), decodeBatch<Sample, 'jpg'>({ fields: ['jpg'], size: [128, 128] }), toArray()),
    );
    const perSample = await lastValueFrom(
      from(await samples(10)).pipe(
        map(async (sample) => ({ ...sample, jpg: await decodeImage(sample.jpg) })),
        (promises) => from(promises).pipe(map((promise) => promise)),
        toArray(),
      ),
    );
    const decoded = await Promise.all(perSample);
    const expected = await lastValueFrom(
      from(decoded.map((sample) => ({ __key__: sample.__key__, jpg: sample.jpg.data, cls: sample.cls }))).pipe(
        batch(4),
        collate(),
        toArray(),
      ),
    );
    assert.equal(fused.length, 3);
    for (const [b, got] of fused.entries()) {
      const want = expected[b] as unknown as { jpg: { data: Uint8Array }; cls: unknown; __key__: unknown };
      assert.deepEqual(got.jpg.shape, [b < 2 ? 4 : 2, 128, 128, 3]);
      assert.equal(got.jpg.dtype, 'uint8');
      assert.deepEqual(got.jpg.data, want.jpg.data);
      assert.deepEqual(got.cls, want.cls);
      assert.deepEqual(got.__key__, want.__key__);
    }
  });

  it('issue 12: an image of another size, or a PNG, is decoded and resized to the size as decodeImage resizes it', async () => {
    const [jpeg] = await digitJpegs(1);
    const [digit] = await digitSamples();
    const rows = [
      { jpg: jpeg!, cls: 1 },
      { jpg: digit!.png, cls: 2 },
    ];
    const [out] = await lastValueFrom(from([rows]).pipe(decodeBatch({ fields: ['jpg'], size: [48, 40] }), toArray()));
    assert.deepEqual(out!.jpg.shape, [2, 48, 40, 3]);
    const first = await decodeImage(jpeg!.slice(), { options: { resize: [48, 40] } });
    const second = await decodeImage(digit!.png.slice(), { options: { resize: [48, 40] } });
    assert.deepEqual(out!.jpg.data, Uint8Array.from([...first.data, ...second.data]));
  });

  it('issue 12: an image that does not decode fails typed, naming the batch, row, field and key', async () => {
    const input = await samples(3);
    const broken = { ...input[1]!, jpg: input[1]!.jpg.subarray(0, 200) };
    await assert.rejects(
      lastValueFrom(from([input[0]!, broken, input[2]!]).pipe(batch(3), decodeBatch<Sample, 'jpg'>({ fields: ['jpg'], size: [128, 128] }))),
      (error: unknown) => {
        assert.ok(error instanceof DecodeError, String(error));
        assert.equal(error.code, 'RXFEED_ERR_DECODE');
        assert.equal(error.key, 's1');
        assert.match(error.message, /key "s1"\): batch 0 row 1 field 'jpg': /);
        return true;
      },
    );
    await assert.rejects(
      lastValueFrom(from([[{ jpg: 'not bytes' }]]).pipe(decodeBatch({ fields: ['jpg'], size: [8, 8] }))),
      /batch 0 row 0 field 'jpg': expected the encoded image as a Uint8Array, got string/,
    );
  });

  it('issue 12: rejects bad options when applied', () => {
    assert.throws(() => decodeBatch({ fields: [], size: [8, 8] }), InvalidArgumentError);
    assert.throws(() => decodeBatch({ fields: ['jpg'], size: [0, 8] }), InvalidArgumentError);
    assert.throws(() => decodeBatch({ fields: ['jpg'], size: [8] as unknown as [number, number] }), InvalidArgumentError);
  });

  it('issue 12: holds one batch being decoded: a slow consumer pauses the source, and a break returns with the decode finished', async () => {
    const input = await samples(16);
    let pulled = 0;
    const decoded = fromItems(input, { chunkSize: 1 }).pipe(
      tap(() => pulled++),
      batch(2),
      decodeBatch<Sample, 'jpg'>({ fields: ['jpg'], size: [128, 128] }),
    );
    let received = 0;
    for await (const out of toLoader(decoded, { prefetch: 1 })) {
      assert.deepEqual(out.jpg.shape, [2, 128, 128, 3]);
      if (++received === 1) {
        await new Promise((resolve) => setTimeout(resolve, 50));
        // The batch in hand, one in the loader, one decoding, one forming: 2 samples each.
        assert.ok(pulled <= 8, `${pulled} samples read ahead of a consumer holding its first batch`);
        break;
      }
    }
    assert.equal(received, 1);
  });

  it('issue 12: a throw downstream of decodeBatch (it emits from a promise callback) reaches the loop', { timeout: 10_000 }, async () => {
    const boom = new Error('downstream');
    const decoded = from(await samples(4)).pipe(
      batch(2),
      decodeBatch<Sample, 'jpg'>({ fields: ['jpg'], size: [128, 128] }),
      map((): never => {
        throw boom;
      }),
    );
    await assert.rejects(
      (async () => {
        for await (const out of toLoader(decoded)) void out;
      })(),
      boom,
    );
  });
});
