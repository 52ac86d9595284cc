import { open, stat, type FileHandle } from 'node:fs/promises';
import type { ByteSource } from './byteSource.js';

/** Bytes read per chunk by {@link fileByteSource}'s stream: the bound on what one read holds. */
const STREAM_CHUNK = 256 * 1024;

/**
 * A {@link ByteSource} over a local file.
 *
 * Each `read` and each `stream` opens its own handle and closes it when done, so nothing stays
 * open between reads and a `break` out of a stream closes the file at once.
 *
 * @example
 * ```ts
 * const bytes = fileByteSource('data/train-00000.tfrecord');
 * const header = await bytes.read(0, 12);
 * ```
 *
 * @param path - The file.
 * @param chunkSize - Bytes per streamed chunk (default 256 KiB).
 * @returns A ByteSource named by `path`.
 * @public
 */
export function fileByteSource(path: string, chunkSize = STREAM_CHUNK): ByteSource {
  return {
    name: path,
    size: async () => (await stat(path)).size,
    read: async (start, end, signal) => {
      signal?.throwIfAborted();
      const handle = await open(path, 'r');
      try {
        const size = (await handle.stat()).size;
        const last = Math.min(end, size);
        const bytes = new Uint8Array(Math.max(0, last - start));
        let filled = 0;
        while (filled < bytes.length) {
          const { bytesRead } = await handle.read(bytes, filled, bytes.length - filled, start + filled);
          if (bytesRead === 0) break;
          filled += bytesRead;
        }
        return filled === bytes.length ? bytes : bytes.subarray(0, filled);
      } finally {
        await handle.close();
      }
    },
    stream: (start = 0, signal) => streamFile(path, start, chunkSize, signal),
  };
}

async function* streamFile(
  path: string,
  start: number,
  chunkSize: number,
  signal: AbortSignal | undefined,
): AsyncGenerator<Uint8Array> {
  signal?.throwIfAborted();
  const handle: FileHandle = await open(path, 'r');
  try {
    let position = start;
    for (;;) {
      signal?.throwIfAborted();
      // A fresh array per chunk: consumers may keep or transfer it.
      const chunk = new Uint8Array(chunkSize);
      const { bytesRead } = await handle.read(chunk, 0, chunkSize, position);
      if (bytesRead === 0) return;
      position += bytesRead;
      yield bytesRead === chunkSize ? chunk : chunk.subarray(0, bytesRead);
    }
  } finally {
    await handle.close();
  }
}
