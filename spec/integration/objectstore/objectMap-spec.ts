import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join, relative } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { lastValueFrom, toArray } from 'rxjs';
import { DatasetClosedError } from '../../../sources/core/randomAccess.js';
import {
  aisStore,
  fromObjects,
  httpStore,
  listObjectMap,
  objectMap,
  type FromObjectsOptions,
  type ObjectMap,
  type ObjectStore,
  type S3Store,
  type StoredObject,
} from '../../../sources/objectstore/index.js';
import { InvalidArgumentError, permutation } from '../../../src/index.js';
import { rgwStore, serverEnv } from './servers.js';

const sharedData = join(process.cwd(), '..', 'shared', 'data');

function walk(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? walk(path) : [path];
  });
}

/** `{ key, bytes }` with the bytes as a plain Uint8Array: a body arrives as a Buffer or as chunks joined. */
const plain = (object: StoredObject): StoredObject => ({ key: object.key, bytes: new Uint8Array(object.bytes) });

/** Every element of `map`, read in the order of a seeded permutation `batch` at a time, put back in index order. */
async function readPermuted(map: ObjectMap, seed: number, batch: number): Promise<StoredObject[]> {
  const order = permutation(map.size, seed);
  const read = new Array<StoredObject>(map.size);
  for (let start = 0; start < order.length; start += batch) {
    const indices = Array.from(order.subarray(start, start + batch));
    const objects = await map.read(indices);
    indices.forEach((index, k) => (read[index] = plain(objects[k]!)));
  }
  return read;
}

/** The headline check: a listed map read in a permutation is `fromObjects` item for item. */
async function assertMapsLikeFromObjects(store: ObjectStore, options: FromObjectsOptions, atLeast: number): Promise<StoredObject[]> {
  const expected = (await lastValueFrom(fromObjects(store, options).pipe(toArray()))).map(plain);
  assert.ok(expected.length >= atLeast, `${expected.length} objects`);
  const map = await listObjectMap(store, { ...options, concurrency: 6 });
  assert.equal(map.size, expected.length);
  assert.deepEqual(
    map.keys,
    expected.map((object) => object.key),
  );
  assert.deepStrictEqual(await readPermuted(map, 11, 32), expected);
  // Asked twice and out of order: answered in the order asked.
  const last = map.size - 1;
  assert.deepStrictEqual((await map.read([last, 0, last])).map(plain), [expected[last], expected[0], expected[last]]);
  assert.deepStrictEqual(plain(await map.get(1)), expected[1]);
  map.close();
  return expected;
}

const s3Env = serverEnv(['RXFEED_S3_ENDPOINT', 'RXFEED_S3_ACCESS_KEY', 'RXFEED_S3_SECRET_KEY', 'RXFEED_S3_REGION'], 'scripts/start-rgw.sh');

