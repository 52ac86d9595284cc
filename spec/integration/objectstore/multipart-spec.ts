import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { concat, lastValueFrom, map, range, Subject, throwError, toArray } from 'rxjs';
import { request } from 'undici';
import { bindContext, Flow, fromItems } from '../../../src/index.js';
import { ObjectStoreError, sha256Hex, signHeaders, type S3Store } from '../../../sources/objectstore/index.js';
import {
  fromWebDataset,
  toWebDataset,
  type WebDatasetSampleInput,
  type WebDatasetShardWritten,
} from '../../../sources/webdataset/index.js';
import { rgwStore, serverEnv } from './servers.js';

// Against a real Ceph RGW (scripts/start-rgw.sh).
const env = serverEnv(['RXFEED_S3_ENDPOINT', 'RXFEED_S3_ACCESS_KEY', 'RXFEED_S3_SECRET_KEY', 'RXFEED_S3_REGION'], 'scripts/start-rgw.sh');

const MiB = 1024 * 1024;

/** `bytes` as chunks of `chunk` bytes, as a stream would deliver them. */
async function* chunks(bytes: Uint8Array, chunk: number, onChunk?: (offset: number) => void): AsyncGenerator<Uint8Array> {
  for (let offset = 0; offset < bytes.byteLength; offset += chunk) {
    onChunk?.(offset);
    yield bytes.subarray(offset, offset + chunk);
  }
}

const sha = (bytes: Uint8Array): string => createHash('sha256').update(bytes).digest('hex');

