import assert from 'node:assert/strict';
import { subscribe as subscribeChannel, unsubscribe as unsubscribeChannel } from 'node:diagnostics_channel';
import { after, before, describe, it } from 'node:test';
import { BSON, type Db, type Document, type MongoClient } from 'mongodb';
import { lastValueFrom, toArray } from 'rxjs';
import { DatasetClosedError } from '../../../sources/core/randomAccess.js';
import { IdList } from '../../../sources/mongodb/idList.js';
import {
  acquireMongoClient,
  fromMongo,
  MONGO_RETRY_CHANNEL,
  mongoClientsClosed,
  mongoClientStats,
  mongoDataset,
  MongoCollectionNotFoundError,
  MongoDecodeError,
  MongoDocumentMissingError,
  type FromMongoOptions,
  type MongoTarget,
} from '../../../sources/mongodb/index.js';
import { fromRandomAccess, globalShuffle, InvalidArgumentError, orderOf, permutation } from '../../../src/index.js';
import { CuttableProxy, generatedId, insertGenerated, loadEjson, mongo, requireUri, specClient, specDbName } from './server.js';
import { readShuffled } from '../../src/readShuffled.js';

async function sequential<T>(target: MongoTarget, options: FromMongoOptions<T> = {}): Promise<T[]> {
  return lastValueFrom((await fromMongo(target, options)).pipe(toArray()));
}

