import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { lastValueFrom, toArray } from 'rxjs';
import { expandBraces, fromObjects, httpStore, ObjectStoreError, objectMap } from '../../../sources/objectstore/index.js';
import { serverEnv } from './servers.js';

// Against a real nginx (scripts/start-nginx.sh): /shared/ is ../shared/data, /www/ is .tmp/nginx/www.
const env = serverEnv(['RXFEED_HTTP_ENDPOINT'], 'scripts/start-nginx.sh');
const sharedData = join(process.cwd(), '..', 'shared', 'data');
const www = join(process.cwd(), '.tmp', 'nginx', 'www');

function walk(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? walk(path) : [path];
  });
}

const sha256 = (bytes: Uint8Array): string => createHash('sha256').update(bytes).digest('hex');

describe('httpStore against nginx', { skip: env === undefined ? 'RXFEED_HTTP_ENDPOINT not set (scripts/start-nginx.sh)' : false }, () => {
  const endpoint = env?.RXFEED_HTTP_ENDPOINT ?? '';
  const run = `http-spec-${Date.now().toString(36)}-${randomBytes(3).toString('hex')}`;
  const shardDir = join(www, run);
  const shards = Array.from({ length: 8 }, (_, i) => randomBytes(10_000 + i * 1000));

  before(() => {
    mkdirSync(shardDir, { recursive: true });
    shards.forEach((bytes, i) => writeFileSync(join(shardDir, `shard-${String(i).padStart(6, '0')}.tar`), bytes));
    writeFileSync(
      join(shardDir, 'index.json'),
      JSON.stringify({ shardlist: shards.map((bytes, i) => ({ url: `shard-${String(i).padStart(6, '0')}.tar`, size: bytes.length })) }),
    );
  });
  after(() => rmSync(shardDir, { recursive: true, force: true }));

  it('lists a directory from the nginx JSON autoindex, with sizes', async () => {
    const store = httpStore({ baseUrl: `${endpoint}/shared/`, index: 'nginx-json' });
    const entries = [];
    for await (const entry of store.list('webdataset/')) entries.push(entry);
    const expected = readdirSync(join(sharedData, 'webdataset'))
      .sort()
      .map((name) => ({ key: `webdataset/${name}`, size: statSync(join(sharedData, 'webdataset', name)).size }));
    assert.deepEqual(entries, expected);
  });

  it('walks sub-directories under a prefix, and filters by a partial name', async () => {
    const store = httpStore({ baseUrl: `${endpoint}/shared`, index: 'nginx-json' });
    const keys: string[] = [];
    for await (const entry of store.list('sigv4/')) keys.push(entry.key);
    const expected = walk(join(sharedData, 'sigv4'))
      .map((path) => relative(sharedData, path))
      .sort();
    assert.equal(keys.length, expected.length);
    assert.deepEqual(keys, expected);
    const partial: string[] = [];
    for await (const entry of store.list('webdataset/sam')) partial.push(entry.key);
    assert.deepEqual(partial, ['webdataset/sample.tgz']);
  });

  it('reads ranges and streams from an offset of a shared shard', async () => {
    const store = httpStore({ baseUrl: `${endpoint}/shared/` });
    const local = readFileSync(join(sharedData, 'webdataset', 'testgz.tar'));
    const source = store.open('webdataset/testgz.tar');
    assert.equal(source.name, `${endpoint}/shared/webdataset/testgz.tar`);
    assert.equal(await source.size(), local.length);
    assert.deepEqual(Buffer.from(await source.read(512, 1536)), local.subarray(512, 1536));
    assert.deepEqual(Buffer.from(await source.read(local.length - 3, local.length + 3)), local.subarray(local.length - 3));
    const chunks: Uint8Array[] = [];
    for await (const chunk of source.stream(1_000_000)) chunks.push(chunk);
    assert.equal(sha256(Buffer.concat(chunks)), sha256(local.subarray(1_000_000)));
    const head = await store.head('webdataset/testgz.tar');
    assert.equal(head.size, local.length);
    assert.match(head.etag ?? '', /^"[0-9a-f]+-[0-9a-f]+"$/);
  });

  it('reads brace-expanded shard URLs', async () => {
    const store = httpStore({ baseUrl: `${endpoint}/www/` });
    const urls = expandBraces(`${endpoint}/www/${run}/shard-{000000..000007}.tar`);
    assert.equal(urls.length, 8);
    for (const [i, url] of urls.entries()) {
      const chunks: Uint8Array[] = [];
      for await (const chunk of store.open(url).stream()) chunks.push(chunk);
      assert.ok(Buffer.concat(chunks).equals(shards[i]!), url);
    }
  });

  it('lists from a JSON index (WebDataset shardlist) and feeds fromObjects and objectMap', async () => {
    const store = httpStore({ baseUrl: `${endpoint}/www/${run}/`, index: 'index.json' });
    const entries = [];
    for await (const entry of store.list('shard-')) entries.push(entry);
    assert.deepEqual(
      entries,
      shards.map((bytes, i) => ({ key: `shard-${String(i).padStart(6, '0')}.tar`, size: bytes.length })),
    );
    const items = await lastValueFrom(
      fromObjects(store, { prefixes: ['shard-00000'], filter: (e) => e.key !== 'shard-000003.tar' }).pipe(toArray()),
    );
    assert.deepEqual(
      items.map((item) => item.key),
      [
        'shard-000000.tar',
        'shard-000001.tar',
        'shard-000002.tar',
        'shard-000004.tar',
        'shard-000005.tar',
        'shard-000006.tar',
        'shard-000007.tar',
      ],
    );
    for (const item of items) assert.ok(Buffer.from(item.bytes).equals(shards[Number(item.key.slice(6, 12))]!));
    const map = objectMap(store, ['shard-000005.tar']);
    assert.ok(Buffer.from((await map.get(0)).bytes).equals(shards[5]!));
  });

  it('fails fast with typed errors: 404, a PUT nginx refuses, a store without an index', async () => {
    const store = httpStore({ baseUrl: `${endpoint}/www/${run}/` });
    const missing = `${endpoint}/www/${run}/nope.tar`;
    await assert.rejects(store.open('nope.tar').read(0, 10), (error: unknown) => {
      assert.ok(error instanceof ObjectStoreError);
      assert.equal(error.code, 'RXFEED_ERR_OBJECT_NOT_FOUND');
      assert.equal(error.object, missing);
      return true;
    });
    await assert.rejects(store.head('nope.tar'), { code: 'RXFEED_ERR_OBJECT_NOT_FOUND', status: 404 });
    await assert.rejects(store.put('new.tar', new Uint8Array(3)), { code: 'RXFEED_ERR_OBJECT_REQUEST', status: 405 });
    await assert.rejects(store.listPage(''), { code: 'RXFEED_ERR_INVALID_ARG' });
  });

  it('issue 9.2: a key cannot climb out of the base path, though nginx resolves even %2E%2E', async () => {
    // nginx serves /www/<run>/%2E%2E/%2E%2E/shared/... as /shared/...: encoding the dots is not enough here.
    const store = httpStore({ baseUrl: `${endpoint}/www/${run}/` });
    for (const key of [
      '../../shared/webdataset/compressed.tar',
      `${endpoint}/www/${run}/../../shared/webdataset/compressed.tar`,
      `${endpoint}/www/${run}/%2E%2E/%2E%2E/shared/webdataset/compressed.tar`,
      `${endpoint}/shared/webdataset/compressed.tar`,
    ]) {
      assert.throws(() => store.open(key), { code: 'RXFEED_ERR_OBJECT_KEY' }, key);
    }
    // A key whose segments only contain dots is a literal name under the base.
    await assert.rejects(store.open('..x/...').read(0, 10), {
      code: 'RXFEED_ERR_OBJECT_NOT_FOUND',
      object: `${endpoint}/www/${run}/..x/...`,
    });
  });
});
