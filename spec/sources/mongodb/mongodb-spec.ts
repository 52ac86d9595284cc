import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { threadId, Worker } from 'node:worker_threads';
import { InvalidArgumentError } from '../../../src/index.js';
import {
  acquireMongoClient,
  assertClientThread,
  fromMongo,
  loadFieldCache,
  mongoClientsClosed,
  mongoClientStats,
  MongoThreadError,
  tapWrite,
} from '../../../sources/mongodb/index.js';

// No server needed: argument checks happen before any connection, and clients connect lazily.
const target = { uri: 'mongodb://127.0.0.1:9/?directConnection=true&serverSelectionTimeoutMS=200', db: 'd', collection: 'c' };

describe('rxfeed/mongodb without a server', () => {
  it('rejects bad options before connecting', async () => {
    await assert.rejects(fromMongo(target, { pageSize: 0 }), InvalidArgumentError);
    await assert.rejects(fromMongo(target, { filter: {}, pipeline: [] }), /not both/);
    await assert.rejects(fromMongo(target, { sort: { x: 2 } }), /must be 1 or -1/);
    await assert.rejects(fromMongo(target, { cursorWindowMs: -1 }), /cursorWindowMs/);
    await assert.rejects(fromMongo(target, { cursorWindowMs: 0.5 }), InvalidArgumentError);
    await assert.rejects(loadFieldCache(target, []), /at least one field/);
    await assert.rejects(loadFieldCache(target, ['_id']), /not a cacheable field/);
    assert.throws(() => tapWrite(target, { update: () => undefined, batchSize: 0 }), InvalidArgumentError);
    assert.throws(() => tapWrite(target, { update: () => undefined, name: 'a.b' }), /letters, digits/);
    assert.deepEqual(mongoClientStats(), []);
  });

  it('shares one client per (uri, options), counted by leases, closed by the last release', async () => {
    const a = acquireMongoClient(target.uri);
    const b = acquireMongoClient(target.uri);
    const other = acquireMongoClient(target.uri, { appName: 'other' });
    assert.equal(a.client, b.client);
    assert.notEqual(a.client, other.client);
    assert.deepEqual(
      mongoClientStats().map((s) => s.refs),
      [2, 1],
    );
    await a.release();
    await a.release(); // a second release of the same lease counts once
    assert.deepEqual(
      mongoClientStats().map((s) => s.refs),
      [1, 1],
    );
    await b.release();
    await other.release();
    await mongoClientsClosed();
    assert.deepEqual(mongoClientStats(), []);
    assert.throws(() => a.client, /already released/);
  });

  it('masks user names and passwords in the client stats', async () => {
    const lease = acquireMongoClient('mongodb://user:secret@127.0.0.1:9/?directConnection=true');
    assert.equal(mongoClientStats()[0]!.uri, 'mongodb://***@127.0.0.1:9/?directConnection=true');
    await lease.release();
  });

  it('the thread guard names both threads and says what to do', () => {
    assert.doesNotThrow(() => assertClientThread(threadId, 'the client'));
    assert.throws(
      () => assertClientThread(threadId, 'the MongoClient for mongodb://h', threadId + 1),
      (error: unknown) => {
        assert.ok(error instanceof MongoThreadError);
        assert.equal(error.code, 'RXFEED_ERR_MONGO_THREAD');
        assert.equal(error.ownerThreadId, threadId);
        assert.equal(error.threadId, threadId + 1);
        assert.match(error.message, /inside each worker/);
        return true;
      },
    );
  });

  it('a worker thread gets its own registry and client', async () => {
    const lease = acquireMongoClient(target.uri);
    const code = `
      const { parentPort, threadId } = require('node:worker_threads');
      import(${JSON.stringify(new URL('../../../sources/mongodb/index.js', import.meta.url).href)}).then(async (m) => {
        const before = m.mongoClientStats().length;
        const lease = m.acquireMongoClient(${JSON.stringify(target.uri)});
        const stats = m.mongoClientStats();
        await lease.release();
        parentPort.postMessage({ before, owner: stats[0].ownerThreadId, threadId });
      });`;
    const worker = new Worker(code, { eval: true });
    const reply = await new Promise<{ before: number; owner: number; threadId: number }>((resolve, reject) => {
      worker.once('message', resolve);
      worker.once('error', reject);
    });
    await worker.terminate();
    assert.equal(reply.before, 0, "the worker does not see this thread's clients");
    assert.equal(reply.owner, reply.threadId);
    assert.notEqual(reply.owner, threadId);
    assert.deepEqual(
      mongoClientStats().map((s) => s.refs),
      [1],
    );
    await lease.release();
  });
});
