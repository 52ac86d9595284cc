// Helpers for the WebDataset specs: paths of the shared test data, tar files crafted with
// tar-stream's pack (the independent writer), and a ByteSource that counts what was read.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import tar from 'tar-stream';
import type { ByteSource } from '../../../sources/core/byteSource.js';

/** The repository root (specs run from dist/spec/sources/webdataset/). */
export const repoRoot = fileURLToPath(new URL('../../../../', import.meta.url));
/** `../shared/data/webdataset/` beside the repository. */
export const sharedWebDataset = join(repoRoot, '..', 'shared', 'data', 'webdataset');

/** One member to pack: a name and its bytes (a string is UTF-8), or a non-file type. */
export interface Member {
  readonly name: string;
  readonly data?: string | Uint8Array;
  readonly type?: 'file' | 'directory' | 'symlink';
  readonly linkname?: string;
}

/** A tar archive of `members`, in order, written by tar-stream's `pack()`. */
export async function packTar(members: readonly Member[]): Promise<Buffer> {
  const pack = tar.pack();
  const parts: Buffer[] = [];
  pack.on('data', (chunk: unknown) => parts.push(chunk as Buffer));
  const ended = new Promise<void>((resolve, reject) => {
    pack.on('end', () => resolve());
    pack.on('error', reject);
  });
  for (const member of members) {
    const type = member.type ?? 'file';
    if (type === 'file') {
      const data = typeof member.data === 'string' ? Buffer.from(member.data) : (member.data ?? new Uint8Array(0));
      pack.entry({ name: member.name, size: data.byteLength }, data);
    } else {
      pack.entry({ name: member.name, type, linkname: member.linkname });
    }
  }
  pack.finalize();
  await ended;
  return Buffer.concat(parts);
}

/** A temporary directory for crafted shards, removed by `cleanup`. */
export function scratchDir(): { readonly dir: string; write(name: string, bytes: Uint8Array): string; cleanup(): void } {
  const dir = mkdtempSync(join(tmpdir(), 'rxfeed-wds-'));
  return {
    dir,
    write(name, bytes) {
      const path = join(dir, name);
      writeFileSync(path, bytes);
      return path;
    },
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  };
}

/** gzip, for `.tgz` fixtures. */
export const gzip = (bytes: Uint8Array): Buffer => gzipSync(bytes);

/** Wraps a ByteSource and counts the chunks and bytes its streams have yielded. */
export function countingSource(inner: ByteSource): ByteSource & { readonly chunks: number; readonly bytes: number } {
  let chunks = 0;
  let bytes = 0;
  return {
    name: inner.name,
    size: (signal) => inner.size(signal),
    read: (start, end, signal) => inner.read(start, end, signal),
    async *stream(start, signal) {
      for await (const chunk of inner.stream(start, signal)) {
        chunks++;
        bytes += chunk.byteLength;
        yield chunk;
      }
    },
    get chunks() {
      return chunks;
    },
    get bytes() {
      return bytes;
    },
  };
}

/** The text of a field. */
export const text = (bytes: unknown): string => new TextDecoder().decode(bytes as Uint8Array);
