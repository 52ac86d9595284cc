import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import type { Observable } from 'rxjs';
import { RxfeedError } from '../../../src/errors.js';
import { FileReadError } from '../../../sources/core/fileByteSource.js';
import {
  CorruptShardError,
  fromWebDataset,
  SampleFieldError,
  TruncatedShardError,
  UnsafeMemberError,
  type WebDatasetSample,
} from '../../../sources/webdataset/index.js';
import { gzip, packTar, scratchDir, sharedWebDataset, text } from './tarFixtures.js';

/** The keys emitted before the source failed, and the error. */
function readUntilError(source: Observable<WebDatasetSample>): Promise<{ keys: string[]; error: unknown }> {
  const keys: string[] = [];
  return new Promise((resolve) => {
    source.subscribe({
      next: (sample) => keys.push(sample.__key__),
      error: (error: unknown) => resolve({ keys, error }),
      complete: () => resolve({ keys, error: undefined }),
    });
  });
}

const bytes = (length: number, fill: number): Uint8Array => new Uint8Array(length).fill(fill);
const block = (size: number): number => Math.ceil(size / 512) * 512;

describe('fromWebDataset shard errors', () => {
  const scratch = scratchDir();
  after(() => scratch.cleanup());

  it('rejects a member with a .. segment or an absolute name, naming shard and member', async () => {
    for (const unsafe of ['../evil.txt', 'a/../../evil.txt', '/etc/passwd.txt', 'C:/windows/x.txt', '..\\evil.txt']) {
      const path = scratch.write(
        'unsafe.tar',
        await packTar([
          { name: 'ok/0001.txt', data: 'fine' },
          { name: 'ok/0002.txt', data: 'fine' },
          { name: unsafe, data: 'escape' },
          { name: 'ok/0003.txt', data: 'never read' },
        ]),
      );
      const { keys, error } = await readUntilError(fromWebDataset(path));
      // Samples completed before the bad header are delivered; the one in assembly is not.
      assert.deepEqual(keys, ['ok/0001'], unsafe);
      assert.ok(error instanceof UnsafeMemberError && error instanceof RxfeedError, unsafe);
      assert.equal(error.code, 'RXFEED_ERR_UNSAFE_MEMBER');
      assert.equal(error.shard, path);
      assert.equal(error.member, unsafe);
      assert.match(error.message, new RegExp(`${path}.*'${unsafe.replace(/[\\.]/g, '\\$&')}'`));
    }
  });

  it('rejects unsafe names of directories and links too', async () => {
    for (const member of [
      { name: '../outside', type: 'directory' as const },
      { name: '/abs/link.txt', type: 'symlink' as const, linkname: 'x' },
    ]) {
      const path = scratch.write('unsafe-other.tar', await packTar([{ name: 'a.txt', data: '1' }, member]));
      const { error } = await readUntilError(fromWebDataset(path));
      assert.ok(error instanceof UnsafeMemberError, member.name);
      assert.equal(error.member, member.name);
    }
  });

  it('accepts names that only look like traversal (..name, a..b)', async () => {
    const path = scratch.write(
      'dots.tar',
      await packTar([
        { name: 'x/..a.txt', data: '1' },
        { name: 'x/a..b.txt', data: '2' },
      ]),
    );
    // `..a.txt`: a basename starting with a dot has no WebDataset key, so it is skipped, not rejected.
    const { keys, error } = await readUntilError(fromWebDataset(path));
    assert.equal(error, undefined);
    assert.deepEqual(keys, ['x/a']);
  });

  it('names the shard, byte offset and member when a shard ends inside a member', async () => {
    const tarBytes = await packTar([
      { name: 'a.bin', data: bytes(10_000, 1) },
      { name: 'b.bin', data: bytes(10_000, 2) },
      { name: 'c.bin', data: bytes(10_000, 3) },
    ]);
    const cut = 512 + block(10_000) + 512 + 5_000; // half-way through b.bin's data
    const path = scratch.write('cut.tar', tarBytes.subarray(0, cut));
    for (const chunkSize of [512, 4096, 256 * 1024]) {
      const { keys, error } = await readUntilError(fromWebDataset(path, { chunkSize }));
      assert.deepEqual(keys, ['a']);
      assert.ok(error instanceof TruncatedShardError);
      assert.equal(error.code, 'RXFEED_ERR_TRUNCATED_SHARD');
      assert.deepEqual([error.shard, error.offset, error.compressed, error.member], [path, cut, false, 'b.bin']);
      assert.equal(error.message, `shard ${path} is truncated: it ended at byte ${cut} inside member 'b.bin'`);
    }
  });

  it('reports a shard cut inside a header, with no member being read', async () => {
    const tarBytes = await packTar([
      { name: 'a.bin', data: bytes(600, 1) },
      { name: 'b.bin', data: bytes(600, 2) },
    ]);
    const cut = 512 + block(600) + 100;
    const path = scratch.write('cut-header.tar', tarBytes.subarray(0, cut));
    const { keys, error } = await readUntilError(fromWebDataset(path));
    assert.deepEqual(keys, []); // 'a' cannot be known complete: the next header might share its key
    assert.ok(error instanceof TruncatedShardError);
    assert.deepEqual([error.offset, error.member], [cut, undefined]);
  });

  it('names the compressed offset when a .tgz is cut', async () => {
    const original = readFileSync(join(sharedWebDataset, 'sample.tgz'));
    const cut = Math.floor(original.byteLength / 2);
    const path = scratch.write('cut.tgz', original.subarray(0, cut));
    const { keys, error } = await readUntilError(fromWebDataset(path));
    assert.ok(keys.length > 0 && keys.length < 90, `read ${keys.length} samples first`);
    assert.ok(error instanceof TruncatedShardError);
    assert.deepEqual([error.shard, error.offset, error.compressed], [path, cut, true]);
    assert.match(error.message, new RegExp(`ended after ${cut} compressed bytes`));
  });

  it('names the header offset of a corrupt header (bad checksum)', async () => {
    const tarBytes = Buffer.from(
      await packTar([
        { name: 'a.bin', data: bytes(700, 1) },
        { name: 'b.bin', data: bytes(700, 2) },
      ]),
    );
    const second = 512 + block(700);
    tarBytes[second + 148] = '9'.charCodeAt(0); // the checksum field no longer matches
    const path = scratch.write('corrupt.tar', tarBytes);
    const { error } = await readUntilError(fromWebDataset(path));
    assert.ok(error instanceof CorruptShardError);
    assert.equal(error.code, 'RXFEED_ERR_CORRUPT_SHARD');
    assert.deepEqual([error.shard, error.offset], [path, second]);
  });

  it('names a corrupt gzip stream', async () => {
    const compressed = Buffer.from(gzip(await packTar([{ name: 'a.bin', data: bytes(5000, 7) }])));
    compressed.fill(0xff, 10, 30); // deflate data after the gzip header
    const path = scratch.write('corrupt.tgz', compressed);
    const { error } = await readUntilError(fromWebDataset(path));
    assert.ok(error instanceof CorruptShardError, String(error));
    assert.equal(error.shard, path);
  });

  it('fails on one extension twice within one sample', async () => {
    const path = scratch.write(
      'dup.tar',
      await packTar([
        { name: 'a.txt', data: '1' },
        { name: 'a.txt', data: '2' },
      ]),
    );
    const { error } = await readUntilError(fromWebDataset(path));
    assert.ok(error instanceof SampleFieldError);
    assert.deepEqual([error.code, error.shard, error.key, error.extension], ['RXFEED_ERR_DUPLICATE_FIELD', path, 'a', 'txt']);
  });

  it('fails when a file does not exist, with a FileReadError naming it (issue 9.13)', async () => {
    const missing = join(scratch.dir, 'nope.tar');
    const { error } = await readUntilError(fromWebDataset(missing));
    assert.ok(error instanceof FileReadError, String(error));
    assert.deepEqual([error.code, error.path, error.errno], ['RXFEED_ERR_FILE_NOT_FOUND', missing, 'ENOENT']);
  });
});

