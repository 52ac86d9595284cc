import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { shard } from '../../../operators/shard.js';
import { ObjectStoreError, s3Store, type S3Store } from '../../../sources/objectstore/index.js';
import { fromWebDataset, listShards } from '../../../sources/webdataset/index.js';
import { sharedWebDataset } from '../../sources/webdataset/tarFixtures.js';
import { serverEnv } from '../objectstore/servers.js';
import { generatedShards, readAll, withoutUrl } from './shards.js';

// Against a real Ceph RGW (scripts/start-rgw.sh).
const env = serverEnv(['RXFEED_S3_ENDPOINT', 'RXFEED_S3_ACCESS_KEY', 'RXFEED_S3_SECRET_KEY', 'RXFEED_S3_REGION'], 'scripts/start-rgw.sh');
const SHARED = ['sample.tgz', 'testgz.tar', 'compressed.tar'];

describe(
  'fromWebDataset from S3 (Ceph RGW)',
  { skip: env === undefined ? 'RXFEED_S3_ENDPOINT not set (scripts/start-rgw.sh)' : false },
  () => {
    const bucket = `rxfeed-wds-${Date.now().toString(36)}-${randomBytes(3).toString('hex')}`;
    const storeWith = (secretAccessKey: string): S3Store =>
      s3Store({
        endpoint: env!.RXFEED_S3_ENDPOINT,
        bucket,
        region: env!.RXFEED_S3_REGION,
        credentials: { accessKeyId: env!.RXFEED_S3_ACCESS_KEY, secretAccessKey },
      });
    let store: S3Store;
    let generated: { name: string; bytes: Buffer }[];

    before(async () => {
      store = storeWith(env!.RXFEED_S3_SECRET_KEY);
      await store.createBucket();
      for (const name of SHARED) await store.put(`shared/${name}`, readFileSync(join(sharedWebDataset, name)));
      generated = await generatedShards();
      for (const { name, bytes } of generated) await store.put(`generated/${name}`, bytes);
      await store.put('generated/README.txt', new TextEncoder().encode('not a shard'));
    });

    it('reads the shared shards from the bucket exactly as from the local files', async () => {
      const keys = SHARED.map((name) => `shared/${name}`);
      const remote = await readAll(fromWebDataset({ store, keys }));
      const local = await readAll(fromWebDataset(SHARED.map((name) => join(sharedWebDataset, name))));
      assert.equal(remote.length, 90 + 1000 + 3);
      assert.deepEqual(withoutUrl(remote), withoutUrl(local));
      assert.deepEqual(
        [...new Set(remote.map((sample) => sample.__url__))],
        keys.map((key) => store.open(key).name),
      );
    });

    it('lists only tar shards under a prefix, in key order', async () => {
      assert.deepEqual(
        await listShards(store, 'generated/'),
        generated.map(({ name }) => `generated/${name}`),
      );
      const byPrefix = await readAll(fromWebDataset({ store, prefix: 'generated/' }));
      assert.equal(byPrefix.length, 100);
      assert.deepEqual(byPrefix.map((sample) => sample.__key__).slice(0, 2), ['s0-000', 's0-001']);
    });

    it('splits the shards of a bucket over ranks with shard({ mode: "file" })', async () => {
      const keys = await listShards(store, 'generated/');
      const dataset = fromWebDataset({ store, keys });
      const ranks = await Promise.all(
        [0, 1].map((rank) => readAll(dataset.pipe(shard({ mode: 'file', rank, worldSize: 2, workerIndex: 0, numWorkers: 1 })))),
      );
      const shardsOf = (samples: { __key__: string }[]): string[] => [...new Set(samples.map((sample) => sample.__key__.split('-')[0]!))];
      assert.deepEqual(ranks.map(shardsOf), [
        ['s0', 's2'],
        ['s1', 's3'],
      ]);
      assert.equal(ranks[0]!.length + ranks[1]!.length, 100);
    });

    it('surfaces a wrong secret as a typed 403 error naming the object', async () => {
      const wrong = storeWith(`${env!.RXFEED_S3_SECRET_KEY}-wrong`);
      await assert.rejects(readAll(fromWebDataset({ store: wrong, keys: ['shared/compressed.tar'] })), (error: unknown) => {
        assert.ok(error instanceof ObjectStoreError, String(error));
        assert.equal(error.code, 'RXFEED_ERR_OBJECT_ACCESS');
        assert.equal(error.status, 403);
        assert.match(error.message, /compressed\.tar/);
        return true;
      });
    });
  },
);
