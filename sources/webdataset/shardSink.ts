/**
 * Where `toWebDataset` writes one shard: a temporary file renamed into place, an object store's
 * streamed upload, or one put of the buffered shard. Each either makes the whole shard visible
 * (`commit`) or leaves nothing behind (`discard`).
 *
 * @module
 */
import { excerpt } from '../../src/excerpt.js';
import { atomicFile } from '../core/atomicFile.js';
import type { ObjectStore } from '../core/store.js';
import { ShardWriteError } from './errors.js';

/** One shard being written. */
export interface ShardSink {
  /** Append bytes, in order; resolves once the sink has taken them (written, or handed to the upload). */
  write(chunks: readonly Uint8Array[]): Promise<void>;
  /** Make the shard visible under its final name, whole. */
  commit(): Promise<void>;
  /** Remove whatever was written, stopping an upload in flight. Never rejects. */
  discard(): Promise<void>;
}

const noop = (): void => undefined;

function fileError(path: string, offset: number, what: string, error: unknown): ShardWriteError {
  const code = (error as { code?: unknown } | null)?.code;
  const reason = error instanceof Error ? error.message : String(error);
  return new ShardWriteError(path, offset, `${what} failed (${typeof code === 'string' ? code : 'error'}: ${excerpt(reason)})`, {
    cause: error,
  });
}

/**
 * A shard file written to `.<name>.<random>.tmp` beside `path` (its directory is made if
 * missing) and renamed to `path` on commit, so `path` never holds part of a shard.
 */
export function fileShardSink(path: string): ShardSink {
  return atomicFile(path, {
    createDirectory: true,
    failure: (what, offset, error) => fileError(path, offset, what, error),
  });
}

/**
 * A shard streamed to `store.upload` (S3 multipart: visible only once complete), each batch
 * handed over when the upload asks for it: one batch waits here, one part in the upload.
 */
export function uploadShardSink(upload: NonNullable<ObjectStore['upload']>, key: string, partSize: number | undefined): ShardSink {
  const controller = new AbortController();
  let slot: readonly Uint8Array[] | undefined;
  let ended = false;
  let stopped = false; // the upload stopped reading: finished, failed or aborted
  let wakeReader = noop;
  let wakeWriter = noop;
  const wait = (set: (wake: () => void) => void): Promise<void> => new Promise((resolve) => set(resolve));

  async function* body(): AsyncGenerator<Uint8Array> {
    try {
      for (;;) {
        while (slot === undefined && !ended && !controller.signal.aborted) await wait((wake) => (wakeReader = wake));
        controller.signal.throwIfAborted();
        if (slot === undefined) return;
        const chunks = slot;
        slot = undefined;
        wakeWriter();
        yield* chunks;
      }
    } finally {
      stopped = true;
      wakeWriter();
    }
  }

  const uploading = upload(key, body(), partSize === undefined ? { signal: controller.signal } : { partSize, signal: controller.signal });
  uploading.catch(noop);
  // Why the upload stopped reading: its own error, or (it cannot finish early) a broken contract.
  const reason = (): Promise<unknown> =>
    uploading.then(
      () => new ShardWriteError(key, 0, 'the upload ended before the shard did'),
      (error: unknown) => error,
    );

  return {
    write: async (chunks) => {
      while (slot !== undefined && !stopped) await wait((wake) => (wakeWriter = wake));
      if (stopped) throw await reason();
      slot = chunks;
      wakeReader();
    },
    commit: async () => {
      ended = true;
      wakeReader();
      await uploading;
    },
    discard: async () => {
      controller.abort(new ShardWriteError(key, 0, 'the shard was abandoned'));
      wakeReader();
      await uploading.catch(noop);
    },
  };
}

/**
 * A shard held in memory and written with one `store.put` on commit, for stores without a
 * streamed upload: holds the whole shard (at most `maxSize` bytes, or one sample larger than that).
 */
export function bufferedShardSink(store: ObjectStore, key: string): ShardSink {
  let chunks: Uint8Array[] = [];
  let length = 0;
  const controller = new AbortController();
  return {
    write: (batch) => {
      for (const chunk of batch) {
        chunks.push(chunk);
        length += chunk.byteLength;
      }
      return Promise.resolve();
    },
    commit: async () => {
      const whole = Buffer.concat(chunks, length);
      chunks = [];
      await store.put(key, whole, controller.signal);
    },
    discard: () => {
      controller.abort(new ShardWriteError(key, length, 'the shard was abandoned'));
      chunks = [];
      return Promise.resolve();
    },
  };
}