describe(
  'S3 delete and multipart upload against Ceph RGW',
  { skip: env === undefined ? 'RXFEED_S3_ENDPOINT not set (scripts/start-rgw.sh)' : false },
  () => {
    const bucket = `rxfeed-multipart-${Date.now().toString(36)}-${randomBytes(3).toString('hex')}`;
    let store: S3Store;

    /** ListMultipartUploads under `prefix`: the keys of uploads begun and neither completed nor aborted. */
    async function pendingUploads(prefix: string): Promise<string[]> {
      const endpoint = new URL(env!.RXFEED_S3_ENDPOINT);
      const query: [string, string][] = [
        ['prefix', prefix],
        ['uploads', ''],
      ];
      const signed = signHeaders(
        { method: 'GET', path: `/${bucket}`, query, headers: [['host', endpoint.host]], payloadHash: sha256Hex(new Uint8Array(0)) },
        {
          credentials: { accessKeyId: env!.RXFEED_S3_ACCESS_KEY, secretAccessKey: env!.RXFEED_S3_SECRET_KEY },
          region: env!.RXFEED_S3_REGION,
          service: 's3',
          date: new Date(),
          contentSha256Header: true,
        },
      );
      const search = query.map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`).join('&');
      const answer = await request(`${endpoint.origin}/${bucket}?${search}`, { headers: Object.fromEntries(signed.headers) });
      const xml = await answer.body.text();
      assert.equal(answer.statusCode, 200, xml);
      assert.match(xml, /<ListMultipartUploadsResult/);
      return [...xml.matchAll(/<Upload>[\s\S]*?<Key>([^<]*)<\/Key>/g)].map((match) => match[1]!);
    }

    async function keysUnder(prefix: string): Promise<string[]> {
      const keys: string[] = [];
      for await (const entry of store.list(prefix)) keys.push(entry.key);
      return keys;
    }

    async function assertGone(key: string): Promise<void> {
      await assert.rejects(store.head(key), (error) => error instanceof ObjectStoreError && error.code === 'RXFEED_ERR_OBJECT_NOT_FOUND');
      assert.deepEqual(await pendingUploads(key), []);
    }

    before(async () => {
      store = rgwStore(env!, bucket);
      await store.createBucket();
    });

    after(async () => {
      if (store === undefined) return;
      for await (const entry of store.list('')) await store.delete(entry.key);
      assert.deepEqual(await keysUnder(''), []);
    });

    it('issue 14: a 12.5 MiB upload in 3 parts of 5 MiB reads back byte-identical (head size, ranged gets)', async () => {
      const body = new Uint8Array(randomBytes(12 * MiB + MiB / 2));
      await store.upload('multi/big.bin', chunks(body, 700_000), { partSize: 5 * MiB });
      const head = await store.head('multi/big.bin');
      assert.equal(head.size, body.byteLength);
      // A multipart object's ETag is "<md5 of the part md5s>-<parts>".
      assert.match(head.etag ?? '', /-3"?$/);
      const source = store.open('multi/big.bin');
      for (const [start, end] of [
        [0, 1000],
        [5 * MiB - 10, 5 * MiB + 10],
        [12 * MiB, body.byteLength],
      ] as const) {
        assert.deepEqual(await source.read(start, end), body.subarray(start, end));
      }
      assert.equal(sha(await source.read(0, body.byteLength)), sha(body));
      assert.deepEqual(await pendingUploads('multi/'), []);
    });

    it('issue 14: a body shorter than one part is a single put', async () => {
      const body = new Uint8Array(randomBytes(100_000));
      await store.upload('multi/small.bin', chunks(body, 30_000));
      const head = await store.head('multi/small.bin');
      assert.equal(head.size, body.byteLength);
      assert.doesNotMatch(head.etag ?? '', /-\d+"?$/);
      assert.deepEqual(await store.open('multi/small.bin').read(0, body.byteLength), body);
    });

    it('issue 14: a body that throws in its 2nd part leaves no object and no pending upload', async () => {
      const body = new Uint8Array(randomBytes(8 * MiB));
      async function* broken(): AsyncGenerator<Uint8Array> {
        yield* chunks(body.subarray(0, 7 * MiB), MiB);
        throw new Error('source broke');
      }
      await assert.rejects(store.upload('multi/broken.bin', broken(), { partSize: 5 * MiB }), /source broke/);
      await assertGone('multi/broken.bin');
    });

    it('issue 14: an abort after the 1st part leaves no object and no pending upload', async () => {
      const body = new Uint8Array(randomBytes(11 * MiB));
      const controller = new AbortController();
      const reason = new Error('stop');
      const upload = store.upload(
        'multi/aborted.bin',
        chunks(body, MiB, (offset) => {
          if (offset === 7 * MiB) controller.abort(reason);
        }),
        { partSize: 5 * MiB, signal: controller.signal },
      );
      await assert.rejects(upload, (error) => error === reason);
      await assertGone('multi/aborted.bin');
    });

    it('issue 14: a part size below S3 minimum is an InvalidArgumentError', async () => {
      await assert.rejects(store.upload('multi/x.bin', chunks(new Uint8Array(10), 5), { partSize: MiB }), /partSize/);
      await assertGone('multi/x.bin');
    });

    it('issue 14: delete removes an object (head is then RXFEED_ERR_OBJECT_NOT_FOUND); deleting a missing key succeeds', async () => {
      await store.put('del/one.txt', new TextEncoder().encode('one'));
      assert.equal((await store.head('del/one.txt')).size, 3);
      await store.delete('del/one.txt');
      await assert.rejects(store.head('del/one.txt'), (error) => {
        assert.ok(error instanceof ObjectStoreError);
        assert.equal(error.code, 'RXFEED_ERR_OBJECT_NOT_FOUND');
        assert.equal(error.object, `s3://${bucket}/del/one.txt`);
        return true;
      });
      await store.delete('del/one.txt');
      await store.delete('del/never-was.txt');
    });

    it('issue 14: toWebDataset to the bucket: multipart shards read back through fromWebDataset({ store, keys })', async () => {
      const samples = Array.from({ length: 30 }, (_, i) => ({
        __key__: `s${String(i).padStart(3, '0')}`,
        bin: new Uint8Array(randomBytes(MiB)),
        cls: i,
      }));
      const written = await lastValueFrom(
        fromItems(samples).pipe(
          toWebDataset({ store, pattern: 'wds/train-%04d.tar' }, { maxSize: 12 * MiB, partSize: 5 * MiB }),
          toArray(),
        ),
      );
      // 11 samples of 1 MiB + 512 + 1024 bytes fit in 12 MiB with the end of archive.
      assert.deepEqual(
        written.map(({ key, samples: count, shard }) => ({ key, samples: count, shard })),
        [
          { key: 'wds/train-0000.tar', samples: 11, shard: 0 },
          { key: 'wds/train-0001.tar', samples: 11, shard: 1 },
          { key: 'wds/train-0002.tar', samples: 8, shard: 2 },
        ],
      );
      for (const shard of written) {
        const head = await store.head(shard.key!);
        assert.equal(head.size, shard.bytes);
        assert.match(head.etag ?? '', /-\d+"?$/, 'uploaded in parts');
      }
      const read = await lastValueFrom(fromWebDataset({ store, keys: written.map((w) => w.key!) }).pipe(toArray()));
      assert.deepEqual(
        read.map((s) => [s.__key__, sha(s.bin as Uint8Array), new TextDecoder().decode(s.cls as Uint8Array)]),
        samples.map((s) => [s.__key__, sha(s.bin), String(s.cls)]),
      );
      assert.deepEqual(await pendingUploads('wds/'), []);
    });

    it('issue 14: toWebDataset to the bucket failing mid-shard leaves the full shard, no partial object and no pending upload', async () => {
      const emitted: WebDatasetShardWritten[] = [];
      const failing = concat(
        range(0, 9).pipe(map((i) => ({ __key__: `f${i}`, bin: new Uint8Array(MiB).fill(i) }))),
        throwError(() => new Error('upstream broke')),
      );
      await assert.rejects(
        new Promise((resolve, reject) =>
          failing
            .pipe(toWebDataset({ store, pattern: 'fail/shard-%02d.tar' }, { maxCount: 2, partSize: 5 * MiB }))
            .subscribe({ next: (shard) => emitted.push(shard), error: reject, complete: () => resolve(undefined) }),
        ),
        /upstream broke/,
      );
      const keys = await keysUnder('fail/');
      assert.deepEqual(keys, ['fail/shard-00.tar', 'fail/shard-01.tar', 'fail/shard-02.tar', 'fail/shard-03.tar']);
      assert.deepEqual(
        emitted.map((w) => [w.key, w.samples]),
        keys.map((key) => [key, 2]),
      );
      assert.deepEqual(await pendingUploads('fail/'), []);
      await assertGone('fail/shard-04.tar');
    });

    it('issue 14: unsubscribing from toWebDataset while a shard is mid-upload aborts it: no object, no pending upload', async () => {
      const source = new Subject<WebDatasetSampleInput>();
      const flow = new Flow();
      const subscription = bindContext({ flow, epoch: 0 }, () =>
        source.pipe(toWebDataset({ store, pattern: 'unsub/shard-%02d.tar' }, { partSize: 5 * MiB })).subscribe(),
      );
      for (let i = 0; i < 7; i++) source.next({ __key__: `u${i}`, bin: new Uint8Array(MiB).fill(i) });
      // Wait until the multipart upload exists (its first part is on its way), at most ~10 s.
      for (let i = 0; i < 500 && (await pendingUploads('unsub/')).length === 0; i++)
        await new Promise((resolve) => setTimeout(resolve, 20));
      assert.deepEqual(await pendingUploads('unsub/'), ['unsub/shard-00.tar']);
      subscription.unsubscribe();
      await flow.released();
      assert.deepEqual(await keysUnder('unsub/'), []);
      assert.deepEqual(await pendingUploads('unsub/'), []);
    });

    it('issue 14: toWebDataset to the bucket cut mid-upload (the 2nd of 3 parts) leaves no object and no pending upload', async () => {
      const failing = concat(
        range(0, 9).pipe(map((i) => ({ __key__: `g${i}`, bin: new Uint8Array(MiB).fill(i) }))),
        throwError(() => new Error('upstream broke')),
      );
      await assert.rejects(
        lastValueFrom(failing.pipe(toWebDataset({ store, pattern: 'cut/shard-%02d.tar' }, { partSize: 5 * MiB }))),
        /upstream broke/,
      );
      assert.deepEqual(await keysUnder('cut/'), []);
      assert.deepEqual(await pendingUploads('cut/'), []);
    });
  },
);
