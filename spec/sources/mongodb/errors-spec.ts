// Issue 9 (hostile input), MongoDB slice: every failure a user can cause is a typed RxfeedError,
// and a dead server is reported after rxfeed's retries, not the driver's 30 s per attempt. These
// need no MongoDB server: a loopback port where nothing listens, and a TCP server that accepts and
// never answers.
import assert from 'node:assert/strict';
import { subscribe as subscribeChannel, unsubscribe as unsubscribeChannel } from 'node:diagnostics_channel';
import { once } from 'node:events';
import { createServer, type Server } from 'node:net';
import { before, describe, it } from 'node:test';
import { BSON, MongoClient, MongoServerSelectionError } from 'mongodb';
import { lastValueFrom, of, toArray } from 'rxjs';
import { InvalidArgumentError, RxfeedError } from '../../../src/index.js';
import {
  acquireMongoClient,
  DEFAULT_CONNECT_TIMEOUT_MS,
  DEFAULT_SERVER_SELECTION_TIMEOUT_MS,
  fromMongo,
  loadFieldCache,
  MONGO_RETRY_CHANNEL,
  mongoClientsClosed,
  mongoClientStats,
  MongoDecodeError,
  MongoUnreachableError,
  MongoUriError,
  MongoWriteError,
  tapWrite,
  type MongoTarget,
} from '../../../sources/mongodb/index.js';
import { MongoView } from '../../../sources/mongodb/view.js';

const SECRET = 's3cr3t-pw';
const filter = { split: 'train', label: { $gte: 3 } };

/** Listen on 127.0.0.1 port 0. */
async function listen(server: Server): Promise<number> {
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return (server.address() as { port: number }).port;
}

/** TCP sockets (client or server side) this process holds open. */
const openSockets = (): number => process.getActiveResourcesInfo().filter((name) => name === 'TCPSocketWrap').length;

/** Run `read`, collecting the retries rxfeed publishes meanwhile. */
async function withRetries<R>(read: () => Promise<R>): Promise<{ result: PromiseSettledResult<R>; retries: number[] }> {
  const retries: number[] = [];
  const onRetry = (message: unknown): void => {
    retries.push((message as { attempt: number }).attempt);
  };
  subscribeChannel(MONGO_RETRY_CHANNEL, onRetry);
  try {
    const [result] = await Promise.allSettled([read()]);
    return { result: result!, retries };
  } finally {
    unsubscribeChannel(MONGO_RETRY_CHANNEL, onRetry);
  }
}

function assertUnreachable(error: unknown, port: number): void {
  assert.ok(error instanceof MongoUnreachableError, String(error));
  assert.ok(error instanceof RxfeedError);
  assert.equal(error.code, 'RXFEED_ERR_MONGO_UNREACHABLE');
  assert.equal(error.namespace, 'ml.samples');
  assert.equal(error.query, '{"split":"train","label":{"$gte":3}}');
  assert.equal(error.attempts, 2);
  assert.deepEqual(error.servers, [`127.0.0.1:${port}`]);
  assert.ok(error.cause instanceof MongoServerSelectionError, String(error.cause));
  assert.match(error.message, /ml\.samples/);
  assert.match(error.message, /"split":"train"/);
  assert.doesNotMatch(error.message, new RegExp(SECRET));
  assert.doesNotMatch(error.message, /alice/);
}

