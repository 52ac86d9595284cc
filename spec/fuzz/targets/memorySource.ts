import type { ByteSource } from '../../../sources/core/byteSource.js';

/**
 * A ByteSource over bytes in memory, streamed in chunks of `chunk` bytes (views, no copies), so
 * the reader sees the same split headers and records a file or socket would give it.
 */
export function memorySource(name: string, bytes: Uint8Array, chunk: number): ByteSource {
  return {
    name,
    size: async () => bytes.byteLength,
    read: async (start, end) => bytes.slice(start, Math.min(end, bytes.byteLength)),
    stream: async function* (start = 0, signal) {
      for (let at = start; at < bytes.byteLength; at += chunk) {
        signal?.throwIfAborted();
        yield bytes.subarray(at, at + chunk);
      }
    },
  };
}

/**
 * A break of a target's own invariant (a sample with a foreign prototype, a range outside its
 * split): the worker reports it as its own kind of failure.
 */
export class FuzzInvariantError extends Error {
  override readonly name = 'FuzzInvariantError';
}
