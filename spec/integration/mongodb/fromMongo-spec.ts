import assert from 'node:assert/strict';
import { subscribe as subscribeChannel, unsubscribe as unsubscribeChannel } from 'node:diagnostics_channel';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { BSON, MongoClient, type CommandSucceededEvent, type Db, type Document } from 'mongodb';
import { firstValueFrom, lastValueFrom, take, toArray } from 'rxjs';
import { bindContext, Flow, infoOf, sizeOf, toLoader } from '../../../src/index.js';
import {
  acquireMongoClient,
  fromMongo,
  MONGO_RETRY_CHANNEL,
  MongoCollectionNotFoundError,
  MongoQueryError,
  mongoClientStats,
  type MongoTarget,
} from '../../../sources/mongodb/index.js';
import { CursorLog, CuttableProxy, keysetBoundOf, loadEjson, mongo, readModes, requireUri, specClient, specDbName } from './server.js';

const ids = (documents: readonly Document[]): string[] => documents.map((d) => (d._id as BSON.ObjectId).toHexString());
const sortedIds = (documents: readonly Document[]): string[] => ids(documents).sort();

describe('fromMongo against a MongoDB server (RXFEED_MONGODB_URI)', { skip: mongo.skip }, () => {
  let client: MongoClient;
  /** The spec's own client with command monitoring, handed to fromMongo as a driver Collection. */
  let monitored: MongoClient;
  let db: Db;
  let uri: string;
  const dbName = specDbName('from_mongo');
  const files = { grades: loadEjson('grades.json'), students: loadEjson('students.json'), products: loadEjson('products.json') };
  const target = (collection: string, extra: Partial<MongoTarget> = {}): MongoTarget => ({ uri, db: dbName, collection, ...extra });
  // The same documents as a find and as an aggregation view: each reads through its own command.
  const views = [
    { kind: 'find', options: {} },
    { kind: 'aggregate', options: { pipeline: [{ $match: {} }] } },
  ] as const;

  before(async () => {
    uri = requireUri();
    client = specClient();
    monitored = new MongoClient(uri, { monitorCommands: true });
    db = client.db(dbName);
    await db.dropDatabase();
    for (const [name, documents] of Object.entries(files)) await db.collection(name).insertMany(documents);
  });

  after(async () => {
    await db?.dropDatabase();
    await monitored?.close();
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

  for (const mode of readModes) {
    it(`take(n) and a for-await break release the shared client before they return (${mode.name})`, async () => {
      const dataset = await fromMongo(target('grades', { clientOptions: { appName: 'rxfeed-cancel-spec' } }), {
        ...mode.options,
        pageSize: 10,
      });
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
        if (seen === 1)
          assert.deepEqual(
            mongoClientStats().map((s) => s.refs),
            [1],
          );
        if (seen === 25) break;
      }
      // The break waited for the client's close: no shared client is left open.
      assert.deepEqual(mongoClientStats(), []);
    });

    for (const view of views) {
      it(`after a for-await break no cursor of ours is open on the server (${view.kind}, ${mode.name})`, async () => {
        const dataset = await fromMongo(monitored.db(dbName).collection('grades'), { ...view.options, ...mode.options, pageSize: 10 });
        const log = new CursorLog(monitored);
        try {
          let seen = 0;
          for await (const _document of toLoader(dataset)) {
            if (++seen === 25) break;
          }
          assert.ok(log.opens.length > 0 && log.opens.every((open) => open.commandName === view.kind));
          // The break returned only after our close: every cursor opened was exhausted or killed.
          assert.deepEqual(log.stillOpen(), []);
          // A window over 280 documents was still open at the 25th: the break killed it.
          if (mode.windowed) assert.ok(log.killed.size >= 1 && log.count('killCursors') >= 1);
        } finally {
          log.detach();
        }
      });
    }
  }

  for (const view of views) {
    it(`unsubscribing while a pull is reopening its window leaves no cursor open (${view.kind})`, async () => {
      const dataset = await fromMongo(monitored.db(dbName).collection('grades'), {
        ...view.options,
        pageSize: 10,
        cursorWindowMs: 20,
        readAhead: false,
      });
      const log = new CursorLog(monitored);
      try {
        // A stage of the spec's own holds the source for 60 ms after the first document; then the
        // source emits the rest of page 0 and pulls page 1 at once, from a window too old by then:
        // that read (killing the old cursor, then opening a new one) is in flight when the
        // subscription ends, right after the page's last document.
        const flow = new Flow();
        let held = 0;
        flow.register({ name: 'spec gate', capacity: 1, occupancy: () => held });
        let seen = 0;
        await new Promise<void>((resolve, reject) => {
          const subscription = bindContext({ flow, epoch: 0 }, () =>
            dataset.subscribe({
              next: () => {
                seen += 1;
                if (seen === 1) {
                  held = 1;
                  setTimeout(() => {
                    held = 0;
                    flow.notify();
                  }, 60);
                }
                if (seen === 10) {
                  queueMicrotask(() => {
                    subscription.unsubscribe();
                    resolve();
                  });
                }
              },
              error: reject,
            }),
          );
        });
        // What a loader's `break` waits for: the close, after the read in flight.
        await flow.released();
        assert.equal(seen, 10);
        assert.ok(log.opens.length >= 1 && log.killed.size >= 1, 'the old window was killed');
        assert.deepEqual(log.stillOpen(), []);
      } finally {
        log.detach();
      }
    });
  }

  for (const mode of readModes) {
    it(`a consumer paused while the spec kills every server cursor still gets every document once (${mode.name})`, async () => {
      const clientOptions = { monitorCommands: true, appName: `rxfeed-kill-spec-${mode.windowed}` };
      const dataset = await fromMongo(target('grades', { clientOptions }), {
        ...mode.options,
        pageSize: 50,
        batchSize: 20, // pages span getMores: server cursors do exist while a page is read
      });
      // Hold the loader's shared client from the start, to hear the replies that name its cursors.
      const lease = acquireMongoClient(uri, clientOptions);
      const cursorIds: bigint[] = [];
      const onReply = (event: CommandSucceededEvent): void => {
        const cursor = (event.reply as Document).cursor as Document | undefined;
        const id = cursor?.id as BSON.Long | bigint | undefined;
        if (id !== undefined && BigInt(id.toString()) !== 0n) cursorIds.push(BigInt(id.toString()));
      };
      const retries: number[] = [];
      const onRetry = (message: unknown): void => {
        retries.push((message as { attempt: number }).attempt);
      };
      lease.client.on('commandSucceeded', onReply);
      subscribeChannel(MONGO_RETRY_CHANNEL, onRetry);
      const seen: string[] = [];
      let killed = 0;
      try {
        for await (const document of toLoader(dataset, { prefetch: 1 })) {
          seen.push((document._id as BSON.ObjectId).toHexString());
          if (seen.length % 60 === 0) {
            // Pause (the source parks on the full loader), and kill every cursor it ever had.
            await sleep(50);
            const reply = await db.command({ killCursors: 'grades', cursors: cursorIds.map((id) => BSON.Long.fromBigInt(id)) });
            killed += (reply.cursorsKilled as unknown[]).length;
          }
        }
      } finally {
        lease.client.off('commandSucceeded', onReply);
        unsubscribeChannel(MONGO_RETRY_CHANNEL, onRetry);
        await lease.release();
      }
      assert.ok(cursorIds.length > 0, 'pages of 50 in batches of 20 open server cursors');
      if (mode.windowed) {
        // The window's cursor lives across pulls, so the first kill (at the 60th document, with at
        // most 150 read) found it open; its next getMore failed and the page was read again from
        // the last delivered _id.
        assert.ok(killed > 0, 'the spec killed the open window');
        assert.ok(retries.length > 0, 'the lost window was reopened');
      } else {
        // No cursor outlives its page, so a pause leaves nothing to lose; a cursor killed while the
        // read-ahead page was still being drained made that page be read again from its first _id.
        assert.ok(killed >= 0);
      }
      // Either way: every document exactly once, in order.
      assert.deepEqual(seen, sortedIds(files.grades));
    });

    it(`retries from the last delivered _id when the network drops mid-epoch (${mode.name})`, async () => {
      const proxy = await CuttableProxy.start(uri);
      const proxied = proxy.uri(uri);
      const retries: number[] = [];
      const onRetry = (message: unknown): void => {
        retries.push((message as { attempt: number }).attempt);
      };
      subscribeChannel(MONGO_RETRY_CHANNEL, onRetry);
      // retryReads off: the driver's own single retry would hide the loss from rxfeed's retry.
      const clientOptions = { monitorCommands: true, retryReads: false, appName: `rxfeed-net-spec-${mode.windowed}` };
      const lease = acquireMongoClient(proxied, clientOptions);
      let reads = 0;
      lease.client.on('commandStarted', (event) => {
        // Cut the network as the 3rd and 6th reads go out: a page query, or a window's getMore.
        if (['find', 'getMore'].includes(event.commandName) && (++reads === 3 || reads === 6)) proxy.cut();
      });
      try {
        const dataset = await fromMongo(target('grades', { clientOptions, uri: proxied }), {
          ...mode.options,
          pageSize: 30,
          retryDelayMs: 10,
        });
        const seen: string[] = [];
        for await (const document of toLoader(dataset)) seen.push((document._id as BSON.ObjectId).toHexString());
        assert.equal(proxy.cuts, 2);
        assert.ok(retries.length >= 2, `rxfeed retried (${retries.length})`);
        assert.deepEqual(seen, sortedIds(files.grades));
      } finally {
        unsubscribeChannel(MONGO_RETRY_CHANNEL, onRetry);
        await lease.release();
        await proxy.close();
      }
    });
  }

  for (const view of views) {
    it(`a window older than cursorWindowMs at a pull is killed and reopened from the last delivered _id (${view.kind})`, async () => {
      const pageSize = 40;
      const pages = Math.ceil(files.grades.length / pageSize);
      const collection = monitored.db(dbName).collection('grades');
      const read = async (cursorWindowMs: number | undefined, pauseMs: number): Promise<{ log: CursorLog; seen: Document[] }> => {
        const dataset = await fromMongo(collection, { ...view.options, pageSize, cursorWindowMs, readAhead: false });
        const log = new CursorLog(monitored);
        const seen: Document[] = [];
        try {
          // prefetch 1 and no read-ahead: page k + 1 is asked for only once page k is nearly
          // consumed, so after the pause at page k's first document.
          for await (const document of toLoader(dataset, { prefetch: 1 })) {
            if (seen.length % pageSize === 0) await sleep(pauseMs);
            seen.push(document);
          }
        } finally {
          log.detach();
        }
        return { log, seen };
      };

      // A window of 20 ms and a pause of 60 ms before every pull but the first: each pull finds
      // its cursor too old, kills it and opens one from the page before's last _id.
      const small = await read(20, 60);
      assert.deepEqual(ids(small.seen), sortedIds(files.grades));
      assert.equal(small.log.opens.length, pages, 'one open per page');
      assert.ok(small.log.opens.every((open) => open.commandName === view.kind));
      assert.equal(small.log.count('getMore'), 0, 'every page was the first batch of its own cursor');
      assert.equal(keysetBoundOf(small.log.opens[0]!), undefined);
      for (let page = 1; page < pages; page++) {
        const bound = keysetBoundOf(small.log.opens[page]!) as BSON.ObjectId;
        assert.equal(bound.toHexString(), ids(small.seen)[page * pageSize - 1], `window ${page} starts after the last delivered _id`);
        // The window before it was open (its range went on) and was killed, not left to time out.
        const before = small.log.opens[page - 1]!.cursorId;
        assert.notEqual(before, 0n);
        assert.ok(small.log.killed.has(before), `window ${page - 1} killed`);
      }
      assert.deepEqual(small.log.stillOpen(), []);

      // The default window (30 s) with the same pauses: one cursor, one page per getMore.
      const large = await read(undefined, 20);
      assert.deepEqual(ids(large.seen), sortedIds(files.grades));
      assert.equal(large.log.opens.length, 1);
      assert.equal(large.log.count('getMore'), pages - 1);
      assert.deepEqual(large.log.stillOpen(), []);

      // cursorWindowMs: 0: a drained query per page, none outliving its page.
      const keyset = await read(0, 0);
      assert.deepEqual(ids(keyset.seen), sortedIds(files.grades));
      assert.equal(keyset.log.opens.length, pages);
      assert.deepEqual(keyset.log.stillOpen(), []);
    });
  }

  it('a driver Collection is used as given and never closed', async () => {
    const dataset = await fromMongo(db.collection('products'));
    assert.equal((await lastValueFrom(dataset.pipe(toArray()))).length, files.products.length);
    assert.equal((await firstValueFrom(dataset)).name !== undefined, true);
    assert.equal(await db.collection('products').countDocuments(), files.products.length);
  });
});
