/**
 * WebDataset shard throughput: `fromWebDataset` against plain code reading the same bytes.
 *
 * Generates 8 tar shards of 20,000 samples in all (a 12 KiB `.bin` and a `.cls` each) under
 * `.tmp/bench/wds/`, then compares, with the method of `bench/rounds.ts`:
 * - local files: a hand-written tar loop (read into one buffer, parse the 512-byte headers, copy
 *   each member out, group members into samples; no Observable) as the reference, the raw
 *   `ByteSource.stream`, the `TarParser` alone, and `fromWebDataset` (subscribed, and through
 *   `toLoader`). Goal: `fromWebDataset` >= 0.8x of the hand-written loop.
 * - over loopback HTTP from nginx, when `RXFEED_HTTP_ENDPOINT` is set (the shards are linked into
 *   the folder the running nginx serves as `/www/`, read from its configuration, and removed
 *   after): a plain undici GET of each shard, the body counted and dropped, as the reference.
 * - from S3 (Ceph RGW), when `RXFEED_S3_ENDPOINT` and its keys are set (a bucket of its own,
 *   deleted with its objects after, also on failure): a plain GET of each presigned URL as the
 *   reference. Goal for both: `fromWebDataset` >= 0.85x of the plain GET.
 * With `--chunks`, `fromWebDataset` with 256 KiB, 1 MiB and 4 MiB chunks over local files
 * (`chunkSize`), and read ahead over nginx and RGW (`readAheadBytes`).
 *
 * Run: `npx tsc -p . && node scripts/bench.js webdataset` (or `node dist/bench/webdataset.js
 * [--rounds N] [--chunks]` with the servers' `.tmp/*.env` loaded).
 *
 * @module
 */