describe(
  'objectMap over Ceph RGW (S3)',
  { skip: s3Env === undefined ? 'RXFEED_S3_ENDPOINT not set (scripts/start-rgw.sh)' : false },
  () => {
    const bucket = `rxfeed-map-${Date.now().toString(36)}-${randomBytes(3).toString('hex')}`;
    const files = walk(sharedData).map((path) => relative(sharedData, path));
    let store: S3Store;

    before(async () => {
      store = rgwStore(s3Env!, bucket, { pageSize: 100 });
      await store.createBucket();
      let next = 0;
      const upload = async (): Promise<void> => {
        while (next < files.length) {
          const file = files[next++]!;
          await store.put(`shared/${file}`, readFileSync(join(sharedData, file)));
        }
      };
      await Promise.all(Array.from({ length: 16 }, upload));
    });

    it('issue 11: the real shared files, listed (several pages) and read in a seeded permutation, equal fromObjects', async () => {
      const expected = await assertMapsLikeFromObjects(
        store,
        { prefixes: ['shared/sigv4/', 'shared/webdataset/', 'shared/mongodb-json/'] },
        300,
      );
      for (const object of expected) assert.deepEqual(object.bytes, new Uint8Array(readFileSync(join(sharedData, object.key.slice(7)))));
    });

    it('issue 11: objectMap over given keys reads object keys[i] at index i', async () => {
      const keys = ['shared/tfrecord/pytorch-data/example.tfrecord', 'shared/MANIFEST.md', 'shared/tfrecord/pytorch-data/example.tfrecord'];
      const map = objectMap(store, keys, { concurrency: 1 });
      assert.equal(map.size, 3);
      const objects = await map.read([1, 2, 0]);
      assert.deepEqual(
        objects.map((object) => object.key),
        [keys[1], keys[2], keys[0]],
      );
      assert.deepEqual(Buffer.from(objects[0]!.bytes), readFileSync(join(sharedData, 'MANIFEST.md')));
      assert.deepEqual(Buffer.from(objects[2]!.bytes), readFileSync(join(sharedData, 'tfrecord', 'pytorch-data', 'example.tfrecord')));
      map.close();
      await assert.rejects(map.read([0]), DatasetClosedError);
      await assert.rejects(map.get(0), DatasetClosedError);
    });
  },
);

const httpEnv = serverEnv(['RXFEED_HTTP_ENDPOINT'], 'scripts/start-nginx.sh');

describe(
  'objectMap over nginx (HTTP)',
  { skip: httpEnv === undefined ? 'RXFEED_HTTP_ENDPOINT not set (scripts/start-nginx.sh)' : false },
  () => {
    it('issue 11: the real shared files, listed from the JSON autoindex and read in a seeded permutation, equal fromObjects', async () => {
      const store = httpStore({ baseUrl: `${httpEnv!.RXFEED_HTTP_ENDPOINT}/shared/`, index: 'nginx-json' });
      const expected = await assertMapsLikeFromObjects(
        store,
        { prefixes: ['sigv4/', 'webdataset/', 'tfds/'], filter: (entry) => !entry.key.endsWith('.txt') || entry.key.includes('get-') },
        100,
      );
      for (const object of expected) assert.deepEqual(object.bytes, new Uint8Array(readFileSync(join(sharedData, object.key))));
    });
  },
);

