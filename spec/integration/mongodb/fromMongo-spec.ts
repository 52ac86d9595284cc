import assert from 'node:assert/strict';
import { subscribe as subscribeChannel, unsubscribe as unsubscribeChannel } from 'node:diagnostics_channel';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { BSON, type CommandSucceededEvent, type Db, type Document, type MongoClient } from 'mongodb';
import { firstValueFrom, lastValueFrom, take, toArray } from 'rxjs';
import { bindContext, Flow, infoOf, sizeOf, toLoader } from '../../../src/index.js';
import {
  fromMongo,
  MONGO_RETRY_CHANNEL,
  MongoCollectionNotFoundError,
  MongoQueryError,
  mongoClientStats,
  type MongoTarget,
} from '../../../sources/mongodb/index.js';
import { CuttableProxy, loadEjson, mongo, requireUri, specClient, specDbName } from './server.js';

const ids = (documents: readonly Document[]): string[] => documents.map((d) => (d._id as BSON.ObjectId).toHexString());
const sortedIds = (documents: readonly Document[]): string[] => ids(documents).sort();

describe('fromMongo against a MongoDB server (RXFEED_MONGODB_URI)', { skip: mongo.skip }, () => {
  let client: MongoClient;
  let db: Db;
  let uri: string;
  const dbName = specDbName('from_mongo');
  const files = { grades: loadEjson('grades.json'), students: loadEjson('students.json'), products: loadEjson('products.json') };
  const target = (collection: string, extra: Partial<MongoTarget> = {}): MongoTarget => ({ uri, db: dbName, collection, ...extra });

  before(async () => {
    uri = requireUri();
    client = specClient();
    db = client.db(dbName);
    await db.dropDatabase();
    for (const [name, documents] of Object.entries(files)) await db.collection(name).insertMany(documents);
  });

  after(async () => {
    await db?.dropDatabase();
    await client?.close();
  });

  it('reads every document of the real data once, in _id order, with the exact size', async () => {
    for (const [name, documents] of Object.entries(files)) {
      const dataset = await fromMongo(target(name), { pageSize: 64 });
      assert.equal(sizeOf(dataset), documents.length, name);
      const read = await lastValueFrom(dataset.pipe(toArray()));
      assert.deepEqual(ids(read), sortedIds(documents), name);
      // Whole documents come back as they were exported (products.json's string ids kept in sourceId).
      const byId = new Map(documents.map((d) => [(d._id as BSON.ObjectId).toHexString(), d]));
      for (const document of read) {
        assert.deepEqual(BSON.EJSON.serialize(document), BSON.EJSON.serialize(byId.get((document._id as BSON.ObjectId).toHexString())!));
      }
    }
    assert.deepEqual(mongoClientStats(), []);
  });

  it('applies filter, projection and getItem; excluding _id still pages by it', async () => {
    const classTwo = files.grades.filter((d) => d.class_id === 2);
    const dataset = await fromMongo(target('grades'), {
      filter: { class_id: 2 },
      projection: { _id: 0, student_id: 1 },
      getItem: (document, index) => ({ student: document.student_id as number, index, hasId: '_id' in document }),
      pageSize: 5,
    });
    assert.equal(sizeOf(dataset), classTwo.length);
    const read = await lastValueFrom(dataset.pipe(toArray()));
    const expected = [...classTwo]
      .sort((a, b) => ((a._id as BSON.ObjectId).toHexString() < (b._id as BSON.ObjectId).toHexString() ? -1 : 1))
      .map((d, index) => ({ student: d.student_id as number, index, hasId: false }));
    assert.deepEqual(read, expected);
  });

  it('reads an aggregation view, sized by $count', async () => {
    const pipeline = [{ $match: { class_id: { $lt: 5 } } }, { $addFields: { examCount: { $size: '$scores' } } }];
    const dataset = await fromMongo(target('grades'), { pipeline, pageSize: 17 });
    const expected = files.grades.filter((d) => (d.class_id as number) < 5);
    assert.equal(sizeOf(dataset), expected.length);
    const read = await lastValueFrom(dataset.pipe(toArray()));
    assert.deepEqual(ids(read), sortedIds(expected));
    for (const document of read) assert.equal(document.examCount, (document.scores as unknown[]).length);
  });

  it('orders by a custom sort through an id list and $in blocks', async () => {
    // Numeric keys with ties (broken by _id): string order differs between servers (CongoDB uses
    // localeCompare, MongoDB binary order without a collation).
    const dataset = await fromMongo(target('grades'), { sort: { student_id: -1 }, pageSize: 30 });
    const read = await lastValueFrom(dataset.pipe(toArray()));
    const hex = (d: Document): string => (d._id as BSON.ObjectId).toHexString();
    const expected = [...files.grades].sort((a, b) =>
      a.student_id !== b.student_id ? (b.student_id as number) - (a.student_id as number) : hex(a) < hex(b) ? -1 : 1,
    );
    assert.deepEqual(ids(read), ids(expected));
    // selectRange over the sorted order.
    const middle = await lastValueFrom(infoOf(dataset).selectRange!(50, 75).pipe(toArray()));
    assert.deepEqual(ids(middle), ids(expected.slice(50, 75)));
  });

  it('selectRange reads exactly elements [start, end) of the _id order, and ranges tile the view', async () => {
    const dataset = await fromMongo(target('grades'), { pageSize: 40 });
    const expected = sortedIds(files.grades);
    const cuts = [0, 1, 39, 40, 41, 199, 280];
    const parts: string[] = [];
    for (let k = 0; k + 1 < cuts.length; k++) {
      const part = infoOf(dataset).selectRange!(cuts[k]!, cuts[k + 1]!);
      assert.equal(sizeOf(part), cuts[k + 1]! - cuts[k]!);
      const read = ids(await lastValueFrom(part.pipe(toArray())));
      assert.deepEqual(read, expected.slice(cuts[k], cuts[k + 1]));
      parts.push(...read);
    }
    assert.deepEqual(parts, expected);
    assert.deepEqual(await lastValueFrom(infoOf(dataset).selectRange!(280, 300).pipe(toArray())), []);
  });

  it('fails with a typed error naming a missing collection', async () => {
    await assert.rejects(fromMongo(target('no_such_collection')), (error: unknown) => {
      assert.ok(error instanceof MongoCollectionNotFoundError);
      assert.equal(error.code, 'RXFEED_ERR_MONGO_NO_COLLECTION');
      assert.equal(error.namespace, `${dbName}.no_such_collection`);
      return true;
    });
    assert.deepEqual(mongoClientStats(), []);
  });

  it('fails with a typed error naming a bad filter', async () => {
    await assert.rejects(fromMongo(target('grades'), { filter: { class_id: { $notAnOperator: 1 } } }), (error: unknown) => {
      assert.ok(error instanceof MongoQueryError, String(error));
      assert.equal(error.code, 'RXFEED_ERR_MONGO_QUERY');
      assert.match(error.message, /grades/);
      assert.match(error.query, /\$notAnOperator/);
      return true;
    });
    assert.deepEqual(mongoClientStats(), []);
  });

  it('take(n) and a for-await break release the shared client before they return', async () => {
    const dataset = await fromMongo(target('grades', { clientOptions: { appName: 'rxfeed-cancel-spec' } }), { pageSize: 10 });
    // A plain subscription under a Flow: its release is tracked there.
    const flow = new Flow();
    const five = await new Promise<Document[]>((resolve, reject) => {
      bindContext({ flow, epoch: 0 }, () => dataset.pipe(take(5), toArray()).subscribe({ next: resolve, error: reject }));
    });
    assert.equal(five.length, 5);
    await flow.released();
    assert.deepEqual(mongoClientStats(), []);

    let seen = 0;
    for await (const _document of toLoader(dataset)) {
      seen += 1;
      if (seen === 1) assert.deepEqual(mongoClientStats().map((s) => s.refs), [1]);
      if (seen === 25) break;
    }
    // The break waited for the client's close: no shared client is left open.
    assert.deepEqual(mongoClientStats(), []);
  });

  it('a consumer paused while the spec kills every server cursor still gets every document once', async () => {
    const cursorIds: bigint[] = [];
    const dataset = await fromMongo(target('grades', { clientOptions: { monitorCommands: true, appName: 'rxfeed-kill-spec' } }), {
      pageSize: 50,
      batchSize: 20, // pages span getMores: server cursors do exist while a page is read
    });
    const seen: string[] = [];
    let killed = 0;
    const loader = toLoader(dataset, { prefetch: 1 });
    let sharedClient: MongoClient | undefined;
    const onReply = (event: CommandSucceededEvent): void => {
      const cursor = (event.reply as Document).cursor as Document | undefined;
      const id = cursor?.id as BSON.Long | bigint | undefined;
      if (id !== undefined && BigInt(id.toString()) !== 0n) cursorIds.push(BigInt(id.toString()));
    };
    for await (const document of loader) {
      if (sharedClient === undefined) {
        // The loader's shared client: listen to its replies to learn the cursor ids it opened.
        const { acquireMongoClient } = await import('../../../sources/mongodb/index.js');
        const lease = acquireMongoClient(uri, { monitorCommands: true, appName: 'rxfeed-kill-spec' });
        sharedClient = lease.client;
        sharedClient.on('commandSucceeded', onReply);
        await lease.release();
      }
      seen.push((document._id as BSON.ObjectId).toHexString());
      if (seen.length % 60 === 0) {
        // Pause (the source parks on the full loader), and kill every cursor it ever had.
        await sleep(50);
        if (cursorIds.length > 0) {
          const reply = await db.command({ killCursors: 'grades', cursors: cursorIds.map((id) => BSON.Long.fromBigInt(id)) });
          killed += (reply.cursorsKilled as unknown[]).length;
        }
      }
    }
    sharedClient?.off('commandSucceeded', onReply);
    assert.ok(cursorIds.length > 0, 'pages of 50 in batches of 20 open server cursors');
    // No cursor outlives its page, so a pause leaves nothing to lose; a cursor killed while the
    // read-ahead page was still being drained (killed > 0) made that page be read again from its
    // first _id. Either way: every document exactly once, in order.
    assert.ok(killed >= 0);
    assert.deepEqual(seen, sortedIds(files.grades));

    // The raw driver cursor, paused and killed the same way, loses its cursor.
    const raw = db.collection('grades').find({}, { batchSize: 20 });
    await raw.next();
    await db.command({ killCursors: 'grades', cursors: [raw.id!] });
    await assert.rejects(raw.toArray(), (error: Error & { code?: number }) => error.code === 43 || /cursor/i.test(error.message));
    await raw.close();
  });

  it('retries from the last delivered _id when the network drops mid-epoch', async () => {
    const proxy = await CuttableProxy.start(uri);
    const proxied = proxy.uri(uri);
    const retries: number[] = [];
    const onRetry = (message: unknown): void => {
      retries.push((message as { attempt: number }).attempt);
    };
    subscribeChannel(MONGO_RETRY_CHANNEL, onRetry);
    try {
      // retryReads off: the driver's own single retry would hide the loss from rxfeed's retry.
      const options = { clientOptions: { monitorCommands: true, retryReads: false, appName: 'rxfeed-net-spec' } };
      const dataset = await fromMongo(target('grades', { ...options, uri: proxied }), { pageSize: 30, retryDelayMs: 10 });
      const { acquireMongoClient } = await import('../../../sources/mongodb/index.js');
      const seen: string[] = [];
      let finds = 0;
      for await (const document of toLoader(dataset)) {
        if (seen.length === 0) {
          const lease = acquireMongoClient(proxied, options.clientOptions);
          lease.client.on('commandStarted', (event) => {
            // Cut the network as the 3rd and 6th page queries go out.
            if (event.commandName === 'find' && (++finds === 3 || finds === 6)) proxy.cut();
          });
          await lease.release();
        }
        seen.push((document._id as BSON.ObjectId).toHexString());
      }
      assert.equal(proxy.cuts, 2);
      assert.ok(retries.length >= 2, `rxfeed retried (${retries.length})`);
      assert.deepEqual(seen, sortedIds(files.grades));
    } finally {
      unsubscribeChannel(MONGO_RETRY_CHANNEL, onRetry);
      await proxy.close();
    }
  });

  it('a driver Collection is used as given and never closed', async () => {
    const dataset = await fromMongo(db.collection('products'));
    assert.equal((await lastValueFrom(dataset.pipe(toArray()))).length, files.products.length);
    assert.equal((await firstValueFrom(dataset)).name !== undefined, true);
    assert.equal(await db.collection('products').countDocuments(), files.products.length);
  });
});
