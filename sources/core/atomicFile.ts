/**
 * A file written whole or not at all: the bytes go to `.<name>.<random>.tmp` beside it, renamed
 * into place on commit and removed on discard, so the file's path never holds part of what was
 * written. What `toWebDataset`'s shards and `toTFRecord` write through.
 *
 * @module
 */
import { randomUUID } from 'node:crypto';
import { mkdir, open, rename, unlink, type FileHandle } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

/** One file being written. */
export interface AtomicFile {
  /** Append bytes, in order; resolves once they are written (a short write is written again). */
  write(chunks: readonly Uint8Array[]): Promise<void>;
  /** Close the temporary file and rename it to the path. */
  commit(): Promise<void>;
  /** Close and remove the temporary file. Never rejects. */
  discard(): Promise<void>;
}

/** Options of {@link atomicFile}. */
export interface AtomicFileOptions {
  /** Make the file's directory when missing (default false: a missing directory fails the open). */
  readonly createDirectory?: boolean;
  /**
   * What a failure of `write` or `commit` becomes, given what was being done (`creating <temp>`,
   * `writing <temp>`, `closing and renaming <temp>`) and the bytes written before it; default:
   * the file system's error as it is.
   */
  readonly failure?: (what: string, offset: number, error: unknown) => unknown;
}

const noop = (): void => undefined;

/**
 * Start writing `path` atomically: the temporary file is opened now (a failure shows at the
 * first `write` or the `commit`).
 */
export function atomicFile(path: string, options: AtomicFileOptions = {}): AtomicFile {
  const temp = join(dirname(path), `.${basename(path)}.${randomUUID()}.tmp`);
  const failure = options.failure ?? ((_what: string, _offset: number, error: unknown) => error);
  let offset = 0;
  let handle: FileHandle | undefined;
  const directory = options.createDirectory === true ? mkdir(dirname(path), { recursive: true }) : Promise.resolve();
  const opened = directory.then(() => open(temp, 'wx')).then((file) => (handle = file));
  // Awaited by the first write; kept from being unhandled until then.
  opened.catch(noop);
  return {
    write: async (chunks) => {
      let file: FileHandle;
      try {
        file = await opened;
      } catch (error) {
        throw failure(`creating ${temp}`, offset, error);
      }
      try {
        // One writev for the batch; the rest of a short write goes again, chunk by chunk.
        const total = chunks.reduce((sum, chunk) => sum + chunk.byteLength, 0);
        const { bytesWritten } = await file.writev(chunks as Uint8Array[]);
        let skip = bytesWritten;
        offset += bytesWritten;
        if (bytesWritten < total) {
          for (const chunk of chunks) {
            if (skip >= chunk.byteLength) {
              skip -= chunk.byteLength;
              continue;
            }
            for (let done = skip; done < chunk.byteLength;) {
              const written = (await file.write(chunk, done, chunk.byteLength - done)).bytesWritten;
              done += written;
              offset += written;
            }
            skip = 0;
          }
        }
      } catch (error) {
        throw failure(`writing ${temp}`, offset, error);
      }
    },
    commit: async () => {
      try {
        await (await opened).close();
        handle = undefined;
        await rename(temp, path);
      } catch (error) {
        throw failure(`closing and renaming ${temp}`, offset, error);
      }
    },
    discard: async () => {
      await opened.catch(noop);
      await handle?.close().catch(noop);
      handle = undefined;
      await unlink(temp).catch(noop);
    },
  };
}