// No AIStore can run here: this server answers AIStore's native HTTP API (as in
// spec/sources/objectstore/aisStore-spec.ts) and records each request, so the spec checks that a
// map lists once when made and then sends exactly one object GET per distinct index read.
describe('objectMap over AIStore (its HTTP API on a loopback server)', () => {
  const objects = new Map<string, Buffer>(
    Array.from({ length: 23 }, (_, i) => [`train/${String(i).padStart(3, '0')}.bin`, randomBytes(i * 997)]),
  );
  const PAGE = 5;
  const requests: { method: string; path: string; query: Record<string, string> }[] = [];
  /** Answers of `slow/` objects held open: they send half their bytes and wait for the client to leave. */
  const held = new Set<ServerResponse>();
  const left: Promise<void>[] = [];
  let server: Server;
  let store: ObjectStore;

  const answer = (req: IncomingMessage, res: ServerResponse, body: string): void => {
    const url = new URL(req.url!, 'http://x');
    requests.push({ method: req.method!, path: url.pathname, query: Object.fromEntries(url.searchParams) });
    if (url.pathname === '/v1/buckets/bkt') {
      const { value } = JSON.parse(body) as { value: { prefix: string; continuation_token: string } };
      const keys = [...objects.keys()].filter((key) => key.startsWith(value.prefix)).sort();
      const start = value.continuation_token === '' ? 0 : keys.indexOf(value.continuation_token);
      res.setHeader('content-type', 'application/json');
      res.end(
        JSON.stringify({
          uuid: 'lso-1',
          continuation_token: keys[start + PAGE] ?? '',
          entries: keys.slice(start, start + PAGE).map((name) => ({ name, size: objects.get(name)!.length, version: '1' })),
        }),
      );
      return;
    }
    const key = decodeURIComponent(url.pathname.slice('/v1/objects/bkt/'.length));
    if (key.startsWith('slow/')) {
      res.writeHead(200, { 'content-length': 1000, 'ais-version': '1' });
      res.write(Buffer.alloc(500));
      held.add(res);
      left.push(new Promise((resolve) => res.on('close', () => resolve())));
      return;
    }
    const data = objects.get(key);
    if (data === undefined) {
      res.writeHead(404, { 'content-type': 'application/json' }).end(JSON.stringify({ message: `${key} does not exist`, status: 404 }));
      return;
    }
    res.writeHead(200, { 'content-length': data.length, 'ais-version': '1' }).end(data);
  };

  before(async () => {
    server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => chunks.push(chunk));
      req.on('end', () => answer(req, res, Buffer.concat(chunks).toString('utf8')));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    store = aisStore({ bucket: 'bkt', endpoint: `http://127.0.0.1:${port}`, retry: { attempts: 1 } });
  });

  after(async () => {
    for (const res of held) res.destroy();
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  it('issue 11: lists once when made, then one GET per distinct object read; equals fromObjects', async () => {
    requests.length = 0;
    const map = await listObjectMap(store, { prefixes: ['train/'] });
    assert.deepEqual(
      requests.map((request) => `${request.method} ${request.path}`),
      Array.from({ length: Math.ceil(objects.size / PAGE) }, () => 'GET /v1/buckets/bkt'),
    );
    requests.length = 0;
    const indices = [4, 17, 4, 0, 22];
    const read = await map.read(indices);
    assert.deepEqual(
      read.map((object) => [object.key, Buffer.from(object.bytes)]),
      indices.map((index) => [map.keys[index], objects.get(map.keys[index]!)]),
    );
    assert.deepEqual(
      requests.map((request) => `${request.method} ${request.path}?provider=${request.query.provider}`).sort(),
      ['train/000.bin', 'train/004.bin', 'train/017.bin', 'train/022.bin'].map((key) => `GET /v1/objects/bkt/${key}?provider=ais`),
    );
    map.close();
    await assertMapsLikeFromObjects(store, { prefixes: ['train/'] }, objects.size);
  });

  it('issue 11: close() aborts the reads in flight and destroys their bodies; reads after it fail with DatasetClosedError', async () => {
    const map = objectMap(store, ['slow/a.bin', 'slow/b.bin', 'train/001.bin']);
    const reading = map.read([0, 1, 2]);
    // Both slow answers are open (half sent) before close.
    while (held.size < 2) await new Promise((resolve) => setImmediate(resolve));
    map.close();
    map.close();
    await assert.rejects(reading, (error: unknown) => error instanceof DatasetClosedError && error.code === 'RXFEED_ERR_DATASET_CLOSED');
    // The server sees both connections closed by the client: no body is left open.
    await Promise.all(left);
    await assert.rejects(map.read([2]), DatasetClosedError);
  });

  it('issue 11: bad indices and options fail with InvalidArgumentError before any request', async () => {
    const map = objectMap(store, ['train/000.bin', 'train/001.bin']);
    requests.length = 0;
    for (const indices of [[2], [-1], [1.5], 'x']) await assert.rejects(map.read(indices as number[]), InvalidArgumentError);
    await assert.rejects(map.get(2), { argument: 'objectMap.get(index)' });
    assert.throws(() => objectMap(store, [], { concurrency: 0 }), { argument: 'objectMap.concurrency' });
    await assert.rejects(listObjectMap(store, { prefixes: 'train/' as unknown as string[] }), { argument: 'listObjectMap.prefixes' });
    await assert.rejects(listObjectMap(store, { concurrency: -1 }), { argument: 'listObjectMap.concurrency' });
    assert.deepEqual(requests, []);
    map.close();
  });
});
