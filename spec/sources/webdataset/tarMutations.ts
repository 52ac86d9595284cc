// A quick mutation loop over tar shards (issue 9.13): real shards and crafted ones, their bytes
// flipped, overwritten, inserted, deleted and cut, headers edited with a valid checksum so the
// parser reads past them, plain and gzip-compressed. Every case must end normally or with an
// RxfeedError that has a code, within a deadline. The spec runs a fixed seed and a small budget;
// `RXFEED_TAR_MUTATIONS=<cases>` runs a longer campaign from the same spec.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { RxfeedError } from '../../../src/errors.js';
import type { ByteSource } from '../../../sources/core/byteSource.js';
import { fromWebDataset } from '../../../sources/webdataset/index.js';
import { TarParser } from '../../../sources/webdataset/tarReader.js';
import { packTar, sharedWebDataset } from './tarFixtures.js';

/** A small deterministic PRNG (mulberry32), so a failing case can be replayed from its seed. */
export function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}

/** A header block with a valid checksum. */
function header(name: string, size: number, typeflag = '0', sizeField?: Uint8Array): Uint8Array {
  const block = new Uint8Array(512);
  const encoder = new TextEncoder();
  block.set(encoder.encode(name).subarray(0, 100), 0);
  block.set(encoder.encode('0000644\0'), 100);
  block.set(sizeField ?? encoder.encode(`${size.toString(8).padStart(11, '0')}\0`), 124);
  block[156] = typeflag.charCodeAt(0);
  block.set(encoder.encode('ustar\x0000'), 257);
  fixChecksum(block, 0);
  return block;
}

/** Write the checksum of the header block at `at`, as tar does. */
export function fixChecksum(bytes: Uint8Array, at: number): void {
  bytes.fill(0x20, at + 148, at + 156);
  let sum = 0;
  for (let index = at; index < at + 512; index++) sum += bytes[index]!;
  bytes.set(new TextEncoder().encode(`${sum.toString(8).padStart(6, '0')}\0 `), at + 148);
}

const concat = (...parts: Uint8Array[]): Uint8Array => new Uint8Array(Buffer.concat(parts));
const padded = (data: Uint8Array): Uint8Array => {
  const out = new Uint8Array(Math.ceil(data.byteLength / 512) * 512);
  out.set(data);
  return out;
};
const paxRecord = (key: string, value: string): string => {
  const body = ` ${key}=${value}\n`;
  let length = body.length + 1;
  while (String(length).length + body.length !== length) length = String(length).length + body.length;
  return `${length}${body}`;
};

/** Tar archives to mutate: the shared WebDataset shards and crafted ones with pax, GNU and base-256 headers. */
export async function seedArchives(): Promise<Uint8Array[]> {
  const encoder = new TextEncoder();
  const testgz = readFileSync(join(sharedWebDataset, 'testgz.tar'));
  // The first members of the 2.6 MB shard, closed with end blocks: a realistic shard, small.
  const cut = 40 * 512;
  const pax = encoder.encode(paxRecord('path', 'dir/sample.txt') + paxRecord('size', '5') + paxRecord('mtime', '1.5'));
  const longName = encoder.encode(`${'n'.repeat(200)}.bin\0`);
  const base256 = new Uint8Array(12);
  base256[0] = 0x80;
  base256[11] = 3;
  const crafted = concat(
    header('PaxHeaders/x', pax.byteLength, 'x'),
    padded(pax),
    header('short', 0),
    padded(encoder.encode('hello')),
    header('././@LongLink', longName.byteLength, 'L'),
    padded(longName),
    header('n.bin', 2),
    padded(encoder.encode('ab')),
    header('b256.cls', 0, '0', base256),
    padded(encoder.encode('xyz')),
    header('g', 6, 'g'),
    padded(encoder.encode('9 a=b\n')),
    header('d/', 0, '5'),
    header('k.txt', 1),
    padded(encoder.encode('k')),
    new Uint8Array(1024),
  );
  return [
    new Uint8Array(readFileSync(join(sharedWebDataset, 'compressed.tar'))),
    new Uint8Array(readFileSync(join(sharedWebDataset, 'sample.tgz'))),
    concat(testgz.subarray(0, cut), new Uint8Array(1024)),
    crafted,
    await packTar([
      { name: `long/${'p'.repeat(120)}/0001.png`, data: new Uint8Array(700).fill(7) },
      { name: 'long/0001.cls', data: '1' },
      { name: 'ärger/0002.txt', data: 'unicode name' },
      { name: 'dir', type: 'directory' },
      { name: 'link.txt', type: 'symlink', linkname: 'k.txt' },
    ]),
  ];
}

