/**
 * Streaming gzip / zlib inflation of a chunk stream, pulled: the one inflater of every source
 * that reads compressed files (gzip TFRecord files, `.tgz` WebDataset shards).
 *
 * @module
 * @internal
 */
import { createGunzip, createInflate, type Gunzip, type Inflate } from 'node:zlib';

/** Default output chunk of the inflater (zlib's own default). */
export const DEFAULT_INFLATE_CHUNK = 16 * 1024;

/**
 * The compressed stream itself is damaged: it ends early (`truncated`) or fails its own checks.
 * Internal: each source turns it into its own typed error (a corrupt record, a truncated or
 * corrupt shard) naming the file, so it never reaches a user as is.
 * @internal
 */
export class InflateError extends Error {
  /** The compressed stream ended before its end marker. */
  readonly truncated: boolean;
  /** zlib's code (`Z_DATA_ERROR`, `Z_BUF_ERROR`, ...), when it gave one. */
  readonly zlibCode: string | undefined;

  constructor(format: string, cause: Error & { code?: unknown }) {
    super(`${format}: ${cause.message}`, { cause });
    this.zlibCode = typeof cause.code === 'string' ? cause.code : undefined;
    this.truncated = cause.code === 'Z_BUF_ERROR' || /unexpected end/i.test(cause.message);
  }
}

/** Options of {@link inflateChunks}. @internal */
export interface InflateOptions {
  /** Bytes per output chunk (default {@link DEFAULT_INFLATE_CHUNK}). */
  readonly chunkSize?: number;
  /**
   * Stops the inflater at once, even while it waits for input or output: the iteration then
   * throws the abort reason (never a silent end, which a reader would take for a cut stream) and
   * the input is returned.
   */
  readonly signal?: AbortSignal;
}

/**
 * Decompresses a stream of gzip or zlib chunks, reading the input only as fast as the output is
 * pulled. Returning early, an abort or an error stops the input iteration, which closes its handle.
 *
 * Memory bound: one input chunk at a time is handed to zlib, and only when all output read so far
 * was taken; zlib then pauses as soon as its readable side holds its high-water mark (the
 * stream default) plus one output chunk of `chunkSize`, so a highly compressed chunk (a "zip
 * bomb") never inflates ahead of the consumer.
 *
 * @throws InflateError from the iteration when the compressed stream is damaged or cut; the
 *   abort reason once `signal` aborts.
 * @internal
 */
export async function* inflateChunks(
  input: AsyncIterable<Uint8Array>,
  format: 'gzip' | 'zlib',
  options: InflateOptions = {},
): AsyncGenerator<Uint8Array> {
  const iterator = input[Symbol.asyncIterator]();
  const zlibOptions = { chunkSize: options.chunkSize ?? DEFAULT_INFLATE_CHUNK };
  const zlib: Gunzip | Inflate = format === 'gzip' ? createGunzip(zlibOptions) : createInflate(zlibOptions);
  const signal = options.signal;
  let failure: (Error & { code?: unknown }) | undefined;
  let ended = false;
  /** No write is in zlib's hands: the next input chunk may be fed once the output is drained. */
  let written = true;
  let wake: (() => void) | undefined;
  const notify = (): void => {
    const resolve = wake;
    wake = undefined;
    resolve?.();
  };
  const nextEvent = (): Promise<void> => new Promise<void>((resolve) => (wake = resolve));
  zlib.on('readable', notify);
  zlib.on('end', () => {
    ended = true;
    notify();
  });
  zlib.on('error', (error: Error) => {
    failure ??= error;
    notify();
  });
  const abort = (): void => {
    zlib.destroy();
    notify();
  };
  signal?.addEventListener('abort', abort, { once: true });
  let inputDone = false;
  try {
    for (;;) {
      signal?.throwIfAborted();
      // Paused mode: read() hands over what zlib holds, and zlib holds at most its high-water mark.
      const output = zlib.read() as Buffer | null;
      if (output !== null) {
        yield new Uint8Array(output.buffer, output.byteOffset, output.byteLength);
        continue;
      }
      if (failure !== undefined) throw new InflateError(format, failure);
      if (ended) return;
      if (!written || inputDone) {
        await nextEvent();
        continue;
      }
      const next = await iterator.next();
      if (next.done === true) {
        inputDone = true;
        zlib.end();
        continue;
      }
      written = false;
      zlib.write(next.value, () => {
        written = true;
        notify();
      });
    }
  } finally {
    signal?.removeEventListener('abort', abort);
    zlib.destroy();
    await iterator.return?.();
  }
}
