/**
 * Issue 12: ByteWindow over a stream that reuses its buffers (as `fileByteSource`'s internal
 * stream does): a chunk is valid only until the next one is asked for, so the head of a frame
 * that straddles chunks must be copied out before that.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ByteWindow } from '../../../sources/core/byteWindow.js';

const bytes = Uint8Array.from({ length: 20_000 }, (_, index) => (index * 13 + 7) & 0xff);

/** `bytes` in chunks of `size` over two buffers used in turn; asking for a chunk scribbles over the one handed over before. */
async function* reusedChunks(size: number): AsyncGenerator<Uint8Array> {
  const buffers = [new Uint8Array(size), new Uint8Array(size)];
  let handedOver: Uint8Array | undefined;
  for (let at = 0, turn = 0; at < bytes.length; at += size, turn++) {
    handedOver?.fill(0xee);
    const chunk = buffers[turn % 2]!.subarray(0, Math.min(size, bytes.length - at));
    chunk.set(bytes.subarray(at, at + chunk.length));
    handedOver = chunk;
    yield chunk;
  }
}

describe('issue 12: ByteWindow over a stream of reused buffers', () => {
  it('issue 12: frames straddling one or many chunks come out intact', async () => {
    const frames = [3, 700, 5, 1500, 1, 4000, 64, 65, 2, 9000];
    for (const size of [64, 1000, 4096]) {
      const window = new ByteWindow(reusedChunks(size), 0);
      let offset = 0;
      for (const length of frames) {
        assert.equal(await window.fill(length), true);
        const frame = window.buffer.slice(window.position, window.position + length);
        assert.deepEqual(frame, bytes.subarray(offset, offset + length), `chunks of ${size}: frame of ${length} at ${offset}`);
        window.consume(length);
        offset += length;
      }
      assert.equal(window.offset, offset);
      await window.close();
    }
  });
});