/** One mutation of `input`, chosen by `next`. */
export function mutate(input: Uint8Array, next: () => number): Uint8Array {
  const bytes = new Uint8Array(input);
  const int = (below: number): number => Math.floor(next() * below);
  const at = (): number => int(Math.max(1, bytes.byteLength));
  const headers: number[] = [];
  for (let offset = 0; offset + 512 <= bytes.byteLength; offset += 512) {
    if (bytes[offset + 257] === 0x75 && bytes[offset + 258] === 0x73) headers.push(offset); // 'us'tar
  }
  switch (int(9)) {
    case 0: // flip bits
      for (let n = 1 + int(8); n > 0; n--) bytes[at()] ^= 1 << int(8);
      return bytes;
    case 1: // truncate
      return bytes.subarray(0, at());
    case 2: // insert random bytes
    case 3: {
      const insert = new Uint8Array(1 + int(600)).map(() => int(256));
      const where = at();
      return concat(bytes.subarray(0, where), insert, bytes.subarray(where));
    }
    case 4: {
      // delete a range
      const where = at();
      return concat(bytes.subarray(0, where), bytes.subarray(where + 1 + int(1024)));
    }
    default: {
      // edit a header field and keep its checksum valid, so the parser reads on
      if (headers.length === 0) return bytes;
      const offset = headers[int(headers.length)]!;
      const fields = [
        [0, 100], // name
        [124, 12], // size
        [156, 1], // typeflag
        [257, 8], // magic + version
        [345, 155], // prefix
      ] as const;
      const [start, length] = fields[int(fields.length)]!;
      const edits: (() => void)[] = [
        () => bytes.fill(int(256), offset + start + int(length), offset + start + length),
        () => (bytes[offset + start + int(length)] = int(256)),
        () =>
          bytes.set(
            new Uint8Array(length).map(() => [0x30, 0x37, 0x20, 0x00, 0x80, 0xff, 0x2e, 0x2f][int(8)]!),
            offset + start,
          ),
        () => bytes.set(new TextEncoder().encode(['x', 'L', 'K', 'g', '5', '1', '2', '7', '\0'][int(9)]!), offset + 156),
        () => {
          // a base-256 size of any magnitude, up to 2^53, or a raw field with the sign bit
          const field = new Uint8Array(12);
          let size = BigInt(Math.floor(next() * 2 ** int(54)));
          for (let index = 11; index > 0; index--, size >>= 8n) field[index] = Number(size & 0xffn);
          field[0] = next() < 0.8 ? 0x80 : 0x80 | int(0x80);
          bytes.set(field, offset + 124);
        },
        () => {
          // an octal size of any number of digits
          const size = Math.floor(next() * 8 ** int(12));
          bytes.set(new TextEncoder().encode(`${size.toString(8).padStart(11, '0').slice(-11)}\0`), offset + 124);
        },
      ];
      edits[int(edits.length)]!();
      fixChecksum(bytes, offset);
      // and sometimes a pax record body mutation after it
      const where = offset + 512 + int(64);
      if (next() < 0.3 && where < bytes.byteLength) {
        const text = ['3000000000', '-1', 'NaN', '1e9', '99999999999999999999', '', ' ', '\n', '0 =', '5 size\n'][int(10)]!;
        bytes.set(new TextEncoder().encode(text).subarray(0, bytes.byteLength - where), where);
      }
      return bytes;
    }
  }
}

/** A ByteSource over bytes in memory, streamed in chunks of `chunk` bytes. */
export function memorySource(name: string, bytes: Uint8Array, chunk: number): ByteSource {
  return {
    name,
    size: () => Promise.resolve(bytes.byteLength),
    read: (start, end) => Promise.resolve(bytes.slice(start, Math.min(end, bytes.byteLength))),
    async *stream(start = 0) {
      for (let offset = start; offset < bytes.byteLength; offset += chunk) yield bytes.slice(offset, offset + chunk);
    },
  };
}

