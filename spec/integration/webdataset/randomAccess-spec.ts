import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer, request, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { toLoader } from '../../../src/loader.js';
import { blockShuffle, orderOf } from '../../../src/sampler.js';
import { fromRandomAccess } from '../../../sources/core/fromRandomAccess.js';
import type { S3Store } from '../../../sources/objectstore/index.js';
import { fromWebDataset, SampleIndexError, webDatasetIndexed, widsDescriptor } from '../../../sources/webdataset/index.js';
import { sharedWebDataset } from '../../sources/webdataset/tarFixtures.js';
import { rgwStore, serverEnv } from '../objectstore/servers.js';
import { publishToNginx, readAll } from './shards.js';
import { readShuffled } from '../../src/readShuffled.js';

// Random access over WebDataset shards served by nginx (scripts/start-nginx.sh) and Ceph RGW
// (scripts/start-rgw.sh): what a read of indices gives must be what the stream gives at them.
const http = serverEnv(['RXFEED_HTTP_ENDPOINT'], 'scripts/start-nginx.sh');
const s3 = serverEnv(['RXFEED_S3_ENDPOINT', 'RXFEED_S3_ACCESS_KEY', 'RXFEED_S3_SECRET_KEY', 'RXFEED_S3_REGION'], 'scripts/start-rgw.sh');
/** The shared plain-tar shards (sample.tgz is gzip: streamed only). */
const SHARED = ['testgz.tar', 'compressed.tar'];

