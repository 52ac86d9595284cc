import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { lastValueFrom, take, toArray } from 'rxjs';
import { aisStore, fromObjects, ObjectStoreError, type AisStore } from '../../../sources/objectstore/index.js';
import { replyWithRange } from './rangeReply.js';

// No AIStore can run here (ARCHITECTURE.md section 8). This server answers the native HTTP API
// the way AIStore's documentation (docs/http_api.md) and Python SDK specify, and records every
// request, so the spec checks the request shapes the store sends.

interface Recorded {
  method: string;
  /** The request target exactly as it arrived, before any URL parsing. */
  raw: string;
  path: string;
  query: Record<string, string>;
  headers: IncomingMessage['headers'];
  body: string;
}

const objects = new Map<string, Buffer>([
  ['train/a.bin', randomBytes(70_000)],
  ['train/b.bin', randomBytes(5)],
  ['train/c.bin', randomBytes(1)],
  ['train/sub/d.bin', randomBytes(300)],
  ['val/e.bin', randomBytes(10)],
]);
const PAGE = 2;

function answer(req: IncomingMessage, res: ServerResponse, record: Recorded): void {
  const bucketPath = /^\/v1\/buckets\/([^/]+)$/.exec(record.path);
  if (bucketPath !== null && req.method === 'GET') {
    // List objects: the action message in the body; pages continue by continuation_token (and uuid).
    const message = JSON.parse(record.body) as { action: string; value: { prefix: string; continuation_token: string; uuid: string } };
    assert.equal(message.action, 'list');
    const keys = [...objects.keys()].filter((key) => key.startsWith(message.value.prefix)).sort();
    const start = message.value.continuation_token === '' ? 0 : keys.indexOf(message.value.continuation_token);
    const page = keys.slice(start, start + PAGE);
    const next = keys[start + PAGE] ?? '';
    res.setHeader('content-type', 'application/json');
    res.end(
      JSON.stringify({
        uuid: message.value.uuid === '' ? 'lso-uuid-1' : message.value.uuid,
        continuation_token: next,
        entries: page.map((name) => ({ name, size: objects.get(name)!.length, checksum: 'xx', version: '1', flags: 0 })),
        flags: 0,
      }),
    );
    return;
  }
  const objectPath = /^\/v1\/objects\/([^/]+)\/(.+)$/.exec(record.path);
  if (objectPath === null) {
    res.writeHead(400).end('bad path');
    return;
  }
  const key = decodeURIComponent(objectPath[2]!);
  if (req.method === 'PUT') {
    objects.set(key, Buffer.from(record.body, 'latin1'));
    res.end();
    return;
  }
  const data = objects.get(key);
  if (data === undefined) {
    res
      .writeHead(404, { 'content-type': 'application/json' })
      .end(JSON.stringify({ message: `object ${key} does not exist`, status: 404 }));
    return;
  }
  const headers = {
    'ais-size': String(data.length),
    'ais-version': '1',
    'ais-checksum-type': 'xxhash',
    'ais-checksum-value': 'xx',
    'ais-atime': '1700000000000000000',
  };
  if (req.method === 'HEAD') {
    res.writeHead(200, headers).end();
    return;
  }
  if (record.query.archpath !== undefined) {
    res.writeHead(200, headers).end(`member ${record.query.archpath} of ${key}`);
    return;
  }
  replyWithRange(res, req.headers.range, data, headers);
}