/** How one case ended. */
export type Outcome =
  { readonly kind: 'ok' | 'typed'; readonly code?: string } | { readonly kind: 'untyped' | 'hang'; readonly error: unknown };

const typed = (error: unknown): Outcome =>
  error instanceof RxfeedError && /^RXFEED_ERR_[A-Z_]+$/.test(error.code)
    ? { kind: 'typed', code: error.code }
    : { kind: 'untyped', error };

/** Drive TarParser directly, fed `chunk`-byte chunks, reading or skipping members by `next`. */
export function parseCase(bytes: Uint8Array, chunk: number, next: () => number): Outcome {
  const parser = new TarParser('case.tar');
  let offset = 0;
  // Each answer of `undefined` is followed by a push or an end: more steps than that is a loop.
  let steps = 0;
  const limit = 4 * (bytes.byteLength / chunk + 1) + 100_000;
  const feed = (): void => {
    if (++steps > limit) throw new Error('no progress');
    if (offset < bytes.byteLength) {
      parser.push(bytes.subarray(offset, offset + chunk));
      offset += chunk;
    } else parser.end();
  };
  try {
    for (;;) {
      if (++steps > limit) return { kind: 'hang', error: 'TarParser made no progress' };
      let header = parser.header();
      while (header === undefined) {
        feed();
        header = parser.header();
      }
      if (header === null) return { kind: 'ok' };
      if (next() < 0.8) {
        while (parser.data() === undefined) feed();
      } else {
        while (!parser.skip()) feed();
      }
    }
  } catch (error) {
    if (error instanceof Error && error.message === 'no progress') return { kind: 'hang', error };
    return typed(error);
  }
}

/** Read `bytes` as a shard through fromWebDataset, with a deadline. */
export function readCase(bytes: Uint8Array, chunk: number, deadlineMs: number): Promise<Outcome> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      subscription.unsubscribe();
      resolve({ kind: 'hang', error: `no end after ${deadlineMs} ms` });
    }, deadlineMs);
    const subscription = fromWebDataset([memorySource('case.tar', bytes, chunk)], { maxMemberSize: 2 ** 24 }).subscribe({
      error: (error: unknown) => {
        clearTimeout(timer);
        resolve(typed(error));
      },
      complete: () => {
        clearTimeout(timer);
        resolve({ kind: 'ok' });
      },
    });
  });
}

/** Run `cases` mutations from `seed`; returns the outcomes counted by code, and every bad case. */
export async function campaign(
  seed: number,
  cases: number,
): Promise<{ counts: Map<string, number>; bad: { seed: number; index: number; via: string; outcome: Outcome }[] }> {
  const seeds = await seedArchives();
  const counts = new Map<string, number>();
  const bad: { seed: number; index: number; via: string; outcome: Outcome }[] = [];
  const count = (outcome: Outcome): void => {
    const key = outcome.kind === 'typed' ? outcome.code! : outcome.kind;
    counts.set(key, (counts.get(key) ?? 0) + 1);
  };
  for (let index = 0; index < cases; index++) {
    const next = random(seed * 1_000_003 + index);
    const base = seeds[Math.floor(next() * seeds.length)]!;
    let bytes = mutate(base, next);
    if (next() < 0.3) bytes = mutate(bytes, next);
    const compress = next() < 0.15;
    if (compress && (bytes[0] !== 0x1f || bytes[1] !== 0x8b)) bytes = new Uint8Array(gzipSync(bytes));
    const chunk = [13, 512, 700, 4096, 65_536][Math.floor(next() * 5)]!;
    const parsed = bytes[0] === 0x1f && bytes[1] === 0x8b ? undefined : parseCase(bytes, chunk, next);
    if (parsed !== undefined) {
      count(parsed);
      if (parsed.kind === 'untyped' || parsed.kind === 'hang') bad.push({ seed, index, via: 'TarParser', outcome: parsed });
    }
    const read = await readCase(bytes, chunk, 5000);
    count(read);
    if (read.kind === 'untyped' || read.kind === 'hang') bad.push({ seed, index, via: 'fromWebDataset', outcome: read });
  }
  return { counts, bad };
}
