import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Db, MongoClient } from 'mongodb';
import { batch } from '../../../operators/batch.js';
import { workerPipeline } from '../../../src/adapters/workerPipeline.js';
import { toLoader } from '../../../src/loader.js';
import { globalShuffle } from '../../../src/sampler.js';
import { fromRandomAccess } from '../../../sources/core/fromRandomAccess.js';
import { fromMongo, type MongoTarget } from '../../../sources/mongodb/index.js';
import { insertGenerated, loadEjson, mongo, requireUri, specClient, specDbName } from '../mongodb/server.js';
import {
  datasetOf,
  MONGO_COUNTS,
  mongoDocuments,
  plainDocument,
  shuffledElements,
  type RandomAccessOptions,
  type watchedMongo,
} from './fixtures/sourcePipelines.js';
import { asMultiset, bothWays, collect, crossed } from './inMainThread.js';
import { ourSocketsTo } from './loopback.js';

const pipelines = new URL('./fixtures/sourcePipelines.js', import.meta.url);

// Light on purpose: the CongoDB emulator stalls under heavy `$in` scans, and other specs share it.
describe('MongoDB sources inside worker pipelines, a client per thread (issue 12)', { skip: mongo.skip }, () => {
  let client: MongoClient;
  let db: Db;
  const dbName = specDbName('workers');
  const target = (collection: string, monitored = false): MongoTarget => ({
    uri: requireUri(),
    db: dbName,
    collection,
    ...(monitored ? { clientOptions: { monitorCommands: true } } : {}),
  });

  before(async () => {
    client = specClient();
    db = client.db(dbName);
    await db.dropDatabase();
    await db.collection('grades').insertMany(loadEjson('grades.json'));
    await insertGenerated(db, 'numbers', 300);
  });
  after(async () => {
    await db?.dropDatabase();
    await client?.close();
  });

  it('issue 12: fromMongo over a { uri, db, collection } target reads the same documents in 2 threads as in the main thread, none lost or twice', async () => {
    const options = { target: target('grades'), pageSize: 50 };
    const documents = await bothWays(pipelines, mongoDocuments, { threads: 2, options });
    assert.equal(documents.length, 280);
    const plain = await collect(await fromMongo(options.target, { getItem: plainDocument }));
    assert.deepEqual(asMultiset(documents), asMultiset(plain.map(crossed)));
  });

  it('issue 12: mongoDataset made in each part, read with a global shuffle in batches, equals the main-thread read exactly', async () => {
    const options: RandomAccessOptions = { dataset: { kind: 'mongo', target: target('numbers') }, batchSize: 8 };
    const inWorkers = await bothWays(pipelines, shuffledElements, { threads: 2, seed: 9, options });
    const dataset = await datasetOf(options.dataset);
    try {
      const plain = await collect(
        fromRandomAccess(dataset, { sampler: globalShuffle({ seed: 9 }), batchSize: 8, endOfEpoch: 'wrap' }).pipe(batch(8)),
      );
      assert.deepEqual(inWorkers, plain.map(crossed));
    } finally {
      await dataset.close();
    }
    assert.equal(inWorkers.length, Math.ceil(300 / 8));
  });

  for (const read of ['fromMongo', 'mongoDataset'] as const) {
    it(`issue 12: a break in a ${read} pipeline returns once every part has killed its cursors and closed its client and connections`, async () => {
      const counts = new Int32Array(new SharedArrayBuffer(3 * 4));
      const collection = read === 'fromMongo' ? 'grades' : 'numbers';
      await using documents = workerPipeline<typeof watchedMongo>(pipelines, 'watchedMongo', {
        threads: 2,
        options: { target: target(collection, true), read, counts },
      });
      const port = Number(new URL(requireUri()).port);
      // This spec's own client keeps its sockets to the server: only the parts' are counted.
      const before = new Set(ourSocketsTo(port));
      let taken = 0;
      for await (const item of toLoader(documents)) {
        assert.equal(typeof (Array.isArray(item) ? item[0] : item)?._id, 'object');
        if (++taken === 3) {
          assert.ok(Atomics.load(counts, MONGO_COUNTS.connections) > 0, 'the parts hold connections while reading');
          if (read === 'fromMongo')
            assert.ok(Atomics.load(counts, MONGO_COUNTS.cursors) > 0, 'the parts hold server cursors while reading');
          break;
        }
      }
      // The sockets themselves, not the driver's pool events: a connection being made when the
      // client closed is destroyed without a 'connectionClosed' event.
      assert.deepEqual(
        ourSocketsTo(port).filter((socket) => !before.has(socket)),
        [],
        'no socket of the parts is open',
      );
      assert.equal(Atomics.load(counts, MONGO_COUNTS.cursors), 0, 'no server cursor of the parts is open');
      assert.equal(Atomics.load(counts, MONGO_COUNTS.clientsClosed), 2, "each thread's client is closed");
      assert.equal(documents.stats().threads, 2, 'the threads are still up: their clients were closed by the parts');
    });
  }
});
