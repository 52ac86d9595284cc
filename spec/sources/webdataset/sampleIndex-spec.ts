import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import type { ByteSource } from '../../../sources/core/byteSource.js';
import { fileByteSource } from '../../../sources/core/fileByteSource.js';
import { TruncatedShardError, UnsafeMemberError } from '../../../sources/webdataset/errors.js';
import { scanShard, type ScanOptions } from '../../../sources/webdataset/sampleIndex.js';
import { packTar, scratchDir, sharedWebDataset } from './tarFixtures.js';

/** A ByteSource that counts the bytes its range reads and streams give. */
function counting(inner: ByteSource): ByteSource & { readonly bytes: number } {
  let bytes = 0;
  return {
    name: inner.name,
    size: (signal) => inner.size(signal),
    read: async (start, end, signal) => {
      const read = await inner.read(start, end, signal);
      bytes += read.byteLength;
      return read;
    },
    async *stream(start, signal) {
      for await (const chunk of inner.stream(start, signal)) {
        bytes += chunk.byteLength;
        yield chunk;
      }
    },
    get bytes() {
      return bytes;
    },
  };
}

const options = (seek: boolean): ScanOptions => ({ maxMemberSize: 2 ** 30, chunkSize: 64 * 1024, seek });

describe('scanShard', () => {
  const scratch = scratchDir();
  after(() => scratch.cleanup());

  it('issue 11: a seeking scan reads the headers and jumps over member data, giving the index a stream gives', async () => {
    const members = [0, 1, 2, 3].flatMap((n) => [
      { name: `big/${n}.bin`, data: new Uint8Array(1024 * 1024 + n).fill(n) },
      { name: `big/${n}.cls`, data: String(n) },
    ]);
    const path = scratch.write('big.tar', await packTar(members));
    const seeking = counting(fileByteSource(path));
    const streamed = counting(fileByteSource(path));
    const index = await scanShard(seeking, options(true));
    assert.deepEqual(await scanShard(streamed, options(false)), index);
    assert.deepEqual(index.keys, ['big/0', 'big/1', 'big/2', 'big/3']);
    assert.deepEqual(index.fieldSets, ['bin/cls']);
    // Each sample: a header, the data (rounded up to blocks), a header, one block of label.
    const sampleBytes = (n: number): number => 512 + Math.ceil((1024 * 1024 + n) / 512) * 512 + 1024;
    assert.deepEqual(
      Array.from(index.ends),
      [0, 1, 2, 3].map((n) => [0, 1, 2, 3].slice(0, n + 1).reduce((sum, m) => sum + sampleBytes(m), 0)),
    );
    assert.ok(seeking.bytes < streamed.bytes / 4, `the seeking scan read ${seeking.bytes} bytes of ${streamed.bytes}`);
  });

  it('issue 11: a header declaring more data than the shard holds fails as truncated, not with an allocation', async () => {
    const bytes = await packTar([{ name: 'a.bin', data: new Uint8Array(4096) }]);
    // Cut the shard inside the member's data: the scan jumps towards the declared end and finds the file shorter.
    const path = scratch.write('cut.tar', bytes.subarray(0, 2048));
    await assert.rejects(scanShard(fileByteSource(path), { ...options(true), chunkSize: 512 }), (error: unknown) => {
      assert.ok(error instanceof TruncatedShardError, String(error));
      assert.equal(error.offset, 2048);
      assert.equal(error.member, 'a.bin');
      return true;
    });
  });

  it('issue 11: the scan refuses what the stream refuses (unsafe names), naming the shard', async () => {
    const path = scratch.write('unsafe.tar', await packTar([{ name: '../evil.txt', data: 'x' }]));
    await assert.rejects(scanShard(fileByteSource(path), options(true)), UnsafeMemberError);
  });

  it('issue 11: the index of testgz.tar has one entry per sample, contiguous', async () => {
    const index = await scanShard(fileByteSource(join(sharedWebDataset, 'testgz.tar')), options(true));
    assert.equal(index.keys.length, 1000);
    assert.equal(index.starts[0], 0);
    for (let sample = 1; sample < 1000; sample++) assert.equal(index.starts[sample], index.ends[sample - 1]);
  });
});
