import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { workerPipeline } from '../../../src/adapters/workerPipeline.js';
import { WorkerPipelineError } from '../../../src/adapters/workerErrors.js';
import { toLoader } from '../../../src/loader.js';
import { packTar } from '../../sources/webdataset/tarFixtures.js';
import type { storeShards, StoreAccess } from './fixtures/sourcePipelines.js';
import { fillBucket, ObjectServer, ourSocketsTo, removeBucket, rgwAccess } from './loopback.js';

const pipelines = new URL('./fixtures/sourcePipelines.js', import.meta.url);

/**
 * Four shards of 800 samples (3 KiB each, about 2.5 MB a shard): far more than a part reads ahead
 * of a loop that takes a few samples, so every shard being read has its response in flight.
 */
async function largeShards(): Promise<Map<string, Uint8Array>> {
  const shards = new Map<string, Uint8Array>();
  for (let shard = 0; shard < 4; shard++) {
    const members = [];
    for (let index = 0; index < 800; index++) {
      const key = `s${shard}-${String(index).padStart(4, '0')}`;
      members.push({ name: `${key}.bin`, data: new Uint8Array(3072).fill(index % 256) }, { name: `${key}.cls`, data: String(index % 10) });
    }
    shards.set(`large/shard-${shard}.tar`, await packTar(members));
  }
  return shards;
}

/**
 * Take `count` samples from 2 parts reading `keys` of `store`, then break; answers our sockets to
 * `port` at the break and once the loop returned (the threads still up: closing the pipeline
 * would end them, and their sockets with them).
 */
async function breakAfter(
  store: StoreAccess,
  keys: string[],
  port: number,
  count: number,
): Promise<{ atBreak: string[]; afterLoop: string[] }> {
  await using samples = workerPipeline<typeof storeShards>(pipelines, 'storeShards', { threads: 2, options: { store, keys } });
  let taken = 0;
  let atBreak: string[] = [];
  for await (const sample of toLoader(samples)) {
    assert.equal(typeof sample.__key__, 'string');
    if (++taken === count) {
      atBreak = ourSocketsTo(port);
      break;
    }
  }
  const afterLoop = ourSocketsTo(port);
  assert.equal(samples.stats().threads, 2);
  return { atBreak, afterLoop };
}

describe('worker pipelines release every part socket before the loop returns (issue 12)', () => {
  let server: ObjectServer;
  let shards: Map<string, Uint8Array>;
  before(async () => {
    shards = await largeShards();
    // `connection: close` on every response: no idle keep-alive connection is pooled, so any
    // socket of ours still connected to this server is one a part did not release.
    server = await ObjectServer.start(shards, { closeAfterEach: true });
  });
  after(() => server.close());

  it('issue 12: a break while both parts stream shards over HTTP returns with none of their sockets open', async () => {
    const store: StoreAccess = { kind: 'http', baseUrl: `${server.endpoint}/` };
    const { atBreak, afterLoop } = await breakAfter(store, [...shards.keys()], server.port, 5);
    assert.ok(atBreak.length > 0, 'the parts were streaming when the loop broke');
    assert.deepEqual(afterLoop, []);
  });

  it('issue 12: a part that fails (a missing shard) ends the loop typed, with the other part streaming, and none of their sockets open', async () => {
    const store: StoreAccess = { kind: 'ais', endpoint: server.endpoint, bucket: 'bkt' };
    // Worker 0 streams shards 0 and 2; worker 1 fails at its first, missing shard.
    const keys = ['large/shard-0.tar', 'large/missing.tar', 'large/shard-2.tar', 'large/shard-3.tar'];
    await using samples = workerPipeline<typeof storeShards>(pipelines, 'storeShards', { threads: 2, options: { store, keys } });
    await assert.rejects(
      (async () => {
        for await (const sample of toLoader(samples)) assert.equal(typeof sample.__key__, 'string');
      })(),
      (error: unknown) => {
        assert.ok(error instanceof WorkerPipelineError, String(error));
        assert.equal(error.workerIndex, 1);
        assert.equal(error.remoteCode, 'RXFEED_ERR_OBJECT_NOT_FOUND');
        assert.match(error.message, /missing\.tar/);
        return true;
      },
    );
    assert.deepEqual(ourSocketsTo(server.port), []);
  });

  it('issue 12: an abort of the loop while both parts stream returns with none of their sockets open', async () => {
    const store: StoreAccess = { kind: 'http', baseUrl: `${server.endpoint}/` };
    await using samples = workerPipeline<typeof storeShards>(pipelines, 'storeShards', {
      threads: 2,
      options: { store, keys: [...shards.keys()] },
    });
    const abort = new AbortController();
    let taken = 0;
    let atAbort: string[] = [];
    await assert.rejects(
      (async () => {
        for await (const sample of toLoader(samples, { signal: abort.signal })) {
          assert.equal(typeof sample.__key__, 'string');
          if (++taken === 5) {
            atAbort = ourSocketsTo(server.port);
            abort.abort(new Error('stop'));
          }
        }
      })(),
      (error: unknown) => (error as { code?: string }).code === 'RXFEED_ERR_ABORTED',
    );
    assert.ok(atAbort.length > 0, 'the parts were streaming when the loop was aborted');
    assert.deepEqual(ourSocketsTo(server.port), []);
  });
});

const rgw = rgwAccess('rxfeed-release');

describe(
  'worker pipelines release every part socket to S3 (Ceph RGW) before the loop returns (issue 12)',
  { skip: rgw === undefined ? 'RXFEED_S3_ENDPOINT not set' : false },
  () => {
    const access = rgw!;
    const keys: string[] = [];
    before(async () => {
      keys.push(...(await fillBucket(access, await largeShards())));
    });
    after(() => removeBucket(access, keys));

    it('issue 12: a break while both parts stream shards from RGW returns with no new socket of ours to it open', async () => {
      const port = Number(new URL(access.endpoint).port);
      // This thread's own idle keep-alive connections (from the uploads) may still be pooled here:
      // only the sockets the parts opened must be gone.
      const before = new Set(ourSocketsTo(port));
      const { atBreak, afterLoop } = await breakAfter(access, keys, port, 5);
      assert.ok(atBreak.filter((socket) => !before.has(socket)).length > 0, 'the parts were streaming when the loop broke');
      assert.deepEqual(
        afterLoop.filter((socket) => !before.has(socket)),
        [],
      );
    });
  },
);