describe('rxfeed/mongodb: hostile input and dead servers (issue 9)', () => {
  // Nothing listens here: a port taken from the OS, then given back.
  let deadPort: number;

  before(async () => {
    const probe = createServer();
    deadPort = await listen(probe);
    probe.close();
    await once(probe, 'close');
  });

  const target = (port: number, options = ''): MongoTarget => ({
    uri: `mongodb://alice:${SECRET}@127.0.0.1:${port}/?directConnection=true${options}`,
    db: 'ml',
    collection: 'samples',
  });

  it('issue 9.10: clients rxfeed creates wait 2 s per attempt for a server, unless the URI or clientOptions say otherwise', async () => {
    assert.equal(DEFAULT_SERVER_SELECTION_TIMEOUT_MS, 2000);
    assert.equal(DEFAULT_CONNECT_TIMEOUT_MS, 10_000);
    const plain = acquireMongoClient(`mongodb://127.0.0.1:${deadPort}/?directConnection=true`);
    const inUri = acquireMongoClient(
      `mongodb://127.0.0.1:${deadPort}/?directConnection=true&serverSelectionTimeoutMS=250&connectTimeoutMS=300`,
    );
    const inOptions = acquireMongoClient(`mongodb://127.0.0.1:${deadPort}/`, { serverSelectionTimeoutMS: 500, connectTimeoutMS: 600 });
    try {
      assert.equal(plain.client.options.serverSelectionTimeoutMS, 2000);
      assert.equal(plain.client.options.connectTimeoutMS, 10_000);
      assert.equal(inUri.client.options.serverSelectionTimeoutMS, 250);
      assert.equal(inUri.client.options.connectTimeoutMS, 300);
      assert.equal(inOptions.client.options.serverSelectionTimeoutMS, 500);
      assert.equal(inOptions.client.options.connectTimeoutMS, 600);
    } finally {
      await Promise.all([plain.release(), inUri.release(), inOptions.release()]);
    }
  });

  it('issue 9.10: a port where nothing listens is a MongoUnreachableError after the retries, and no client or socket stays open', async () => {
    const sockets = openSockets();
    const { result, retries } = await withRetries(() => fromMongo(target(deadPort), { filter, retries: 1, retryDelayMs: 10 }));
    assert.equal(result.status, 'rejected');
    assertUnreachable((result as PromiseRejectedResult).reason, deadPort);
    assert.deepEqual(retries, [1], 'one retry, then the typed error');
    await mongoClientsClosed();
    assert.deepEqual(mongoClientStats(), []);
    assert.equal(openSockets(), sockets);
  });

  it('issue 9.10: a server that accepts and never answers is a MongoUnreachableError after the retries, and every connection is closed', async () => {
    // Accepts every connection, reads and drops what the driver sends (its hello), never answers.
    const silent = createServer((socket) => socket.resume());
    const silentPort = await listen(silent);
    // A monitor connection still in its handshake when the client closes is dropped by the driver
    // at connectTimeoutMS (10 s by default), not at close: 1 s here keeps the spec short.
    const { result, retries } = await withRetries(() =>
      fromMongo(target(silentPort, '&connectTimeoutMS=1000'), { filter, retries: 1, retryDelayMs: 10 }),
    );
    assert.equal(result.status, 'rejected');
    assertUnreachable((result as PromiseRejectedResult).reason, silentPort);
    assert.deepEqual(retries, [1]);
    await mongoClientsClosed();
    assert.deepEqual(mongoClientStats(), []);
    // Each attempt's monitor did connect. Stop accepting; the server's 'close' comes only once
    // every connection it accepted has been closed, and it closes none itself: the client did.
    silent.close();
    await once(silent, 'close');
  });

  it('issue 9.10: loadFieldCache and tapWrite report a dead server typed too', async () => {
    const { result } = await withRetries(() => loadFieldCache(target(deadPort), ['label'], { filter, retries: 1, retryDelayMs: 10 }));
    assert.equal(result.status, 'rejected');
    assertUnreachable((result as PromiseRejectedResult).reason, deadPort);

    const written = of({ id: 1 }).pipe(
      tapWrite(target(deadPort), { update: (item) => ({ id: item.id, update: { $set: { seen: true } } }), retries: 1 }),
      toArray(),
    );
    await assert.rejects(lastValueFrom(written), (error: unknown) => {
      assert.ok(error instanceof MongoWriteError, String(error));
      assert.equal(error.code, 'RXFEED_ERR_MONGO_WRITE');
      assert.equal(error.namespace, 'ml.samples');
      assert.ok(error.cause instanceof MongoServerSelectionError);
      assert.doesNotMatch(error.message, new RegExp(SECRET));
      return true;
    });
    await mongoClientsClosed();
    assert.deepEqual(mongoClientStats(), []);
  });

  it('issue 9.13: a connection string the driver rejects is a MongoUriError, its credentials masked', async () => {
    const rejected = [
      `mongodb://alice:${SECRET}@127.0.0.1:27017:99/`,
      `http://alice:${SECRET}@127.0.0.1/`,
      `mongodb://alice:${SECRET}@127.0.0.1/?serverSelectionTimeoutMS=soon`,
      `mongodb://alice:${SECRET}@127.0.0.1/?noSuchOption=1&tls=maybe`,
    ];
    for (const uri of rejected) {
      await assert.rejects(fromMongo({ uri, db: 'ml', collection: 'samples' }, { filter }), (error: unknown) => {
        assert.ok(error instanceof MongoUriError, `${uri}: ${String(error)}`);
        assert.equal(error.code, 'RXFEED_ERR_MONGO_URI');
        assert.ok(error.cause instanceof Error);
        assert.doesNotMatch(error.message, new RegExp(SECRET), uri);
        assert.doesNotMatch(error.message, /alice/, uri);
        assert.doesNotMatch(error.uri, new RegExp(SECRET), uri);
        assert.match(error.uri, /\*\*\*@127\.0\.0\.1/);
        return true;
      });
    }
    const written = of({ id: 1 }).pipe(
      tapWrite({ uri: rejected[0]!, db: 'ml', collection: 'samples' }, { update: (item) => ({ id: item.id, update: { $set: { a: 1 } } }) }),
    );
    await assert.rejects(lastValueFrom(written), MongoUriError);
    assert.deepEqual(mongoClientStats(), []);
  });

  it('issue 9.13: bad targets and options are InvalidArgumentErrors naming the option, before any connection', async () => {
    const uri = `mongodb://127.0.0.1:${deadPort}/?directConnection=true`;
    const circular: Record<string, unknown> = { a: 1 };
    circular.self = circular;
    const bad: [string, () => Promise<unknown>][] = [
      ['fromMongo input', () => fromMongo(null as never)],
      ['fromMongo input', () => fromMongo({ uri: 5, db: 'ml', collection: 'samples' } as never)],
      ['fromMongo input.db', () => fromMongo({ uri, db: '', collection: 'samples' })],
      ['fromMongo input.db', () => fromMongo({ uri, db: 'a b', collection: 'samples' })],
      ['fromMongo input.db', () => fromMongo({ uri, db: 'a.b', collection: 'samples' })],
      ['fromMongo input.collection', () => fromMongo({ uri, db: 'ml', collection: '' })],
      ['fromMongo input.collection', () => fromMongo({ uri, db: 'ml', collection: '$cmd' })],
      ['fromMongo input.clientOptions', () => fromMongo({ uri, db: 'ml', collection: 'c', clientOptions: 5 as never })],
      ['fromMongo options', () => fromMongo({ uri, db: 'ml', collection: 'c' }, 5 as never)],
      ['fromMongo.filter', () => fromMongo({ uri, db: 'ml', collection: 'c' }, { filter: 5 as never })],
      ['fromMongo.filter', () => fromMongo({ uri, db: 'ml', collection: 'c' }, { filter: [] as never })],
      ['fromMongo.filter', () => fromMongo({ uri, db: 'ml', collection: 'c' }, { filter: circular })],
      ['fromMongo.pipeline', () => fromMongo({ uri, db: 'ml', collection: 'c' }, { pipeline: [5] as never })],
      ['fromMongo.projection', () => fromMongo({ uri, db: 'ml', collection: 'c' }, { projection: 'a' as never })],
      ['fromMongo.sort', () => fromMongo({ uri, db: 'ml', collection: 'c' }, { sort: null as never })],
      ['fromMongo.getItem', () => fromMongo({ uri, db: 'ml', collection: 'c' }, { getItem: 'a' as never })],
      ['fromMongo.retries', () => fromMongo({ uri, db: 'ml', collection: 'c' }, { retries: -1 })],
      ['loadFieldCache.fields', () => loadFieldCache({ uri, db: 'ml', collection: 'c' }, 'label' as never)],
      ['loadFieldCache input.db', () => loadFieldCache({ uri, db: '', collection: 'c' }, ['label'])],
      ['tapWrite.update', async () => tapWrite({ uri, db: 'ml', collection: 'c' }, {} as never)],
      ['tapWrite target.collection', async () => tapWrite({ uri, db: 'ml', collection: '' }, { update: () => undefined })],
    ];
    for (const [argument, call] of bad) {
      await assert.rejects(call(), (error: unknown) => {
        assert.ok(error instanceof InvalidArgumentError, `${argument}: ${String(error)}`);
        assert.equal(error.code, 'RXFEED_ERR_INVALID_ARG');
        assert.equal(error.argument, argument);
        return true;
      });
    }
    assert.deepEqual(mongoClientStats(), []);
  });

  it('issue 9.13: a reply that does not decode as BSON is a MongoDecodeError after the last good _id', async () => {
    // A real BSON decoding failure: a document whose string holds invalid UTF-8.
    const bytes = Buffer.from(BSON.serialize({ _id: 7, name: 'QQ' }));
    const at = bytes.indexOf('QQ\0');
    bytes[at] = 0xff;
    bytes[at + 1] = 0xfe;
    const client = new MongoClient(`mongodb://127.0.0.1:${deadPort}/`); // never connects: no command is sent
    const view = new MongoView(
      client.db('ml').collection('samples'),
      {
        filter,
        pipeline: undefined,
        projection: undefined,
        sort: undefined,
        idDirection: 1,
        batchSize: undefined,
        retries: 2,
        retryDelayMs: 0,
      },
      'ml.samples',
    );
    await assert.rejects(
      // The driver validates UTF-8 in replies by default (enableUtf8Validation).
      view.retrying(6, undefined, async () => BSON.deserialize(bytes, { validation: { utf8: true } })),
      (error: unknown) => {
        assert.ok(error instanceof MongoDecodeError, String(error));
        assert.equal(error.code, 'RXFEED_ERR_MONGO_DECODE');
        assert.equal(error.namespace, 'ml.samples');
        assert.equal(error.lastId, '6');
        assert.equal(error.documentId, undefined);
        assert.ok(error.cause instanceof BSON.BSONError);
        assert.match(error.message, /a document after _id 6 of 'ml\.samples'/);
        return true;
      },
    );
    await client.close();
  });

  it('issue 9.13: a released lease is an InvalidArgumentError, and the stats mask user and password', async () => {
    const lease = acquireMongoClient(`mongodb://alice:${SECRET}@127.0.0.1:${deadPort}/?directConnection=true`);
    assert.equal(mongoClientStats()[0]!.uri, `mongodb://***@127.0.0.1:${deadPort}/?directConnection=true`);
    await lease.release();
    assert.throws(
      () => lease.client,
      (error: unknown) => error instanceof InvalidArgumentError && error.argument === 'MongoClientLease.client',
    );
  });
});
