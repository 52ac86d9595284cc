import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Db, Document, MongoClient } from 'mongodb';
import { lastValueFrom, map, take, toArray } from 'rxjs';
import { bindContext, epochs, Flow, toLoader } from '../../../src/index.js';
import { fromMongo, mongoClientStats, MongoWriteError, tapWrite, type MongoTarget } from '../../../sources/mongodb/index.js';
import { insertGenerated, mongo, requireUri, specClient, specDbName } from './server.js';

const COUNT = 1000;

describe('tapWrite: batched, idempotent write-back', { skip: mongo.skip }, () => {
  let client: MongoClient;
  let db: Db;
  const dbName = specDbName('tap_write');
  let target: MongoTarget;

  before(async () => {
    client = specClient();
    db = client.db(dbName);
    await db.dropDatabase();
    await insertGenerated(db, 'samples', COUNT);
    target = { uri: requireUri(), db: dbName, collection: 'samples' };
  });

  after(async () => {
    await db?.dropDatabase();
    await client?.close();
  });

  /** The epoch's pipeline: read every sample, "predict", write the prediction and count the visit. */
  const run = async (epoch: number, stopAfter?: number): Promise<number> => {
    const dataset = await fromMongo(target, { projection: { i: 1 }, pageSize: 128 });
    const scored = dataset.pipe(
      map((document: Document) => ({ id: document._id, prediction: (document.i as number) * 2 })),
      tapWrite(target, {
        name: 'eval',
        epoch,
        batchSize: 100,
        maxInFlight: 2,
        update: (item) => ({ id: item.id, update: { $set: { prediction: item.prediction }, $inc: { visits: 1 } } }),
      }),
    );
    let seen = 0;
    for await (const _item of toLoader(scored)) {
      seen += 1;
      if (seen === stopAfter) break; // the "crash": the loop stops, buffered writes are flushed
    }
    return seen;
  };

  it('writes every update once per epoch, across a simulated restart', async () => {
    // Epoch 0 stops after 437 items: what was buffered is flushed before the break returns.
    assert.equal(await run(0, 437), 437);
    const partial = await db.collection('samples').countDocuments({ visits: 1 });
    assert.ok(partial >= 437, `at least the delivered items were written (${partial})`);
    assert.deepEqual(mongoClientStats(), []);

    // The restarted run reads epoch 0 again from the start: already-written samples are skipped.
    assert.equal(await run(0), COUNT);
    const documents = await db.collection('samples').find({}).toArray();
    assert.equal(documents.length, COUNT);
    for (const document of documents) {
      assert.equal(document.visits, 1, `sample ${document.i} written once in epoch 0`);
      assert.equal(document.prediction, (document.i as number) * 2);
      assert.equal((document.rxfeed as Document).writes.eval, 0);
    }

    // Epoch 1 writes again, once.
    assert.equal(await run(1), COUNT);
    assert.equal(await db.collection('samples').countDocuments({ visits: 2 }), COUNT);
    assert.deepEqual(mongoClientStats(), []);
  });

  it('completes only after every write is acknowledged, and flushes on unsubscribe', async () => {
    const writes = new Flow();
    const source = (await fromMongo(target, { projection: { i: 1 } })).pipe(
      tapWrite(target, {
        name: 'flag',
        epoch: 7,
        batchSize: 64,
        update: (d: Document) => ({ id: d._id, update: { $set: { flagged: true } } }),
      }),
    );
    const all = await lastValueFrom(source.pipe(toArray()));
    assert.equal(all.length, COUNT);
    assert.equal(await db.collection('samples').countDocuments({ flagged: true }), COUNT);

    // take(10) under a Flow: the 10 updates are flushed on unsubscribe, and the Flow tracks it.
    const partial = (await fromMongo(target, { projection: { i: 1 } })).pipe(
      tapWrite(target, {
        name: 'partial',
        epoch: 0,
        batchSize: 1000,
        update: (d: Document) => ({ id: d._id, update: { $set: { early: true } } }),
      }),
      take(10),
      toArray(),
    );
    await new Promise<void>((resolve, reject) => {
      bindContext({ flow: writes, epoch: 0 }, () => partial.subscribe({ complete: resolve, error: reject }));
    });
    await writes.released();
    assert.equal(await db.collection('samples').countDocuments({ early: true }), 10);
    assert.deepEqual(mongoClientStats(), []);
  });

  it('a rejected update fails the pipeline with a typed error naming the collection', async () => {
    const source = (await fromMongo(target, { projection: { i: 1 } })).pipe(
      tapWrite(target, { name: 'bad', batchSize: 10, update: (d: Document) => ({ id: d._id, update: { $inc: { name: 1 } } }) }),
    );
    await assert.rejects(lastValueFrom(source), (error: unknown) => {
      assert.ok(error instanceof MongoWriteError, String(error));
      assert.equal(error.code, 'RXFEED_ERR_MONGO_WRITE');
      assert.equal(error.namespace, `${dbName}.samples`);
      return true;
    });
  });

  it('issue 10.3: placed after epochs(), it writes each epoch once, with that epoch as marker', async () => {
    const dataset = await fromMongo(target, { projection: { i: 1 } });
    const written = dataset.pipe(
      epochs(3),
      tapWrite(target, {
        name: 'each_epoch',
        batchSize: 100,
        update: (document: Document) => ({ id: document._id, update: { $inc: { epochVisits: 1 } } }),
      }),
    );
    let seen = 0;
    for await (const _ of toLoader(written)) seen++;
    assert.equal(seen, 3 * COUNT);
    const documents = await db.collection('samples').find({}).toArray();
    for (const document of documents) {
      assert.equal(document.epochVisits, 3, `sample ${document.i} written once in each of 3 epochs`);
      assert.equal(((document.rxfeed as Document).writes as Document).each_epoch, 2);
    }
    assert.deepEqual(mongoClientStats(), []);
  });
});
