/**
 * The WebDataset shards the benchmarks read (`bench/webdataset.ts`, `bench/randomAccessRemote.ts`),
 * made once under `.tmp/bench/` (its tar packing, {@link writeTarShard}, also packs the JPEG
 * shards of `bench/peers/`), and published to the folder the running nginx serves as `/www/`
 * and to an S3 bucket (`rxfeed-bench` unless named): one copy of the tar packing, publishing and
 * store setup both use, and of the clean-up that removes what was published.
 *
 * @module
 */
import { createHash } from 'node:crypto';
import { copyFile, link, mkdir, readFile, realpath, rm, stat, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import tar from 'tar-stream';
import { request } from 'undici';
import { fileByteSource } from '../sources/core/fileByteSource.js';
import { s3Store, type S3Store, type TransportOptions } from '../sources/objectstore/index.js';
import { signHeaders } from '../sources/objectstore/sigv4.js';

/** The `.bin` member of every sample: 12 KiB. */
const BIN_BYTES = 12 * 1024;

/** Deterministic, incompressible-looking bytes for sample `index`. */
function binFor(index: number): Uint8Array {
  const bytes = new Uint8Array(BIN_BYTES);
  let seed = createHash('sha256').update(String(index)).digest();
  for (let offset = 0; offset < BIN_BYTES; offset += seed.length) {
    bytes.set(seed.subarray(0, Math.min(seed.length, BIN_BYTES - offset)), offset);
    seed = createHash('sha256').update(seed).digest();
  }
  return bytes;
}

/** One WebDataset sample to pack: its key and its members by extension (`{ jpg: bytes, cls: '3' }`). */
export interface TarSample {
  readonly key: string;
  readonly members: Readonly<Record<string, Uint8Array | string>>;
}

/**
 * Writes `samples` as a tar shard at `path`, each member named `<key>.<extension>`. The shard is
 * assembled in memory (the benchmarks' shards are tens of MB) and written in one call.
 */
export async function writeTarShard(path: string, samples: Iterable<TarSample>): Promise<void> {
  const pack = tar.pack();
  const parts: Uint8Array[] = [];
  pack.on('data', (chunk: unknown) => parts.push(chunk as Uint8Array));
  const done = new Promise<void>((resolve, reject) => {
    pack.on('end', resolve);
    pack.on('error', reject);
  });
  for (const { key, members } of samples) {
    for (const [extension, data] of Object.entries(members)) {
      pack.entry({ name: `${key}.${extension}`, size: typeof data === 'string' ? Buffer.byteLength(data) : data.byteLength }, data);
    }
  }
  pack.finalize();
  await done;
  await writeFile(path, Buffer.concat(parts));
}

/** A tar shard of samples `[first, last)`: a 12 KiB `.bin` and a `.cls` each. */
function packShard(path: string, first: number, last: number): Promise<void> {
  return writeTarShard(
    path,
    (function* () {
      for (let index = first; index < last; index++) {
        yield { key: `sample${String(index).padStart(6, '0')}`, members: { bin: binFor(index), cls: String(index % 10) } };
      }
    })(),
  );
}

/**
 * `shards` shards `<dir>/<prefix>-000000.tar` ... of `samples` samples in all (evenly split),
 * made unless already there.
 */
export async function benchShards(dir: string, prefix: string, shards: number, samples: number): Promise<string[]> {
  await mkdir(dir, { recursive: true });
  const paths: string[] = [];
  for (let shard = 0; shard < shards; shard++) {
    const path = join(dir, `${prefix}-${String(shard).padStart(6, '0')}.tar`);
    const exists = await stat(path).then(
      () => true,
      () => false,
    );
    if (!exists) await packShard(path, Math.floor((shard * samples) / shards), Math.floor(((shard + 1) * samples) / shards));
    paths.push(path);
  }
  return paths;
}

/**
 * The folder the running nginx serves as `/www/`, read from its configuration: the `alias` of
 * `location /www/` in the `nginx/nginx.conf` that `scripts/start-nginx.sh` writes beside the
 * `.tmp/nginx.env` the benchmark loaded (that env file may be a link into another checkout, whose
 * nginx is the one running, so the link is followed).
 */
export async function nginxWwwRoot(root: string): Promise<string> {
  const envFile = await realpath(join(root, '.tmp', 'nginx.env'));
  const config = join(dirname(envFile), 'nginx', 'nginx.conf');
  const text = await readFile(config, 'utf8');
  const alias = /location\s+\/www\/\s*\{[^}]*?\balias\s+([^;\s]+)\s*;/.exec(text)?.[1];
  if (alias === undefined) throw new Error(`${config}: no 'alias' for location /www/`);
  return alias;
}

/**
 * Hard links to the shards in nginx's `/www/<folder>/` (a copy where links cannot be made), unless
 * there with the right size; answers their names under `/www/`. The folder is the one the running
 * nginx serves ({@link nginxWwwRoot}), so this works from any clone or worktree.
 */
export async function publishToNginx(root: string, folder: string, paths: readonly string[]): Promise<string[]> {
  const www = join(await nginxWwwRoot(root), folder);
  await mkdir(www, { recursive: true });
  const names: string[] = [];
  for (const path of paths) {
    const name = path.slice(path.lastIndexOf('/') + 1);
    const target = join(www, name);
    const size = (await stat(path)).size;
    const present = await stat(target).then(
      (info) => info.size === size,
      () => false,
    );
    if (!present) await link(path, target).catch(() => copyFile(path, target));
    names.push(`${folder}/${name}`);
  }
  return names;
}

/** The folder `publishToNginx` made under nginx's `/www/`, and everything in it, removed. */
export async function unpublishFromNginx(root: string, folder: string): Promise<void> {
  await rm(join(await nginxWwwRoot(root), folder), { recursive: true, force: true });
}

/** The S3 bucket `bucket` of the RGW named by `RXFEED_S3_*`, or `undefined` when none is set. */
export function benchS3Store(bucket = 'rxfeed-bench', transport: TransportOptions = {}): S3Store | undefined {
  const endpoint = process.env.RXFEED_S3_ENDPOINT;
  if (endpoint === undefined || endpoint === '') return undefined;
  return s3Store({
    ...transport,
    endpoint,
    bucket,
    region: process.env.RXFEED_S3_REGION,
    credentials: s3Credentials(),
  });
}

function s3Credentials(): { accessKeyId: string; secretAccessKey: string } {
  return { accessKeyId: process.env.RXFEED_S3_ACCESS_KEY ?? '', secretAccessKey: process.env.RXFEED_S3_SECRET_KEY ?? '' };
}

/**
 * Delete `keys` and then the bucket itself from the RGW of `RXFEED_S3_*` (the stores have no
 * DELETE: the benchmark signs its own). Every delete is tried; the first failure is thrown after.
 */
export async function removeFromS3(bucket: string, keys: readonly string[]): Promise<void> {
  const endpoint = new URL(process.env.RXFEED_S3_ENDPOINT ?? '');
  const region = process.env.RXFEED_S3_REGION ?? 'us-east-1';
  let failure: unknown;
  const remove = async (path: string): Promise<void> => {
    const signed = signHeaders(
      { method: 'DELETE', path, headers: [['host', endpoint.host]] },
      { credentials: s3Credentials(), region, service: 's3', date: new Date(), contentSha256Header: true },
    );
    try {
      const encoded = path.split('/').map(encodeURIComponent).join('/');
      const response = await request(`${endpoint.origin}${encoded}`, { method: 'DELETE', headers: Object.fromEntries(signed.headers) });
      await response.body.dump();
      if (response.statusCode !== 204 && response.statusCode !== 404) throw new Error(`DELETE ${path}: HTTP ${response.statusCode}`);
    } catch (error) {
      failure ??= error;
    }
  };
  for (const key of keys) await remove(`/${bucket}/${key}`);
  await remove(`/${bucket}`);
  if (failure !== undefined) throw failure;
}

/** The shards in the bucket under `<prefix>/`, uploaded unless already there with the right size; answers their keys. */
export async function publishToS3(store: S3Store, prefix: string, paths: readonly string[]): Promise<string[]> {
  await store.createBucket();
  const keys: string[] = [];
  for (const path of paths) {
    const key = `${prefix}/${path.slice(path.lastIndexOf('/') + 1)}`;
    const size = (await stat(path)).size;
    const present = await store.head(key).then(
      (head) => head.size === size,
      () => false,
    );
    if (!present) {
      const bytes = new Uint8Array(size);
      let offset = 0;
      for await (const chunk of fileByteSource(path).stream(0)) {
        bytes.set(chunk, offset);
        offset += chunk.byteLength;
      }
      await store.put(key, bytes);
    }
    keys.push(key);
  }
  return keys;
}

/** Run one remote section; a server that is down is reported, and the other figures still print. */
export async function section(name: string, run: () => Promise<void>): Promise<void> {
  try {
    await run();
  } catch (error) {
    console.log(`\n${name}: failed (${error instanceof Error ? error.message : String(error)})`);
  }
}