describe('mongoDataset against a MongoDB server (RXFEED_MONGODB_URI)', { skip: mongo.skip }, () => {
  let client: MongoClient;
  let db: Db;
  let uri: string;
  const dbName = specDbName('random_access');
  const grades = loadEjson('grades.json');
  const target = (collection: string): MongoTarget => ({ uri, db: dbName, collection });
  // CongoDB answers a `$in` by scanning every document and comparing each with every id asked: 11 s
  // for 256 ids over 100k documents, during which it answers no other spec. So the `$in` blocks run
  // over a thousand documents, and the 100k view is read in blocks of neighbours (`_id` ranges).
  const BIG = 100_000;
  const MEDIUM = 1000;

  before(async () => {
    uri = requireUri();
    client = specClient();
    db = client.db(dbName);
    await db.dropDatabase();
    await db.collection('grades').insertMany(grades);
    await insertGenerated(db, 'big', BIG);
    await insertGenerated(db, 'medium', MEDIUM);
  });

  after(async () => {
    await db?.dropDatabase();
    await client?.close();
  });

  it('issue 11: every element of a view read in a seeded permutation equals fromMongo item for item', async () => {
    const expected = await sequential(target('medium'));
    const dataset = await mongoDataset(target('medium'));
    assert.equal(dataset.size, MEDIUM);
    assert.deepStrictEqual(await readShuffled(dataset, 11, 512), expected);
    // Asked twice and out of order: answered in the order asked.
    assert.deepStrictEqual(await dataset.read([7, 999, 7, 0]), [expected[7], expected[999], expected[7], expected[0]]);
    await dataset.close();
    assert.deepEqual(mongoClientStats(), []);
  });

  it('issue 11: all 100k documents of the view, read in a global shuffle through fromRandomAccess, equal fromMongo item for item', async () => {
    const expected = await sequential(target('big'));
    // One read of the whole epoch: its distinct indices, sorted, are 4 blocks of 25k neighbours,
    // each one `_id` range query (CongoDB scans the collection per query; a real server seeks its index).
    const dataset = await mongoDataset(target('big'), { blockSize: 25_000 });
    assert.equal(dataset.size, BIG);
    const sampler = globalShuffle({ seed: 21 });
    const shuffled = await lastValueFrom(fromRandomAccess(dataset, { sampler, readSize: BIG, readsInFlight: 1 }).pipe(toArray()));
    const order = orderOf(sampler, BIG, 0);
    assert.equal(shuffled.length, BIG);
    for (let position = 0; position < BIG; position++) assert.deepStrictEqual(shuffled[position], expected[order.at(position)]);
    await dataset.close();
  });

  it('issue 11: filtered, sorted and projected views of the real data, with getItem, read as fromMongo', async () => {
    const views: FromMongoOptions<Document>[] = [
      {
        filter: { class_id: { $lt: 5 } },
        sort: { student_id: -1 },
        projection: { _id: 0, class_id: 1, student_id: 1 },
        getItem: (document, index) => ({ ...document, index }),
      },
      {
        pipeline: [{ $match: { class_id: { $gte: 3 } } }, { $addFields: { exams: { $size: '$scores' } } }],
        sort: { exams: 1, class_id: -1 },
      },
      { sort: { _id: -1 }, projection: { scores: 0 } },
    ];
    for (const options of views) {
      const expected = await sequential(target('grades'), options);
      const dataset = await mongoDataset(target('grades'), { ...options, blockSize: 16, concurrency: 3 });
      assert.equal(dataset.size, expected.length);
      assert.ok(expected.length > 20);
      assert.deepStrictEqual(await readShuffled(dataset, 5, 40), expected);
      await dataset.close();
    }
  });

  it('issue 11: a view whose _ids are not ObjectIds (strings set by the pipeline) reads as fromMongo', async () => {
    const options = { pipeline: [{ $match: { i: { $lt: 300 } } }, { $project: { _id: '$name', i: 1, label: 1 } }] };
    const expected = await sequential(target('medium'), options);
    const dataset = await mongoDataset(target('medium'), options);
    assert.equal(dataset.size, 300);
    assert.deepStrictEqual(await readShuffled(dataset, 3, 64), expected);
    await dataset.close();
  });

  it('issue 11: a getItem that throws fails the read with a MongoDecodeError naming the document, its cause that very error; close() still releases the client', async () => {
    const boom = new Error('getItem');
    const dataset = await mongoDataset(target('grades'), {
      getItem: (): never => {
        throw boom;
      },
    });
    const decodeFailure = (error: unknown): boolean => error instanceof MongoDecodeError && error.cause === boom;
    try {
      await assert.rejects(dataset.read([2, 0]), decodeFailure);
      await assert.rejects(lastValueFrom(fromRandomAccess(dataset).pipe(toArray())), decodeFailure);
    } finally {
      await dataset.close();
    }
    assert.deepEqual(mongoClientStats(), []);
  });

  it('issue 11: a document deleted after the dataset was made fails the read with MongoDocumentMissingError naming it', async () => {
    await insertGenerated(db, 'deletable', 50);
    const dataset = await mongoDataset(target('deletable'));
    await db.collection('deletable').deleteOne({ _id: generatedId(17) });
    await assert.rejects(dataset.read([3, 17, 40]), (error: unknown) => {
      assert.ok(error instanceof MongoDocumentMissingError, String(error));
      assert.equal(error.code, 'RXFEED_ERR_MONGO_MISSING');
      assert.equal(error.documentId, BSON.EJSON.stringify(generatedId(17), { relaxed: true }));
      assert.equal(error.index, 17);
      assert.equal(error.namespace, `${dbName}.deletable`);
      return true;
    });
    // The other documents still read.
    assert.deepEqual(
      (await dataset.read([40, 3])).map((document) => document.i as number),
      [40, 3],
    );
    await dataset.close();
  });

  it('issue 11: close() releases the shared client, waits for the read in flight; reads after it fail typed', async () => {
    const one = await mongoDataset(target('medium'), { blockSize: 2, concurrency: 1 });
    const two = await mongoDataset(target('grades'));
    assert.deepEqual(
      mongoClientStats().map((stats) => stats.refs),
      [2],
    );
    // Three blocks: the first is in flight when close() is called, the others never start.
    const reading = one.read([0, 1, 2, 3, 4, 5], undefined);
    const closing = one.close();
    await assert.rejects(reading, DatasetClosedError);
    await closing;
    assert.equal(one.close(), closing, 'close is idempotent');
    await assert.rejects(
      one.read([0]),
      (error: unknown) => error instanceof DatasetClosedError && error.code === 'RXFEED_ERR_DATASET_CLOSED',
    );
    assert.deepEqual(
      mongoClientStats().map((stats) => stats.refs),
      [1],
    );
    await two[Symbol.asyncDispose]();
    assert.deepEqual(mongoClientStats(), []);
    await mongoClientsClosed();

    // A driver Collection's client is the caller's: close() leaves it open.
    const own = await mongoDataset(db.collection('grades'));
    await own.close();
    assert.deepEqual(mongoClientStats(), []);
    assert.equal(await db.collection('grades').countDocuments(), grades.length);
  });

  it('issue 11: a block lost to the network is read again (the view retries), and the answer is whole', async () => {
    const proxy = await CuttableProxy.start(uri);
    const retries: number[] = [];
    const onRetry = (message: unknown): void => {
      retries.push((message as { attempt: number }).attempt);
    };
    subscribeChannel(MONGO_RETRY_CHANNEL, onRetry);
    // retryReads off: the driver's own single retry would hide the loss from rxfeed's retry.
    const clientOptions = { monitorCommands: true, retryReads: false, appName: 'rxfeed-random-access-net-spec' };
    const lease = acquireMongoClient(proxy.uri(uri), clientOptions);
    let finds = 0;
    lease.client.on('commandStarted', (event) => {
      // Cut the network as the 2nd block query goes out (the 1st find lists the _ids).
      if (event.commandName === 'find' && ++finds === 3) proxy.cut();
    });
    const expected = await sequential(target('grades'));
    // One block in flight at a time: the cut loses exactly one query.
    const dataset = await mongoDataset(
      { ...target('grades'), uri: proxy.uri(uri), clientOptions },
      { blockSize: 50, concurrency: 1, retryDelayMs: 10 },
    );
    try {
      const indices = Array.from(permutation(dataset.size, 8));
      const read = await dataset.read(indices);
      assert.deepStrictEqual(
        read,
        indices.map((index) => expected[index]),
      );
      assert.equal(finds, 1 + Math.ceil(dataset.size / 50) + 1);
      assert.deepEqual(retries, [1]);
    } finally {
      await dataset.close();
      unsubscribeChannel(MONGO_RETRY_CHANNEL, onRetry);
      await lease.release();
      await proxy.close();
    }
    assert.deepEqual(mongoClientStats(), []);
  });

  it('issue 11: bad indices, bad options and a missing collection fail typed; nothing stays leased', async () => {
    const dataset = await mongoDataset(target('grades'), { blockSize: 2 });
    for (const indices of [[grades.length], [-1], [0.5], 'abc']) {
      await assert.rejects(dataset.read(indices as number[]), InvalidArgumentError, String(indices));
    }
    await dataset.close();
    await assert.rejects(mongoDataset(target('grades'), { blockSize: 0 }), { argument: 'mongoDataset.blockSize' });
    await assert.rejects(mongoDataset(target('grades'), { concurrency: 1.5 }), { argument: 'mongoDataset.concurrency' });
    await assert.rejects(mongoDataset(target('grades'), { sort: { x: 2 } }), { argument: 'mongoDataset.sort' });
    await assert.rejects(mongoDataset(target('nope')), MongoCollectionNotFoundError);
    assert.deepEqual(mongoClientStats(), []);
  });
});

describe('IdList: the _id list of a mongoDataset', () => {
  it('issue 11: packs ObjectIds 12 bytes each, and turns into a plain array at the first other id', () => {
    const list = new IdList();
    const ids = Array.from({ length: 10_000 }, (_, i) => generatedId(i));
    for (const id of ids) list.push(id);
    assert.equal(list.length, 10_000);
    assert.equal(list.packed, true);
    // Two chunks of 8192 ids: 12 bytes per id, plus what the last chunk has not filled yet.
    assert.equal(list.byteLength, 2 * 8192 * 12);
    assert.deepEqual(list.slice(8190, 8194), ids.slice(8190, 8194));
    assert.ok(list.at(9999) instanceof BSON.ObjectId);
    list.push(42);
    list.push('name');
    assert.equal(list.packed, false);
    assert.deepEqual(list.slice(0, list.length), [...ids, 42, 'name']);
  });
});
