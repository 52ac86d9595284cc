import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { bridgeDir, cli, cliJson, fileSize, pytorchData, tarSamples, tfrecordRecords, webdataset } from './cli.js';

interface Pass {
  stage: string;
  samples: number;
  bytes: number;
  seconds: number;
  samplesPerSecond: number;
  mbPerSecond: number;
}
interface BenchJson {
  input: string;
  format: string;
  passes: Pass[];
  breakdown: Record<string, number>;
  notes: string[];
}

/** Rates follow from samples, bytes and seconds (rounded to two decimals). */
function assertRates(pass: Pass): void {
  assert.ok(pass.seconds > 0, `${pass.stage} took ${pass.seconds} s`);
  assert.ok(Math.abs(pass.samplesPerSecond - pass.samples / pass.seconds) <= 0.01 + pass.samplesPerSecond * 1e-5, JSON.stringify(pass));
  assert.ok(Math.abs(pass.mbPerSecond - pass.bytes / 1e6 / pass.seconds) <= 0.01 + pass.mbPerSecond * 1e-5, JSON.stringify(pass));
}

describe('rxfeed bench', () => {
  it("issue 14: bench --samples 100 --decode reads 100 samples in each pass, their bytes those of GNU tar's listing, and splits the time into io, parse and decode", async () => {
    const shard = join(webdataset, 'testgz.tar');
    const result = await cliJson<BenchJson>(['bench', shard, '--samples', '100', '--decode']);
    assert.deepEqual(
      result.passes.map((pass) => [pass.stage, pass.samples]),
      [
        ['io', 100],
        ['parse', 100],
        ['decode', 100],
      ],
    );
    const payload = tarSamples(shard)
      .slice(0, 100)
      .reduce((sum, sample) => sum + sample.fields.reduce((bytes, field) => bytes + field.size, 0), 0);
    const [io, parse, decode] = result.passes as [Pass, Pass, Pass];
    assert.equal(parse.bytes, payload);
    assert.equal(decode.bytes, payload);
    // The io pass reads again the raw bytes the parse pass pulled: at least the samples' members, at most the shard.
    assert.ok(io.bytes >= payload && io.bytes <= fileSize(shard), `${io.bytes} raw bytes`);
    result.passes.forEach(assertRates);
    assert.deepEqual(Object.keys(result.breakdown).sort(), ['decode', 'io', 'parse']);
    assert.equal(result.breakdown.io, io.seconds);
    assert.equal(result.breakdown.parse, Math.max(0, parse.seconds - io.seconds));
    assert.equal(result.breakdown.decode, Math.max(0, decode.seconds - parse.seconds));
  });

  it('issue 14: bench of a TFRecord file smaller than --samples reads it all: every record, every byte of the file', async () => {
    const file = join(pytorchData, 'example.tfrecord');
    const result = await cliJson<BenchJson>(['bench', file, '--samples', '1000']);
    const records = tfrecordRecords(file);
    assert.deepEqual(
      result.passes.map((pass) => [pass.stage, pass.samples, pass.bytes]),
      [
        ['io', records.length, fileSize(file)],
        ['parse', records.length, records.reduce((sum, record) => sum + record.length, 0)],
      ],
    );
  });

  it('issue 14: bench --decode of a TFDS split decodes its JPEG images to pixels: 64 x 64 x 3 bytes each', async () => {
    const result = await cliJson<BenchJson>(['bench', bridgeDir, '--split', 'val', '--samples', '1', '--decode']);
    const [, parse, decode] = result.passes as [Pass, Pass, Pass];
    assert.equal(decode.samples, 1);
    assert.ok(decode.bytes > parse.bytes, `${decode.bytes} bytes decoded, ${parse.bytes} encoded`);
    assert.equal((decode.bytes - parse.bytes) % 1, 0);
  });

  it('issue 14: bench prints its passes and where the time goes as tables', async () => {
    const result = await cli(['bench', join(webdataset, 'compressed.tar'), '--seconds', '5']);
    assert.equal(result.status, 0);
    assert.equal(result.stderr, '');
    const lines = result.stdout.trimEnd().split('\n');
    assert.equal(lines[0], `tar: ${join(webdataset, 'compressed.tar')}`);
    assert.match(lines[1]!, /^pass\s+samples\s+MB\s+seconds\s+samples\/s\s+MB\/s$/);
    assert.match(lines[3]!, /^io\s+3\s/);
    assert.match(lines[4]!, /^parse\s+3\s/);
    assert.match(result.stdout, /\nwhere time goes\s+time\n-+\s+-+\nio\s+\d+\.\d{3} s \(\d+%\)\nparse\s+\d+\.\d{3} s \(\d+%\)\n$/);
  });

  it('issue 14: a bad --seconds or --samples is a usage error (exit 2)', async () => {
    for (const args of [
      ['--seconds', '0'],
      ['--seconds', 'soon'],
      ['--samples', '-3'],
    ]) {
      const result = await cli(['bench', join(webdataset, 'compressed.tar'), ...args]);
      assert.equal(result.status, 2, args.join(' '));
      assert.match(result.stderr, /^error: option '--(seconds|samples) <n>' argument '.*' is invalid/);
    }
  });
});
