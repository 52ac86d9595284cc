import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { lastValueFrom, toArray } from 'rxjs';
import { request } from 'undici';
import { fromObjects, objectMap, ObjectStoreError, s3Store, type S3Store } from '../../../sources/objectstore/index.js';
import { rgwStore, serverEnv } from './servers.js';

// Against a real Ceph RGW (scripts/start-rgw.sh).
const env = serverEnv(['RXFEED_S3_ENDPOINT', 'RXFEED_S3_ACCESS_KEY', 'RXFEED_S3_SECRET_KEY', 'RXFEED_S3_REGION'], 'scripts/start-rgw.sh');

const KEYS = 1100; // more than one ListObjectsV2 page of 1000

/** Run `task` over `items` with at most `limit` in flight. */
async function eachLimited<T>(items: readonly T[], limit: number, task: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) await task(items[next++]!);
  };
  await Promise.all(Array.from({ length: limit }, worker));
}

function expectStoreError(code: string, object: string, status?: number) {
  return (error: unknown): boolean => {
    assert.ok(error instanceof ObjectStoreError, `expected an ObjectStoreError, got ${String(error)}`);
    assert.equal(error.code, code);
    assert.equal(error.object, object);
    if (status !== undefined) assert.equal(error.status, status);
    return true;
  };
}