describe('fromWebDataset missing-field policies', () => {
  const scratch = scratchDir();
  after(() => scratch.cleanup());
  const shard = packTar([
    { name: 's1.png', data: 'p1' },
    { name: 's1.cls', data: '1' },
    { name: 's2.png', data: 'p2' }, // no cls
    { name: 's3.cls', data: '3' }, // no png
    { name: 's4.png', data: 'p4' },
    { name: 's4.cls', data: '4' },
    { name: 's5.png', data: 'p5' }, // no cls, last in the shard
  ]).then((tarBytes) => scratch.write('gaps.tar', tarBytes));
  const view = (sample: WebDatasetSample): string => `${sample.__key__}:${text(sample.png)}/${text(sample.cls)}`;

  it("'error' (the default) names the shard, key and extension after the complete samples", async () => {
    const path = await shard;
    const { keys, error } = await readUntilError(fromWebDataset(path, { extensions: ['png', 'cls'] }));
    assert.deepEqual(keys, ['s1']);
    assert.ok(error instanceof SampleFieldError);
    assert.deepEqual([error.code, error.shard, error.key, error.extension], ['RXFEED_ERR_MISSING_FIELD', path, 's2', 'cls']);
    assert.equal(error.message, `shard ${path}: sample 's2' has no member 's2.cls'`);
  });

  it("'skip' drops incomplete samples, the last one included", async () => {
    const samples: string[] = [];
    const path = await shard;
    await new Promise<void>((resolve, reject) =>
      fromWebDataset(path, { extensions: ['PNG', 'cls'], missing: 'skip' }).subscribe({
        next: (sample) => samples.push(view(sample)),
        complete: resolve,
        error: reject,
      }),
    );
    assert.deepEqual(samples, ['s1:p1/1', 's4:p4/4']);
  });

  it("'zero' fills missing fields with empty bytes", async () => {
    const path = await shard;
    const samples: WebDatasetSample[] = [];
    await new Promise<void>((resolve, reject) =>
      fromWebDataset(path, { extensions: ['png', 'cls'], missing: 'zero' }).subscribe({
        next: (sample) => samples.push(sample),
        complete: resolve,
        error: reject,
      }),
    );
    assert.deepEqual(samples.map(view), ['s1:p1/1', 's2:p2/', 's3:/3', 's4:p4/4', 's5:p5/']);
    assert.ok(samples[1]!.cls instanceof Uint8Array && (samples[1]!.cls as Uint8Array).byteLength === 0);
  });

  it('an empty shard list completes at once', async () => {
    const { keys, error } = await readUntilError(fromWebDataset([], { extensions: ['png'] }));
    assert.deepEqual([keys, error], [[], undefined]);
  });

  it('checks nothing without extensions', async () => {
    const path = await shard;
    const { keys, error } = await readUntilError(fromWebDataset(path, { missing: 'error' }));
    assert.equal(error, undefined);
    assert.deepEqual(keys, ['s1', 's2', 's3', 's4', 's5']);
  });
});
