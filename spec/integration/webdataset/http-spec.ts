import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ObjectStoreError, httpStore } from '../../../sources/objectstore/index.js';
import { fromWebDataset, listShards } from '../../../sources/webdataset/index.js';
import { toLoader } from '../../../src/loader.js';
import { sharedWebDataset } from '../../sources/webdataset/tarFixtures.js';
import { serverEnv } from '../objectstore/servers.js';
import { generatedShards, publishToNginx, readAll, withoutUrl } from './shards.js';

// Against nginx (scripts/start-nginx.sh): ../shared/data/ at /shared/, .tmp/nginx/www/ at /www/.
const env = serverEnv(['RXFEED_HTTP_ENDPOINT'], 'scripts/start-nginx.sh');

describe(
  'fromWebDataset over HTTP from nginx',
  { skip: env === undefined ? 'RXFEED_HTTP_ENDPOINT not set (scripts/start-nginx.sh)' : false },
  () => {
    const endpoint = env?.RXFEED_HTTP_ENDPOINT ?? '';
    const shared = `${endpoint}/shared/webdataset/`;
    const folder = `wds-spec-${randomBytes(4).toString('hex')}`;
    let published: ReturnType<typeof publishToNginx>;
    before(async () => {
      published = publishToNginx(folder, await generatedShards());
    });
    after(() => published.remove());

    for (const name of ['sample.tgz', 'testgz.tar', 'compressed.tar']) {
      it(`reads ${name} over HTTP exactly as from the local file`, async () => {
        const local = await readAll(fromWebDataset(join(sharedWebDataset, name)));
        const remote = await readAll(fromWebDataset(`${shared}${name}`));
        assert.equal(remote.length, { 'sample.tgz': 90, 'testgz.tar': 1000, 'compressed.tar': 3 }[name]);
        assert.deepEqual(withoutUrl(remote), withoutUrl(local));
        assert.ok(remote.every((sample) => sample.__url__ === `${shared}${name}`));
      });
    }

    it('reads a URL list that names two origins, each shard from its own origin', async () => {
      // 127.0.0.1 and localhost are two origins of the same nginx: a store per origin, since an
      // httpStore refuses URLs of another origin (issue 9.2).
      const other = `${shared.replace('127.0.0.1', 'localhost')}compressed.tar`;
      assert.notEqual(new URL(other).origin, new URL(shared).origin);
      const urls = [`${shared}compressed.tar`, other];
      const samples = await readAll(fromWebDataset(urls));
      assert.deepEqual(
        samples.map((sample) => sample.__url__),
        [...Array<string>(3).fill(urls[0]!), ...Array<string>(3).fill(urls[1]!)],
      );
      assert.deepEqual(withoutUrl(samples.slice(3)), withoutUrl(samples.slice(0, 3)));
    });

    it('expands brace patterns of shard URLs, in order', async () => {
      const pattern = `${endpoint}/www/${folder}/shard-{0..3}.tar`;
      const dataset = fromWebDataset(pattern);
      const samples = await readAll(dataset);
      assert.equal(samples.length, 100);
      assert.deepEqual(
        [...new Set(samples.map((sample) => sample.__url__))],
        [0, 1, 2, 3].map((shard) => `${endpoint}/www/${folder}/shard-${shard}.tar`),
      );
      const local = await readAll(fromWebDataset([0, 1, 2, 3].map((shard) => join(published.dir, `shard-${shard}.tar`))));
      assert.deepEqual(withoutUrl(samples), withoutUrl(local));
    });

    it('lists the shards of an nginx JSON autoindex and reads them as { store, prefix } and { store, keys }', async () => {
      const store = httpStore({ baseUrl: `${endpoint}/www/`, index: 'nginx-json' });
      const keys = await listShards(store, `${folder}/`);
      assert.deepEqual(
        keys,
        [0, 1, 2, 3].map((shard) => `${folder}/shard-${shard}.tar`),
      );
      const byPrefix = await readAll(fromWebDataset({ store, prefix: `${folder}/shard-` }));
      const byKeys = await readAll(fromWebDataset({ store, keys }));
      assert.equal(byPrefix.length, 100);
      assert.deepEqual(byKeys, byPrefix);
    });

    it('stops reading at a break and reads again afterwards', async () => {
      let seen = 0;
      for await (const sample of toLoader(fromWebDataset(`${shared}testgz.tar`))) {
        assert.ok(sample['txt.gz'] instanceof Uint8Array);
        if (++seen === 10) break;
      }
      assert.equal((await readAll(fromWebDataset(`${shared}compressed.tar`))).length, 3);
    });

    it('fails fast on a missing shard with a typed error naming the URL', async () => {
      const missing = `${shared}no-such-shard.tar`;
      await assert.rejects(readAll(fromWebDataset([`${shared}compressed.tar`, missing])), (error: unknown) => {
        assert.ok(error instanceof ObjectStoreError, String(error));
        assert.equal(error.code, 'RXFEED_ERR_OBJECT_NOT_FOUND');
        assert.equal(error.status, 404);
        assert.match(error.message, /no-such-shard\.tar/);
        return true;
      });
    });
  },
);