describe('s3Store against Ceph RGW', { skip: env === undefined ? 'RXFEED_S3_ENDPOINT not set (scripts/start-rgw.sh)' : false }, () => {
  const bucket = `rxfeed-spec-${Date.now().toString(36)}-${randomBytes(3).toString('hex')}`;
  let store: S3Store;
  const blob = randomBytes(300_000);
  const keyOf = (i: number): string => `many/${String(i).padStart(5, '0')}.bin`;

  before(async () => {
    store = rgwStore(env!, bucket);
    await store.createBucket();
    await store.createBucket(); // already ours: not an error
    const indices = Array.from({ length: KEYS }, (_, i) => i);
    await eachLimited(indices, 32, (i) => store.put(keyOf(i), new TextEncoder().encode(`object ${i}`)));
    await store.put('blob/random.bin', blob);
    await store.put('odd/a key with spaces & ünïcödé +=?.txt', new TextEncoder().encode('odd'));
  });

  it(`lists ${KEYS} keys across pages, exactly once each and in order`, async () => {
    const keys: string[] = [];
    for await (const entry of store.list('many/')) keys.push(entry.key);
    assert.deepEqual(
      keys,
      Array.from({ length: KEYS }, (_, i) => keyOf(i)),
    );
  });

  it('pages with continuation tokens of the requested size', async () => {
    const small = rgwStore(env!, bucket, { pageSize: 400 });
    const sizes: number[] = [];
    let continuation: string | undefined;
    do {
      const page = await small.listPage('many/', continuation);
      sizes.push(page.entries.length);
      continuation = page.continuation;
    } while (continuation !== undefined);
    assert.deepEqual(sizes, [400, 400, 300]);
  });

  it('lists keys that need XML entity decoding and URL encoding, and reads them back', async () => {
    const entries = [];
    for await (const entry of store.list('odd/')) entries.push(entry);
    assert.deepEqual(
      entries.map((entry) => [entry.key, entry.size]),
      [['odd/a key with spaces & ünïcödé +=?.txt', 3]],
    );
    const bytes = await store.open(entries[0]!.key).read(0, 100);
    assert.equal(new TextDecoder().decode(bytes), 'odd');
  });

  it('heads an object: size and ETag', async () => {
    const head = await store.head('blob/random.bin');
    assert.equal(head.size, blob.length);
    assert.equal(head.etag, `"${createHash('md5').update(blob).digest('hex')}"`);
    assert.ok(head.lastModified instanceof Date);
    assert.equal(await store.open('blob/random.bin').size(), blob.length);
  });

  it('reads byte ranges, clamped at the end, and streams from an offset', async () => {
    const source = store.open('blob/random.bin');
    assert.deepEqual(Buffer.from(await source.read(1000, 1010)), blob.subarray(1000, 1010));
    assert.deepEqual(Buffer.from(await source.read(blob.length - 5, blob.length + 100)), blob.subarray(blob.length - 5));
    assert.equal((await source.read(blob.length, blob.length + 10)).length, 0);
    assert.equal((await source.read(10, 10)).length, 0);
    const chunks: Uint8Array[] = [];
    for await (const chunk of source.stream(123_456)) chunks.push(chunk);
    assert.deepEqual(Buffer.concat(chunks), blob.subarray(123_456));
    const whole: Uint8Array[] = [];
    for await (const chunk of source.stream()) whole.push(chunk);
    assert.equal(createHash('sha256').update(Buffer.concat(whole)).digest('hex'), createHash('sha256').update(blob).digest('hex'));
  });

  it('presigns a GET that works without credentials, suffix range included', async () => {
    const url = store.presign('blob/random.bin', 600);
    const response = await request(url, { headers: { range: 'bytes=-7' } });
    assert.equal(response.statusCode, 206);
    assert.equal(response.headers['content-range'], `bytes ${blob.length - 7}-${blob.length - 1}/${blob.length}`);
    assert.deepEqual(Buffer.from(await response.body.arrayBuffer()), blob.subarray(blob.length - 7));
    const tampered = url.replace('blob/random.bin', 'blob/other.bin');
    const denied = await request(tampered);
    await denied.body.dump();
    assert.equal(denied.statusCode, 403);
  });

  it('issue 9.1: keys with dot segments round-trip inside their bucket and never touch another', async () => {
    const other = rgwStore(env!, `${bucket}-b`);
    await other.createBucket();
    await other.put('secret', new TextEncoder().encode('bucket b secret'));
    await other.put('k', new TextEncoder().encode('bucket b k'));
    const dotted = store.name.slice('s3://'.length); // this bucket, addressed through the other's name below
    // Read: before the fix each of these named bucket b's objects.
    for (const key of [`../${bucket}-b/secret`, `x/../../${bucket}-b/secret`, `./../${bucket}-b/secret`]) {
      await assert.rejects(store.open(key).read(0, 100), expectStoreError('RXFEED_ERR_OBJECT_NOT_FOUND', `s3://${dotted}/${key}`), key);
    }
    // Write and read back: each key is a literal name in this bucket.
    const keys = ['..', `../${bucket}-b/k`, 'a/./b', '%2e%2e/k', `x/../../${bucket}-b/k`, `./../${bucket}-b/k`];
    for (const key of keys) await store.put(key, new TextEncoder().encode(`literal ${key}`));
    for (const key of keys) assert.equal(Buffer.from(await store.open(key).read(0, 1000)).toString(), `literal ${key}`, key);
    for (const key of keys) assert.equal((await store.head(key)).size, `literal ${key}`.length, key);
    const listed: string[] = [];
    for await (const entry of store.list(''))
      if (!entry.key.startsWith('many/') && !entry.key.startsWith('blob/') && !entry.key.startsWith('odd/')) listed.push(entry.key);
    assert.deepEqual(listed, [...keys].sort());
    const inOther: string[] = [];
    for await (const entry of other.list('')) inOther.push(entry.key);
    assert.deepEqual(inOther, ['k', 'secret']);
    assert.equal(Buffer.from(await other.open('k').read(0, 100)).toString(), 'bucket b k');
    // A presigned URL keeps the %2E too, and reads the literal key.
    const presigned = store.presign('a/./b');
    assert.ok(presigned.includes('/a/%2E/b?'), presigned);
  });

  it('breaking out of a stream stops reading at once', async () => {
    let seen = 0;
    for await (const chunk of store.open('blob/random.bin').stream()) {
      seen += chunk.length;
      break;
    }
    assert.ok(seen > 0 && seen < blob.length);
  });

  it('fromObjects delivers every object under the prefixes once; objectMap reads by index', async () => {
    const items = await lastValueFrom(fromObjects(store, { prefixes: ['odd/', 'many/0000'] }).pipe(toArray()));
    assert.deepEqual(
      items.map((item) => [item.key, new TextDecoder().decode(item.bytes)]),
      [['odd/a key with spaces & ünïcödé +=?.txt', 'odd'], ...Array.from({ length: 10 }, (_, i) => [keyOf(i), `object ${i}`])],
    );
    const map = objectMap(store, [keyOf(7), 'blob/random.bin']);
    assert.equal(map.size, 2);
    assert.equal(new TextDecoder().decode((await map.get(0)).bytes), 'object 7');
    assert.deepEqual(Buffer.from((await map.get(1)).bytes), blob);
  });

  it('a missing object fails fast with RXFEED_ERR_OBJECT_NOT_FOUND naming it', async () => {
    const object = `s3://${bucket}/many/nope.bin`;
    await assert.rejects(store.head('many/nope.bin'), expectStoreError('RXFEED_ERR_OBJECT_NOT_FOUND', object, 404));
    await assert.rejects(store.open('many/nope.bin').read(0, 10), expectStoreError('RXFEED_ERR_OBJECT_NOT_FOUND', object, 404));
    await assert.rejects(
      (async () => {
        for await (const chunk of store.open('many/nope.bin').stream()) void chunk;
      })(),
      (error: unknown) => expectStoreError('RXFEED_ERR_OBJECT_NOT_FOUND', object, 404)(error) && /NoSuchKey/.test((error as Error).message),
    );
  });

  it('a wrong secret fails fast with a typed 403 naming the object', async () => {
    const wrong = s3Store({
      endpoint: env!.RXFEED_S3_ENDPOINT,
      bucket,
      region: env!.RXFEED_S3_REGION,
      credentials: { accessKeyId: env!.RXFEED_S3_ACCESS_KEY, secretAccessKey: 'not-the-secret' },
      retry: { attempts: 3 },
    });
    const object = `s3://${bucket}/blob/random.bin`;
    await assert.rejects(
      wrong.open('blob/random.bin').read(0, 10),
      (error: unknown) =>
        expectStoreError('RXFEED_ERR_OBJECT_ACCESS', object, 403)(error) && /SignatureDoesNotMatch/.test((error as Error).message),
    );
    await assert.rejects(wrong.head('blob/random.bin'), expectStoreError('RXFEED_ERR_OBJECT_ACCESS', object, 403));
    await assert.rejects(wrong.listPage('many/'), expectStoreError('RXFEED_ERR_OBJECT_ACCESS', `s3://${bucket}/many/*`, 403));
    await assert.rejects(wrong.put('x', new Uint8Array(1)), expectStoreError('RXFEED_ERR_OBJECT_ACCESS', `s3://${bucket}/x`, 403));
  });

  it('takes credentials and endpoint from the AWS environment variables', async () => {
    const fromEnv = s3Store({
      bucket,
      env: {
        AWS_ACCESS_KEY_ID: env!.RXFEED_S3_ACCESS_KEY,
        AWS_SECRET_ACCESS_KEY: env!.RXFEED_S3_SECRET_KEY,
        AWS_REGION: env!.RXFEED_S3_REGION,
        AWS_ENDPOINT_URL: env!.RXFEED_S3_ENDPOINT,
      },
    });
    assert.equal((await fromEnv.head('many/00001.bin')).size, 'object 1'.length);
    const anonymous = s3Store({ bucket, env: { AWS_ENDPOINT_URL: env!.RXFEED_S3_ENDPOINT } });
    await assert.rejects(
      anonymous.head('many/00001.bin'),
      expectStoreError('RXFEED_ERR_OBJECT_ACCESS', `s3://${bucket}/many/00001.bin`, 403),
    );
  });

  after(() => {
    // The bucket stays: RGW's data lives under .tmp/rgw/ and each run uses a fresh bucket name.
  });
});
