// Issue 9.13 (MongoDB): failures a user causes against a real server end in typed errors that name
// the collection, the filter and the document, keep the driver's error as `cause`, and never show
// the connection string's credentials. Server-side errors come from the real server (CongoDB in CI).
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { type BSON, MongoServerError, MongoServerSelectionError, type Db, type MongoClient } from 'mongodb';
import { lastValueFrom, toArray } from 'rxjs';
import { RxfeedError, toLoader } from '../../../src/index.js';
import {
  fromMongo,
  MongoAuthError,
  MongoDecodeError,
  mongoClientsClosed,
  mongoClientStats,
  MongoQueryError,
  MongoUnreachableError,
  type MongoTarget,
} from '../../../sources/mongodb/index.js';
import { CuttableProxy, loadEjson, mongo, requireUri, specClient, specDbName } from './server.js';

const SECRET = 's3cr3t-pw';
const hex = (id: unknown): string => (id as BSON.ObjectId).toHexString();

describe('fromMongo failures against a real server are typed (issue 9.13)', { skip: mongo.skip }, () => {
  let client: MongoClient;
  let db: Db;
  let uri: string;
  const dbName = specDbName('errors');
  const grades = loadEjson('grades.json');
  const sorted = grades.map((document) => hex(document._id)).sort();
  const target = (extra: Partial<MongoTarget> = {}): MongoTarget => ({ uri, db: dbName, collection: 'grades', ...extra });

  before(async () => {
    uri = requireUri();
    client = specClient();
    db = client.db(dbName);
    await db.dropDatabase();
    await db.collection('grades').insertMany(grades);
  });

  after(async () => {
    await db?.dropDatabase();
    await client?.close();
  });

  it('an unknown operator in the filter or pipeline is a MongoQueryError naming the collection and the query', async () => {
    const cases = [
      { options: { filter: { $bogus: 1 } }, query: '{"$bogus":1}', reason: /unknown top level operator: \$bogus/ },
      { options: { filter: { class_id: { $bogus: 1 } } }, query: '{"class_id":{"$bogus":1}}', reason: /unknown query operator \$bogus/ },
      { options: { pipeline: [{ $bogus: 1 }] }, query: '[{"$bogus":1}]', reason: /unregistered pipeline operator \$bogus/ },
    ];
    for (const { options, query, reason } of cases) {
      await assert.rejects(fromMongo(target(), options), (error: unknown) => {
        assert.ok(error instanceof MongoQueryError, String(error));
        assert.equal(error.code, 'RXFEED_ERR_MONGO_QUERY');
        assert.equal(error.namespace, `${dbName}.grades`);
        assert.equal(error.query, query);
        assert.ok(error.cause instanceof MongoServerError);
        assert.match(error.message, reason);
        return true;
      });
    }
    assert.deepEqual(mongoClientStats(), []);
  });

  it('a huge rejected filter is shown as a bounded excerpt', async () => {
    const filter = { class_id: { $bogus: 'x'.repeat(100_000) }, tags: { $in: Array.from({ length: 10_000 }, (_, i) => i) } };
    await assert.rejects(fromMongo(target(), { filter }), (error: unknown) => {
      assert.ok(error instanceof MongoQueryError, String(error));
      assert.equal(error.query.length, 303);
      assert.ok(error.query.startsWith('{"class_id":{"$bogus":"xxx'));
      assert.ok(error.message.length < 1000, `message of ${error.message.length} characters`);
      return true;
    });
  });

  it('issue 9.13: credentials the server refuses are a MongoAuthError, without the credentials', async () => {
    // CongoDB answers SASL with an empty payload: the driver's SCRAM exchange fails on it.
    const withCredentials = uri.replace('mongodb://', `mongodb://alice:${SECRET}@`);
    await assert.rejects(fromMongo(target({ uri: withCredentials }), { filter: { class_id: 2 } }), (error: unknown) => {
      assert.ok(error instanceof MongoAuthError, String(error));
      assert.equal(error.code, 'RXFEED_ERR_MONGO_AUTH');
      assert.equal(error.namespace, `${dbName}.grades`);
      assert.equal(error.query, '{"class_id":2}');
      assert.ok(error.cause instanceof Error);
      assert.doesNotMatch(error.message, new RegExp(SECRET));
      assert.doesNotMatch(error.message, /alice/);
      return true;
    });
    await mongoClientsClosed();
    assert.deepEqual(mongoClientStats(), []);
  });

  it('issue 9.13: a document getItem throws for is a MongoDecodeError naming its _id and position', async () => {
    const failing = sorted[42]!;
    const dataset = await fromMongo(target(), {
      filter: {},
      pageSize: 10,
      getItem: (document, index) => {
        if (hex(document._id) === failing) throw new Error(`no label in ${index}`);
        return document;
      },
    });
    const seen: string[] = [];
    await assert.rejects(
      (async () => {
        for await (const document of toLoader(dataset)) seen.push(hex(document._id));
      })(),
      (error: unknown) => {
        assert.ok(error instanceof MongoDecodeError, String(error));
        assert.equal(error.code, 'RXFEED_ERR_MONGO_DECODE');
        assert.equal(error.namespace, `${dbName}.grades`);
        assert.equal(error.query, '{}');
        assert.equal(error.documentId, `{"$oid":"${failing}"}`);
        assert.equal(error.index, 42);
        assert.equal((error.cause as Error).message, 'no label in 42');
        return true;
      },
    );
    // Pages are turned into elements whole: the page holding the failing document emits nothing.
    assert.deepEqual(seen, sorted.slice(0, 40));
    assert.deepEqual(mongoClientStats(), []);
  });

  it('issue 9.13: the network lost for good mid-epoch is a typed error after the retries, naming the last delivered _id', async () => {
    const proxy = await CuttableProxy.start(uri);
    const proxied = proxy.uri(uri);
    const dataset = await fromMongo(target({ uri: proxied, clientOptions: { serverSelectionTimeoutMS: 300, retryReads: false } }), {
      filter: { class_id: { $gte: 0 } },
      pageSize: 30,
      retries: 2,
      retryDelayMs: 10,
      readAhead: false,
    });
    const seen: string[] = [];
    await assert.rejects(
      (async () => {
        for await (const document of toLoader(dataset, { prefetch: 1 })) {
          seen.push(hex(document._id));
          // The server goes away for good: nothing listens at the proxy's port any more.
          if (seen.length === 30) await proxy.close();
        }
      })(),
      (error: unknown) => {
        assert.ok(error instanceof RxfeedError);
        assert.ok(error instanceof MongoUnreachableError, String(error));
        assert.equal(error.code, 'RXFEED_ERR_MONGO_UNREACHABLE');
        assert.equal(error.namespace, `${dbName}.grades`);
        assert.equal(error.query, '{"class_id":{"$gte":0}}');
        assert.equal(error.lastId, `{"$oid":"${seen.at(-1)}"}`);
        assert.equal(error.attempts, 3);
        assert.ok(error.cause instanceof MongoServerSelectionError);
        return true;
      },
    );
    assert.deepEqual(seen, sorted.slice(0, seen.length));
    assert.equal(seen.length % 30, 0);
    await mongoClientsClosed();
    assert.deepEqual(mongoClientStats(), []);
  });

  it('a dataset still reads after those failures (sanity)', async () => {
    const read = await lastValueFrom((await fromMongo(target(), { pageSize: 100 })).pipe(toArray()));
    assert.deepEqual(
      read.map((document) => hex(document._id)),
      sorted,
    );
  });
});
