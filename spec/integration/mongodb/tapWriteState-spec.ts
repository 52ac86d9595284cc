import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { BSON, type Db, type Document, type MongoClient } from 'mongodb';
import { map } from 'rxjs';
import { toLoader, type LoaderState } from '../../../src/index.js';
import { fromMongo, tapWrite, type MongoTarget } from '../../../sources/mongodb/index.js';
import { insertGenerated, mongo, requireUri, specClient, specDbName } from './server.js';

const COUNT = 600;

describe('tapWrite in a loader state (issue 13)', { skip: mongo.skip }, () => {
  let client: MongoClient;
  let db: Db;
  const dbName = specDbName('tap_write_state');
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

  const scored = async (state?: LoaderState) => {
    const dataset = await fromMongo(target, { projection: { i: 1 }, pageSize: 64 });
    const pipeline = dataset.pipe(
      map((document: Document) => ({ id: document._id, i: document.i as number })),
      tapWrite(target, {
        name: 'eval',
        epoch: 0,
        batchSize: 50,
        maxInFlight: 2,
        update: (item) => ({ id: item.id, update: { $set: { prediction: item.i * 2 }, $inc: { visits: 1 } } }),
      }),
    );
    return toLoader(pipeline, { state });
  };

  it('issue 13: a resumed loader writes the updates not acknowledged at the checkpoint first, so every received item keeps its write', async () => {
    const first = await scored();
    const received: number[] = [];
    let saved: LoaderState | undefined;
    for await (const item of first) {
      received.push(item.i);
      if (received.length === 237) {
        saved = JSON.parse(JSON.stringify(first.state())) as LoaderState;
        break;
      }
    }
    const part = Object.entries(saved!.parts).find(([key]) => key.startsWith('tapWrite#'))![1] as { pending: Document[] };
    assert.ok(part.pending.length > 0, 'the checkpoint caught updates not yet acknowledged');
    // The crash: the updates pending at the checkpoint never reached the server.
    const pending = BSON.EJSON.deserialize(part.pending) as Document[];
    const lost = pending.map((operation) => ((operation.updateOne as Document).filter as Document)._id as BSON.ObjectId);
    await db.collection('samples').updateMany({ _id: { $in: lost } }, { $unset: { visits: '', prediction: '', 'rxfeed.writes.eval': '' } });
    const lostCount = await db.collection('samples').countDocuments({ visits: { $exists: false }, i: { $in: received } });
    assert.ok(lostCount > 0, `some received items lost their write (${lostCount})`);

    const resumed = await scored(saved);
    for await (const item of resumed) received.push(item.i);
    assert.deepEqual(
      [...received].sort((a, b) => a - b),
      Array.from({ length: COUNT }, (_, i) => i),
      'every sample received exactly once across the restart',
    );
    const documents = await db.collection('samples').find({}).toArray();
    assert.equal(documents.length, COUNT);
    for (const document of documents) {
      assert.equal(document.visits, 1, `sample ${document.i} written once`);
      assert.equal(document.prediction, (document.i as number) * 2);
    }
  });
});
