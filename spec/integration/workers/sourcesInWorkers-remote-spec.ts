import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fromWebDataset } from '../../../sources/webdataset/index.js';
import { sharedWebDataset } from '../../sources/webdataset/tarFixtures.js';
import { serverEnv } from '../objectstore/servers.js';
import { generatedShards, publishToNginx } from '../webdataset/shards.js';
import { storeOf, storeShards, webDatasetShards, type StoreAccess } from './fixtures/sourcePipelines.js';
import { asMultiset, bothWays, collect, crossed } from './inMainThread.js';
import { fillBucket, ObjectServer, removeBucket, rgwAccess } from './loopback.js';

const pipelines = new URL('./fixtures/sourcePipelines.js', import.meta.url);
const SHARED = ['sample.tgz', 'testgz.tar', 'compressed.tar'];

/** The samples of `keys` read from `access`'s store in this thread with no parts: what the parts together must read. */
const plainStore = async (access: StoreAccess, keys: string[]): Promise<unknown[]> =>
  (await collect(fromWebDataset({ store: storeOf(access), keys }))).map(crossed);

const nginx = serverEnv(['RXFEED_HTTP_ENDPOINT'], 'scripts/start-nginx.sh');

describe(
  'HTTP sources (nginx) inside worker pipelines (issue 12)',
  { skip: nginx === undefined ? 'RXFEED_HTTP_ENDPOINT not set' : false },
  () => {
    const endpoint = nginx?.RXFEED_HTTP_ENDPOINT ?? '';
    const folder = `wds-workers-${randomBytes(4).toString('hex')}`;
    let published: ReturnType<typeof publishToNginx>;
    before(async () => {
      published = publishToNginx(folder, await generatedShards());
    });
    after(() => published.remove());

    it('issue 12: shard URLs (a brace pattern, and the shared shards) read the same samples in 2 threads as in the main thread', async () => {
      const pattern = `${endpoint}/www/${folder}/shard-{0..3}.tar`;
      const generated = await bothWays(pipelines, webDatasetShards, { threads: 2, options: { input: pattern } });
      assert.equal(generated.length, 100);
      assert.deepEqual(asMultiset(generated), asMultiset((await collect(fromWebDataset(pattern))).map(crossed)));
      const urls = SHARED.map((name) => `${endpoint}/shared/webdataset/${name}`);
      const shared = await bothWays(pipelines, webDatasetShards, { threads: 2, options: { input: urls } });
      assert.equal(shared.length, 90 + 1000 + 3);
      assert.deepEqual(asMultiset(shared), asMultiset((await collect(fromWebDataset(urls))).map(crossed)));
    });

    it('issue 12: an httpStore made in each part reads the same samples by key as the main thread', async () => {
      const store: StoreAccess = { kind: 'http', baseUrl: `${endpoint}/www/` };
      const keys = [0, 1, 2, 3].map((shard) => `${folder}/shard-${shard}.tar`);
      const items = await bothWays(pipelines, storeShards, { threads: 2, options: { store, keys } });
      assert.equal(items.length, 100);
      assert.deepEqual(asMultiset(items), asMultiset(await plainStore(store, keys)));
    });
  },
);

const rgw = rgwAccess('rxfeed-workers');

describe(
  'S3 sources (Ceph RGW) inside worker pipelines (issue 12)',
  { skip: rgw === undefined ? 'RXFEED_S3_ENDPOINT not set' : false },
  () => {
    const access = rgw!;
    const keys: string[] = [];
    before(async () => {
      const shared = SHARED.map((name) => [`shared/${name}`, readFileSync(join(sharedWebDataset, name))] as const);
      const generated = (await generatedShards()).map(({ name, bytes }) => [`generated/${name}`, bytes] as const);
      keys.push(...(await fillBucket(access, [...shared, ...generated])));
    });
    after(() => removeBucket(access, keys));

    it('issue 12: an s3Store made in each part from plain options reads the same samples as the main thread, none lost or twice', async () => {
      const items = await bothWays(pipelines, storeShards, { threads: 2, options: { store: access, keys } });
      assert.equal(items.length, 90 + 1000 + 3 + 100);
      assert.deepEqual(asMultiset(items), asMultiset(await plainStore(access, keys)));
    });
  },
);

describe('AIStore sources (a loopback server of its API) inside worker pipelines (issue 12)', () => {
  let server: ObjectServer;
  const keys = [0, 1, 2, 3].map((shard) => `generated/shard-${shard}.tar`);
  before(async () => {
    const shards = await generatedShards();
    server = await ObjectServer.start(new Map(shards.map(({ name, bytes }) => [`generated/${name}`, bytes])));
  });
  after(() => server.close());

  it('issue 12: an aisStore made in each part reaches a main-thread server and reads the same samples as the main thread', async () => {
    const store: StoreAccess = { kind: 'ais', endpoint: server.endpoint, bucket: 'bkt' };
    const items = await bothWays(pipelines, storeShards, { threads: 2, options: { store, keys } });
    assert.equal(items.length, 100);
    assert.deepEqual(asMultiset(items), asMultiset(await plainStore(store, keys)));
    assert.ok(server.requests.some((request) => request.startsWith('GET /v1/objects/bkt/generated/')));
  });
});
