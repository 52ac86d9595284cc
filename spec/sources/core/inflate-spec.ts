/**
 * Issue 10: the one gzip / zlib inflater of sources/core, shared by TFRecord and WebDataset.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { deflateSync, gunzipSync, gzipSync } from 'node:zlib';
import { InflateError, inflateChunks } from '../../../sources/core/inflate.js';
import { sharedWebDataset } from '../webdataset/tarFixtures.js';

/** `bytes` as chunks of `size`, recording how many were requested and whether the iteration was returned. */
function chunked(bytes: Uint8Array, size: number): AsyncIterable<Uint8Array> & { requested: number; returned: boolean } {
  const input = {
    requested: 0,
    returned: false,
    [Symbol.asyncIterator](): AsyncIterator<Uint8Array> {
      let at = 0;
      return {
        next: async () => {
          if (at >= bytes.length) return { done: true, value: undefined };
          input.requested++;
          const chunk = bytes.subarray(at, at + size);
          at += size;
          return { done: false, value: chunk };
        },
        return: async () => {
          input.returned = true;
          return { done: true, value: undefined };
        },
      };
    },
  };
  return input;
}

async function inflateAll(chunks: AsyncIterable<Uint8Array>, format: 'gzip' | 'zlib'): Promise<Buffer> {
  const parts: Uint8Array[] = [];
  for await (const part of inflateChunks(chunks, format)) parts.push(part);
  return Buffer.concat(parts);
}

describe('inflateChunks (issue 10: one inflater in sources/core)', () => {
  const sampleTgz = readFileSync(join(sharedWebDataset, 'sample.tgz'));

  it('inflates a real gzip shard, fed in chunks of any size, to exactly what gunzip gives', async () => {
    const expected = gunzipSync(sampleTgz);
    for (const size of [5, 4096, sampleTgz.length]) {
      assert.ok((await inflateAll(chunked(sampleTgz, size), 'gzip')).equals(expected), `chunks of ${size}`);
    }
  });

  it('inflates zlib streams too', async () => {
    const text = Buffer.from('zlib '.repeat(10_000));
    assert.ok((await inflateAll(chunked(deflateSync(text), 100), 'zlib')).equals(text));
  });

  it("a cut stream fails with a truncated InflateError, a damaged one with zlib's code", async () => {
    await assert.rejects(inflateAll(chunked(sampleTgz.subarray(0, sampleTgz.length - 100), 512), 'gzip'), (error: unknown) => {
      assert.ok(error instanceof InflateError);
      assert.equal(error.truncated, true);
      return true;
    });
    const damaged = Buffer.from(sampleTgz);
    damaged.fill(0xff, 1000, 1100);
    await assert.rejects(inflateAll(chunked(damaged, 512), 'gzip'), (error: unknown) => {
      assert.ok(error instanceof InflateError);
      assert.equal(error.truncated, false);
      assert.equal(error.zlibCode, 'Z_DATA_ERROR');
      assert.match(error.message, /^gzip: /);
      return true;
    });
  });

  it('issue 10: takes the next input chunk only once all output of the previous one was taken (a bomb never inflates ahead)', async () => {
    // 8 MiB of zeros deflate to about 8 KiB: the first input chunk alone inflates to megabytes.
    const inflated = 8 * 1024 * 1024;
    const compressed = gzipSync(Buffer.alloc(inflated));
    const half = Math.ceil(compressed.length / 2);
    const input = chunked(compressed, half);
    let taken = 0;
    const requestedAt: number[] = [];
    for await (const part of inflateChunks(input, 'gzip')) {
      while (requestedAt.length < input.requested) requestedAt.push(taken);
      taken += part.byteLength;
    }
    assert.equal(taken, inflated);
    assert.equal(input.requested, 2);
    assert.equal(requestedAt[0], 0);
    // The second chunk was requested only after the consumer took what the first one inflated to.
    const firstHalf = gunzipSync(compressed.subarray(0, half), { finishFlush: 2 /* Z_SYNC_FLUSH */ }).length;
    assert.ok(requestedAt[1]! >= firstHalf, `second chunk requested after ${requestedAt[1]} of ${firstHalf} bytes were taken`);
  });

  it('issue 10: an abort ends the iteration with the abort reason, never a silent end, and returns the input', async () => {
    const controller = new AbortController();
    const input = chunked(sampleTgz, 512);
    const iterator = inflateChunks(input, 'gzip', { signal: controller.signal });
    assert.equal((await iterator.next()).done, false);
    const reason = new Error('unsubscribed');
    controller.abort(reason);
    await assert.rejects(iterator.next(), (error: unknown) => error === reason);
    assert.equal(input.returned, true);
  });

  it('returning early returns the input (its handle is closed)', async () => {
    const input = chunked(sampleTgz, 512);
    for await (const _part of inflateChunks(input, 'gzip')) break;
    assert.equal(input.returned, true);
  });
});