import { open, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { count, lastValueFrom, type Observable } from 'rxjs';
import { request } from 'undici';
import { benchS3Store, benchShards, publishToNginx, publishToS3, removeFromS3, section, unpublishFromNginx } from './benchShards.js';
import { compare, method, type Contender } from './rounds.js';
import { toLoader } from '../src/loader.js';
import type { ByteSource } from '../sources/core/byteSource.js';
import { fileByteSource } from '../sources/core/fileByteSource.js';
import { httpStore } from '../sources/objectstore/index.js';
import { fromWebDataset, type WebDatasetSample } from '../sources/webdataset/index.js';
import { TarParser } from '../sources/webdataset/tarReader.js';

const SHARDS = 8;
const SAMPLES = 20_000;
const root = process.cwd();
const dir = join(root, '.tmp', 'bench', 'wds');
/** The read buffer of the hand-written loop. */
const HAND_CHUNK = 1024 * 1024;
const ascii = new TextDecoder('latin1');
const chunkSweep = process.argv.includes('--chunks');
const SWEEP = [256 * 1024, 1024 * 1024, 4 * 1024 * 1024];
const kib = (bytes: number): string => `${bytes / 1024} KiB`;

/** Every byte of the shards through `stream`, counted; answers the samples they hold (checked by bytes). */
async function rawRead(sources: readonly ByteSource[], total: number): Promise<number> {
  let bytes = 0;
  for (const source of sources) {
    for await (const chunk of source.stream(0)) bytes += chunk.byteLength;
  }
  if (bytes !== total) throw new Error(`read ${bytes} bytes, expected ${total}`);
  return SAMPLES;
}

/** A plain GET of each URL, its body counted and dropped: what the network and server give. */
async function plainGet(urls: readonly string[], total: number): Promise<number> {
  let bytes = 0;
  for (const url of urls) {
    const response = await request(url);
    if (response.statusCode !== 200) throw new Error(`GET ${url}: HTTP ${response.statusCode}`);
    for await (const chunk of response.body) bytes += (chunk as Buffer).byteLength;
  }
  if (bytes !== total) throw new Error(`read ${bytes} bytes, expected ${total}`);
  return SAMPLES;
}

/**
 * The hand-written loop: one 1 MiB buffer read with `FileHandle.read`, headers parsed in place
 * (name, octal size), each member copied into an array of its own, members grouped by key into
 * plain objects. No checksum, no pax or long names, no checks: the least a tar reader can do.
 */
async function handParse(paths: readonly string[]): Promise<number> {
  let samples = 0;
  const chunk = new Uint8Array(HAND_CHUNK);
  for (const path of paths) {
    const handle = await open(path, 'r');
    let length = 0;
    let at = 0;
    let position = 0;
    /** Keep the unparsed tail, read more after it; false at the end of the file. */
    const refill = async (): Promise<boolean> => {
      chunk.copyWithin(0, at, length);
      length -= at;
      at = 0;
      const { bytesRead } = await handle.read(chunk, length, chunk.length - length, position);
      position += bytesRead;
      length += bytesRead;
      return bytesRead > 0;
    };
    let key: string | undefined;
    let sample: Record<string, Uint8Array | string> | undefined;
    try {
      for (;;) {
        let more = true;
        while (length - at < 512 && more) more = await refill();
        if (length - at < 512 || chunk[at] === 0) break;
        let nameEnd = at;
        while (nameEnd < at + 100 && chunk[nameEnd] !== 0) nameEnd++;
        const name = ascii.decode(chunk.subarray(at, nameEnd));
        let size = 0;
        for (let index = at + 124; index < at + 136 && chunk[index]! >= 0x30; index++) size = size * 8 + chunk[index]! - 0x30;
        at += 512;
        const data = new Uint8Array(size);
        let filled = 0;
        let skip = size + ((512 - (size % 512)) % 512);
        while (skip > 0) {
          if (at === length && !(await refill())) throw new Error(`${path}: truncated`);
          const take = Math.min(skip, length - at);
          const copy = Math.min(take, size - filled);
          if (copy > 0) data.set(chunk.subarray(at, at + copy), filled);
          filled += copy;
          at += take;
          skip -= take;
        }
        const dot = name.indexOf('.');
        const memberKey = name.slice(0, dot);
        if (memberKey !== key) {
          if (sample !== undefined) samples++;
          key = memberKey;
          sample = { __key__: memberKey, __url__: path };
        }
        sample![name.slice(dot + 1)] = data;
      }
    } finally {
      await handle.close();
    }
    if (sample !== undefined) samples++;
  }
  return samples;
}

/** rxfeed's TarParser alone over the same stream, each member's data copied out (no grouping, no Observable). */
async function tarParserOnly(sources: readonly ByteSource[]): Promise<number> {
  let members = 0;
  for (const source of sources) {
    const parser = new TarParser(source.name);
    const chunks = source.stream(0)[Symbol.asyncIterator]();
    const feed = async (): Promise<void> => {
      const next = await chunks.next();
      if (next.done === true) parser.end();
      else parser.push(next.value);
    };
    for (;;) {
      let header = parser.header();
      while (header === undefined) {
        await feed();
        header = parser.header();
      }
      if (header === null) break;
      while (parser.data() === undefined) await feed();
      members++;
    }
    await chunks.return?.();
  }
  return members / 2;
}

function viaSubscribe(source: Observable<WebDatasetSample>): Promise<number> {
  return lastValueFrom(source.pipe(count()));
}

async function viaLoader(source: Observable<WebDatasetSample>): Promise<number> {
  let samples = 0;
  for await (const sample of toLoader(source, { prefetch: 64 })) {
    if (sample.__key__ !== '') samples++;
  }
  return samples;
}

async function main(): Promise<void> {
  const paths = await benchShards(dir, 'bench', SHARDS, SAMPLES);
  let total = 0;
  for (const path of paths) total += (await stat(path)).size;
  console.log(`${SHARDS} shards, ${SAMPLES} samples (12 KiB .bin + .cls), ${(total / 1e6).toFixed(1)} MB; page cache warm`);
  method();

  const files = paths.map((path) => fileByteSource(path));
  await compare(
    'Local files: fromWebDataset vs a hand-written tar loop (goal >= 0.8)',
    [
      { name: 'hand-written tar loop', run: () => handParse(paths) },
      { name: 'raw ByteSource.stream (no parse)', run: () => rawRead(files, total) },
      { name: 'TarParser alone', run: () => tarParserOnly(files) },
      { name: 'fromWebDataset (subscribe)', run: () => viaSubscribe(fromWebDataset(paths)) },
      { name: 'fromWebDataset (toLoader)', run: () => viaLoader(fromWebDataset(paths)) },
    ],
    SAMPLES,
    total,
  );

  if (chunkSweep) {
    await compare(
      'Local files: fromWebDataset by chunkSize (ratios to 1 MiB)',
      [SWEEP[1]!, SWEEP[0]!, SWEEP[2]!].map((chunkSize): Contender => ({
        name: `chunkSize ${kib(chunkSize)}`,
        run: () => viaSubscribe(fromWebDataset(paths, { chunkSize })),
      })),
      SAMPLES,
      total,
    );
  }

  const endpoint = process.env.RXFEED_HTTP_ENDPOINT;
  if (endpoint !== undefined && endpoint !== '') {
    const folder = `wds-bench-${process.pid}`;
    await section('nginx', async () => {
      try {
        const names = await publishToNginx(root, folder, paths);
        const store = httpStore({ baseUrl: `${endpoint}/www/` });
        const urls = names.map((name) => `${endpoint}/www/${name}`);
        await compare(
          'nginx (loopback HTTP): fromWebDataset vs a plain GET of the same bytes (goal >= 0.85)',
          [
            { name: 'plain undici GET', run: () => plainGet(urls, total) },
            {
              name: 'raw ByteSource.stream (no parse)',
              run: () =>
                rawRead(
                  names.map((name) => store.open(name)),
                  total,
                ),
            },
            { name: 'fromWebDataset (subscribe)', run: () => viaSubscribe(fromWebDataset(urls)) },
          ],
          SAMPLES,
          total,
        );
        if (chunkSweep) {
          await compare(
            'nginx: fromWebDataset by readAheadBytes (ratios to 1 MiB)',
            [SWEEP[1]!, SWEEP[0]!, SWEEP[2]!].map((readAheadBytes): Contender => ({
              name: `readAheadBytes ${kib(readAheadBytes)}`,
              run: () => viaSubscribe(fromWebDataset(urls, { http: { readAheadBytes } })),
            })),
            SAMPLES,
            total,
          );
        }
      } finally {
        await unpublishFromNginx(root, folder);
      }
    });
  } else {
    console.log('nginx: skipped (RXFEED_HTTP_ENDPOINT not set; run scripts/start-nginx.sh)');
  }

  const bucket = `rxfeed-bench-wds-${process.pid}`;
  const store = benchS3Store(bucket);
  if (store !== undefined) {
    await section('s3', async () => {
      let keys: string[] = [];
      try {
        keys = paths.map((path) => `wds/${path.slice(path.lastIndexOf('/') + 1)}`);
        await publishToS3(store, 'wds', paths);
        const presigned = keys.map((key) => store.presign(key));
        await compare(
          'S3 (Ceph RGW): fromWebDataset vs a plain GET of the same bytes (goal >= 0.85)',
          [
            { name: 'plain undici GET (presigned)', run: () => plainGet(presigned, total) },
            {
              name: 'raw ByteSource.stream (no parse)',
              run: () =>
                rawRead(
                  keys.map((key) => store.open(key)),
                  total,
                ),
            },
            { name: 'fromWebDataset (subscribe)', run: () => viaSubscribe(fromWebDataset({ store, keys })) },
          ],
          SAMPLES,
          total,
        );
        if (chunkSweep) {
          await compare(
            'S3 (Ceph RGW): fromWebDataset by readAheadBytes (ratios to 1 MiB)',
            [SWEEP[1]!, SWEEP[0]!, SWEEP[2]!].map((readAheadBytes): Contender => {
              const tuned = benchS3Store(bucket, { readAheadBytes })!;
              return { name: `readAheadBytes ${kib(readAheadBytes)}`, run: () => viaSubscribe(fromWebDataset({ store: tuned, keys })) };
            }),
            SAMPLES,
            total,
          );
        }
      } finally {
        await removeFromS3(bucket, keys);
      }
    });
  } else {
    console.log('s3: skipped (RXFEED_S3_ENDPOINT not set; run scripts/start-rgw.sh)');
  }
}

await main();
