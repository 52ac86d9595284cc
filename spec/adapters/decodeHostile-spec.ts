import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { before, describe, it } from 'node:test';
import sharp from 'sharp';
import { DecodeError, decodeImage, decodeImageFields, DEFAULT_MAX_PIXELS } from '../../src/adapters/decodeImage.js';
import { loadTurboJpeg, turboJpegLoadError } from '../../src/adapters/turbojpeg/binding.js';
import { InvalidArgumentError } from '../../src/errors.js';
import { Random } from '../../src/random.js';
import type { ChildInput, ChildOutcome } from './fixtures/decodeChild.js';
import { digitJpegs, sofOffset, withDimensions } from './fixtures/sampleImages.js';

const childScript = fileURLToPath(new URL('./fixtures/decodeChild.js', import.meta.url));

function randomBytes(length: number, seed: number): Uint8Array {
  const random = new Random(seed);
  return Uint8Array.from({ length }, () => random.int(256));
}

interface Fixture {
  readonly name: string;
  readonly bytes: Uint8Array;
}

/** The hostile images of issue 9.11, all made from a real JPEG (a digit of WebDataset's sample shard). */
async function hostileImages(): Promise<Fixture[]> {
  const [real] = await digitJpegs(1);
  const jpeg = real!;
  const onePixel = new Uint8Array(
    await sharp({ create: { width: 1, height: 1, channels: 3, background: { r: 200, g: 10, b: 30 } } })
      .jpeg()
      .toBuffer(),
  );
  const sof = sofOffset(jpeg);
  return [
    { name: 'real', bytes: jpeg },
    { name: 'one-pixel', bytes: onePixel },
    { name: 'truncated', bytes: jpeg.slice(0, Math.floor(jpeg.length / 2)) },
    { name: 'zero-length', bytes: new Uint8Array(0) },
    { name: 'garbage-after-soi', bytes: Uint8Array.from([0xff, 0xd8, 0xff, ...randomBytes(2000, 9)]) },
    { name: 'garbage', bytes: randomBytes(2000, 10) },
    { name: 'header-20000x20000', bytes: withDimensions(jpeg, 20000, 20000) },
    // The largest frame libjpeg accepts: 12.9 GB of RGB, which aborted Node before the fix.
    { name: 'header-65500x65500', bytes: withDimensions(jpeg, 65500, 65500) },
    { name: 'header-0x0', bytes: withDimensions(jpeg, 0, 0) },
    // Tables but no frame: the header TurboJPEG reads as 0x0.
    { name: 'tables-only', bytes: Uint8Array.from([...jpeg.subarray(0, sof), 0xff, 0xd9]) },
    // After all that, a good image still decodes on the same thread (no decoder state is left broken).
    { name: 'real-again', bytes: jpeg },
  ];
}

/**
 * Decodes in a child process; resolves with its exit status, signal, outcomes and stderr. The
 * child's address space is capped at 4 GiB so that a regression dies alone (as the issue's
 * `FATAL ERROR: ... Allocation failed`) instead of filling the machine's memory.
 */
function decodeInChild(
  input: ChildInput,
): Promise<{ status: number | null; signal: string | null; outcomes: ChildOutcome[]; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn('/bin/sh', ['-c', 'ulimit -v 4194304 && exec "$0" "$@"', process.execPath, childScript], {
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (text: string) => (stdout += text));
    child.stderr.setEncoding('utf8').on('data', (text: string) => (stderr += text));
    child.on('error', reject);
    child.on('close', (status, signal) => {
      const outcomes = stdout
        .split('\n')
        .filter((line) => line !== '')
        .map((line) => JSON.parse(line) as ChildOutcome);
      resolve({ status, signal, outcomes, stderr: stderr.slice(-4000) });
    });
    child.stdin.end(JSON.stringify(input));
  });
}

const decoders = (): NonNullable<ChildInput['decoders']>[number][] => {
  if (process.env['RXFEED_REQUIRE_SERVERS'] === '1') {
    assert.ok(loadTurboJpeg(), `CI builds the libjpeg-turbo binding: ${String(turboJpegLoadError())}`);
  }
  return loadTurboJpeg() === undefined ? ['auto', 'sharp'] : ['auto', 'turbojpeg', 'sharp'];
};