describe(
  'webDatasetIndexed over HTTP from nginx',
  { skip: http === undefined ? 'RXFEED_HTTP_ENDPOINT not set (scripts/start-nginx.sh)' : false },
  () => {
    const endpoint = http?.RXFEED_HTTP_ENDPOINT ?? '';
    const urls = SHARED.map((name) => `${endpoint}/shared/webdataset/${name}`);

    /** A loopback proxy in front of nginx that records each request's method and Range header. */
    const seen: { method: string; path: string; range: string | undefined }[] = [];
    const proxy = createServer((incoming, outgoing) => {
      seen.push({ method: incoming.method ?? '', path: incoming.url ?? '', range: incoming.headers.range });
      const upstream = new URL(endpoint);
      const headers: IncomingHttpHeaders = { ...incoming.headers, host: upstream.host };
      const forwarded = request(new URL(incoming.url ?? '/', upstream), { method: incoming.method, headers }, (answer) => {
        outgoing.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(outgoing);
      });
      forwarded.on('error', () => outgoing.destroy());
      incoming.pipe(forwarded);
    });
    let proxied = '';
    const folder = `wds-ra-${randomBytes(4).toString('hex')}`;
    let published: ReturnType<typeof publishToNginx>;
    before(async () => {
      await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
      proxied = `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`;
      published = publishToNginx(folder, [
        // Relative URLs, resolved against the descriptor's own URL as wids does.
        {
          name: 'dataset.json',
          bytes: Buffer.from(
            JSON.stringify({
              wids_version: 1,
              shardlist: [
                { url: '../../shared/webdataset/testgz.tar', nsamples: 1000 },
                { url: '/shared/webdataset/compressed.tar', nsamples: 3 },
              ],
            }),
          ),
        },
        {
          name: 'elsewhere.json',
          bytes: Buffer.from(
            JSON.stringify({
              wids_version: 1,
              shardlist: [{ url: `${endpoint.replace('127.0.0.1', 'localhost')}/shared/webdataset/compressed.tar`, nsamples: 3 }],
            }),
          ),
        },
      ]);
    });
    after(async () => {
      published.remove();
      proxy.closeAllConnections();
      await new Promise((resolve) => proxy.close(resolve));
    });

    it('issue 11: random reads of the shared shards over HTTP equal fromWebDataset item for item', async () => {
      const dataset = await webDatasetIndexed(urls);
      assert.deepEqual(dataset.layout, { shardEnds: [1000, 1003], shardNames: urls });
      assert.deepEqual(await readShuffled(dataset, 21), await readAll(fromWebDataset(urls)));
      await dataset.close();
    });

    it('issue 11: reading one sample from a store is ONE Range GET; a run of neighbours is one too', async () => {
      const url = `${proxied}/shared/webdataset/testgz.tar`;
      const dataset = await webDatasetIndexed(url);
      assert.deepEqual(
        seen.map(({ method, range }) => [method, range === undefined || range === 'bytes=0-']),
        [['GET', true]],
        'the index is built by one streamed GET',
      );
      const expected = await readAll(fromWebDataset(url));
      seen.length = 0;
      assert.deepEqual(await dataset.read([417]), [expected[417]]);
      assert.equal(seen.length, 1);
      assert.equal(seen[0]!.method, 'GET');
      assert.match(seen[0]!.range ?? '', /^bytes=\d+-\d+$/);
      seen.length = 0;
      assert.deepEqual(
        await dataset.read([12, 10, 11, 13, 14]),
        [12, 10, 11, 13, 14].map((index) => expected[index]),
      );
      assert.equal(seen.length, 1);
      assert.match(seen[0]!.range ?? '', /^bytes=\d+-\d+$/);
      await dataset.close();
    });

    it('issue 11: with cacheShards, a block shuffle fetches each shard once per epoch, and equals the stream item for item', async () => {
      const shardUrls = [`${proxied}/shared/webdataset/testgz.tar`, `${proxied}/shared/webdataset/compressed.tar`];
      const expected = await readAll(fromWebDataset(shardUrls));
      const dataset = await webDatasetIndexed(shardUrls, { cacheShards: 1 });
      const sampler = blockShuffle({ seed: 4, shardsPerBlock: 1 });
      for (const epoch of [0, 1]) {
        seen.length = 0;
        const loader = toLoader(fromRandomAccess(dataset, { sampler, readSize: 16 }));
        loader.epoch = epoch;
        const samples = await readAll(loader);
        const order = orderOf(sampler, dataset.size, epoch, dataset.layout!.shardEnds);
        assert.deepEqual(
          samples,
          samples.map((_, position) => expected[order.at(position)]),
        );
        // At most one GET per shard per epoch (the first epoch fetches each; a shard still cached
        // from the epoch before is not fetched again), where uncached reads make one per run.
        const paths = seen.map(({ method, path }) => `${method} ${path}`);
        assert.equal(new Set(paths).size, paths.length, `a shard fetched twice: ${paths.join(', ')}`);
        if (epoch === 0) assert.deepEqual(paths.sort(), ['GET /shared/webdataset/compressed.tar', 'GET /shared/webdataset/testgz.tar']);
      }
      seen.length = 0;
      await dataset.close();
      const uncached = await webDatasetIndexed(shardUrls);
      seen.length = 0;
      await readAll(fromRandomAccess(uncached, { sampler, readSize: 16 }));
      assert.ok(seen.length > 100, `uncached: ${seen.length} GETs`);
      await uncached.close();
    });

    it('issue 11: a wids descriptor served by nginx gives the layout and the same samples', async () => {
      const dataset = await webDatasetIndexed({ wids: `${endpoint}/www/${folder}/dataset.json` });
      assert.deepEqual(dataset.layout, { shardEnds: [1000, 1003], shardNames: urls });
      assert.deepEqual(widsDescriptor(dataset.layout!).shardlist, [
        { url: urls[0], nsamples: 1000 },
        { url: urls[1], nsamples: 3 },
      ]);
      assert.deepEqual(await readShuffled(dataset, 4), await readAll(fromWebDataset(urls)));
    });

    it('issue 11: a served wids descriptor naming another origin fails typed before anything is fetched there', async () => {
      const file = `${endpoint}/www/${folder}/elsewhere.json`;
      await assert.rejects(webDatasetIndexed({ wids: file }), (error: unknown) => {
        assert.ok(error instanceof SampleIndexError, String(error));
        assert.equal(error.file, file);
        assert.equal(error.entry, 'shardlist[0].url');
        return true;
      });
    });
  },
);

describe(
  'webDatasetIndexed from S3 (Ceph RGW)',
  { skip: s3 === undefined ? 'RXFEED_S3_ENDPOINT not set (scripts/start-rgw.sh)' : false },
  () => {
    const bucket = `rxfeed-wds-ra-${Date.now().toString(36)}-${randomBytes(3).toString('hex')}`;
    let store: S3Store;
    const keys = SHARED.map((name) => `shared/${name}`);
    before(async () => {
      store = rgwStore(s3!, bucket);
      await store.createBucket();
      for (const name of SHARED) await store.put(`shared/${name}`, readFileSync(join(sharedWebDataset, name)));
    });

    it('issue 11: random reads of the shared shards from a bucket equal fromWebDataset item for item', async () => {
      const dataset = await webDatasetIndexed({ store, keys });
      assert.deepEqual(dataset.layout, { shardEnds: [1000, 1003], shardNames: keys.map((key) => store.open(key).name) });
      assert.deepEqual(await readShuffled(dataset, 8), await readAll(fromWebDataset({ store, keys })));
      const byPrefix = await webDatasetIndexed({ store, prefix: 'shared/' });
      assert.equal(byPrefix.size, 1003);
      await Promise.all([dataset.close(), byPrefix.close()]);
    });
  },
);