describe('aisStore: AIStore native HTTP API request shapes', () => {
  const requests: Recorded[] = [];
  let server: Server;
  let store: AisStore;

  before(async () => {
    server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => chunks.push(chunk));
      req.on('end', () => {
        const url = new URL(req.url!, 'http://x');
        const record: Recorded = {
          method: req.method!,
          raw: req.url!,
          path: url.pathname,
          query: Object.fromEntries(url.searchParams),
          headers: req.headers,
          body: Buffer.concat(chunks).toString('latin1'),
        };
        requests.push(record);
        answer(req, res, record);
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    store = aisStore({ bucket: 'shards', env: { AIS_ENDPOINT: endpoint } });
  });
  after(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  it('lists with GET /v1/buckets/<bucket>, a list action in the body, and continuation tokens', async () => {
    requests.length = 0;
    const keys: string[] = [];
    for await (const entry of store.list('train/')) keys.push(entry.key);
    assert.deepEqual(keys, ['train/a.bin', 'train/b.bin', 'train/c.bin', 'train/sub/d.bin']);
    assert.deepEqual(
      requests.map((r) => [r.method, r.path, r.query, r.headers['content-type'], JSON.parse(r.body)]),
      [
        [
          'GET',
          '/v1/buckets/shards',
          { provider: 'ais' },
          'application/json',
          { action: 'list', value: { prefix: 'train/', props: 'name,size,checksum,version', uuid: '', continuation_token: '' } },
        ],
        [
          'GET',
          '/v1/buckets/shards',
          { provider: 'ais' },
          'application/json',
          {
            action: 'list',
            value: { prefix: 'train/', props: 'name,size,checksum,version', uuid: 'lso-uuid-1', continuation_token: 'train/c.bin' },
          },
        ],
      ],
    );
  });

  it('gets objects with GET /v1/objects/<bucket>/<object> and byte ranges', async () => {
    requests.length = 0;
    const data = objects.get('train/a.bin')!;
    const source = store.open('train/a.bin');
    assert.equal(source.name, 'ais://shards/train/a.bin');
    assert.deepEqual(Buffer.from(await source.read(100, 200)), data.subarray(100, 200));
    assert.equal(await source.size(), data.length);
    assert.deepEqual(
      requests.map((r) => [r.method, r.path, r.query, r.headers.range]),
      [
        ['GET', '/v1/objects/shards/train/a.bin', { provider: 'ais' }, 'bytes=100-199'],
        ['HEAD', '/v1/objects/shards/train/a.bin', { provider: 'ais' }, undefined],
      ],
    );
    const head = await store.head('train/a.bin');
    assert.deepEqual([head.size, head.etag, head.lastModified?.getTime()], [data.length, '1', 1_700_000_000_000]);
  });

  it('reads one member of a shard with archpath, and passes the ETL name through', async () => {
    requests.length = 0;
    const member = await store.getMember('train/a.bin', 'sample 1.jpg');
    assert.equal(new TextDecoder().decode(member), 'member sample 1.jpg of train/a.bin');
    const transformed = aisStore({
      bucket: 'shards',
      provider: 'ais',
      etl: 'resize-224',
      endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    });
    await transformed.open('train/b.bin').read(0, 5);
    assert.deepEqual(
      requests.map((r) => [r.path, r.query]),
      [
        ['/v1/objects/shards/train/a.bin', { provider: 'ais', archpath: 'sample 1.jpg' }],
        ['/v1/objects/shards/train/b.bin', { provider: 'ais', etl_name: 'resize-224' }],
      ],
    );
  });

  it('puts with PUT /v1/objects/<bucket>/<object>, and reads it back', async () => {
    requests.length = 0;
    await store.put('new/x.bin', new TextEncoder().encode('hello'));
    assert.deepEqual([requests[0]!.method, requests[0]!.path, requests[0]!.body], ['PUT', '/v1/objects/shards/new/x.bin', 'hello']);
    const items = await lastValueFrom(fromObjects(store, { prefixes: ['new/', 'val/'] }).pipe(toArray()));
    assert.deepEqual(
      items.map((item) => [item.key, item.bytes.length]),
      [
        ['new/x.bin', 5],
        ['val/e.bin', 10],
      ],
    );
  });

  it('fromObjects reads one object per pull: take(1) reads one object and no more', async () => {
    requests.length = 0;
    const items = await lastValueFrom(fromObjects(store, { prefixes: ['train/'] }).pipe(take(1), toArray()));
    assert.deepEqual(
      items.map((item) => item.key),
      ['train/a.bin'],
    );
    assert.deepEqual(
      requests.map((r) => [r.method, r.path]),
      [
        ['GET', '/v1/buckets/shards'],
        ['GET', '/v1/objects/shards/train/a.bin'],
      ],
    );
  });

  it('issue 9.1: sends dot segments of a key as %2E, so ../other/k stays a key of this bucket', async () => {
    requests.length = 0;
    await store.put('../other/k', new TextEncoder().encode('x')).catch(() => undefined);
    await store
      .open('a/./b')
      .read(0, 1)
      .catch(() => undefined);
    assert.deepEqual(
      requests.map((r) => r.raw),
      ['/v1/objects/shards/%2E%2E/other/k?provider=ais', '/v1/objects/shards/a/%2E/b?provider=ais'],
    );
  });

  it('names the object in a typed 404, and needs an endpoint', async () => {
    await assert.rejects(store.open('train/none.bin').read(0, 1), (error: unknown) => {
      assert.ok(error instanceof ObjectStoreError);
      assert.equal(error.code, 'RXFEED_ERR_OBJECT_NOT_FOUND');
      assert.equal(error.object, 'ais://shards/train/none.bin');
      assert.match(error.message, /does not exist/);
      return true;
    });
    assert.throws(() => aisStore({ bucket: 'b', env: {} }), { code: 'RXFEED_ERR_INVALID_ARG' });
  });
});