describe('decodeImage on hostile input (issue 9.11)', () => {
  let fixtures: Fixture[];
  before(async () => {
    fixtures = await hostileImages();
  });

  it('issue 9.11: truncated, empty, garbage and oversized-header images end in DecodeError; the process lives', async () => {
    const used = decoders();
    const { status, signal, outcomes, stderr } = await decodeInChild({
      images: fixtures.map(({ name, bytes }) => ({ name, base64: Buffer.from(bytes).toString('base64') })),
      decoders: used,
    });
    assert.equal(signal, null, `the child was killed by ${signal}: ${stderr}`);
    assert.equal(status, 0, `the child died: ${stderr}`);
    assert.equal(outcomes.length, fixtures.length * used.length, 'one outcome per image and decoder');
    for (const outcome of outcomes) {
      const index = fixtures.findIndex((f) => f.name === outcome.name);
      assert.ok(index >= 0, `unknown outcome ${JSON.stringify(outcome)}`);
      const where = `${outcome.name} with ${outcome.decoder}`;
      if (outcome.name === 'real' || outcome.name === 'real-again' || outcome.name === 'one-pixel') {
        assert.ok(outcome.ok, `${where} decodes: ${JSON.stringify(outcome)}`);
        assert.deepEqual(outcome.shape, outcome.name === 'one-pixel' ? [1, 1, 3] : [128, 128, 3], where);
        if (outcome.name === 'one-pixel') {
          const distance = Math.max(...outcome.first.map((v, c) => Math.abs(v - [200, 10, 30][c]!)));
          assert.ok(distance <= 16, `${where}: pixel ${JSON.stringify(outcome.first)} is not about (200, 10, 30)`);
        }
        continue;
      }
      assert.ok(!outcome.ok, `${where} must not decode, got ${JSON.stringify(outcome)}`);
      assert.equal(outcome.errorName, 'DecodeError', `${where}: ${outcome.message}`);
      assert.equal(outcome.code, 'RXFEED_ERR_DECODE', where);
      assert.equal(outcome.index, index, where);
      assert.match(outcome.message, new RegExp(`^decode item ${index}: `), where);
      if (outcome.name.startsWith('header-') && outcome.name !== 'header-0x0') {
        assert.match(outcome.message, new RegExp(`maxPixels ${DEFAULT_MAX_PIXELS}`), where);
      }
      if (outcome.name === 'truncated') assert.match(outcome.message, /premature end|truncated/i, where);
    }
  });

  it('issue 9.11: corrupt but decodable data decodes with both decoders; only a truncated stream is refused', async () => {
    const [jpeg] = await digitJpegs(1);
    const body = jpeg!.subarray(0, jpeg!.length - 2);
    assert.deepEqual([...jpeg!.subarray(-2)], [0xff, 0xd9], 'the JPEG ends with EOI');
    // libjpeg warns "3 extraneous bytes before marker 0xd9" and decodes, as PIL does.
    const extraneous = Uint8Array.from([...body, 1, 2, 3, 0xff, 0xd9]);
    const trailing = Uint8Array.from([...jpeg!, 9, 9, 9, 9]);
    for (const decoder of decoders()) {
      for (const bytes of [extraneous, trailing]) {
        assert.deepEqual((await decodeImage(bytes.slice(), { options: { decoder } })).shape, [128, 128, 3], decoder);
      }
      // Without its EOI marker the stream ends early: refused.
      await assert.rejects(decodeImage(body.slice(), { index: 0, options: { decoder } }), DecodeError, decoder);
    }
  });

  it('issue 9.11: maxPixels bounds both decoders, counting the pixels of the encoded image', async () => {
    const [jpeg] = await digitJpegs(1);
    for (const decoder of decoders()) {
      const exact = await decodeImage(jpeg!.slice(), { options: { decoder, maxPixels: 128 * 128, resize: [16, 16] } });
      assert.deepEqual(exact.shape, [16, 16, 3], decoder);
      await assert.rejects(
        decodeImage(jpeg!.slice(), { index: 2, options: { decoder, maxPixels: 128 * 128 - 1, resize: [16, 16] } }),
        (error: unknown) => {
          assert.ok(error instanceof DecodeError, decoder);
          assert.equal(error.index, 2);
          assert.match(error.message, /maxPixels 16383/, decoder);
          return true;
        },
      );
    }
    for (const maxPixels of [0, -1, 1.5, Number.NaN, 2 ** 53]) {
      await assert.rejects(decodeImage(jpeg!.slice(), { options: { maxPixels } }), InvalidArgumentError, String(maxPixels));
    }
  });

  it("issue 9.11/9.13: a sample's image that does not decode fails with DecodeError naming the sample key", async () => {
    const [jpeg] = await digitJpegs(1);
    const sample = { __key__: 'shard-0003/img_0042', jpg: jpeg!.slice(0, 300), cls: 1 };
    await assert.rejects(decodeImageFields(sample, { index: 42, options: { fields: ['jpg'] } }), (error: unknown) => {
      assert.ok(error instanceof DecodeError);
      assert.equal(error.code, 'RXFEED_ERR_DECODE');
      assert.equal(error.index, 42);
      assert.equal(error.key, 'shard-0003/img_0042');
      assert.match(error.message, /^decode item 42 \(key "shard-0003\/img_0042"\): field 'jpg': /);
      return true;
    });
    // A hostile key is quoted and cut to a bounded excerpt.
    const longKey = `${'k'.repeat(1000)}\n`;
    await assert.rejects(
      decodeImageFields({ __key__: longKey, jpg: new Uint8Array(3) }, { options: { fields: ['jpg'] } }),
      (error: unknown) => {
        assert.ok(error instanceof DecodeError);
        assert.equal(error.key, longKey);
        assert.ok(error.message.length < 500, `message of ${error.message.length} chars`);
        assert.ok(!error.message.includes('\n'));
        return true;
      },
    );
  });

  it('issue 9.13: wrong inputs and wrong fields end in typed errors, never a plain Error', async () => {
    for (const bytes of [undefined, null, 'jpeg', 5, {}, [1, 2]]) {
      await assert.rejects(decodeImage(bytes as unknown as Uint8Array, { index: 1 }), DecodeError, String(bytes));
    }
    for (const sample of [null, undefined, 'text', 7]) {
      await assert.rejects(decodeImageFields(sample as unknown as object, { options: { fields: ['jpg'] } }), DecodeError, String(sample));
    }
    await assert.rejects(decodeImageFields({ jpg: 'not bytes' }, { options: { fields: ['jpg'] } }), DecodeError);
    await assert.rejects(
      decodeImageFields({ jpg: new Uint8Array(1) }, { options: { fields: ['jpg', 3 as unknown as string] } }),
      InvalidArgumentError,
    );
  });
});
