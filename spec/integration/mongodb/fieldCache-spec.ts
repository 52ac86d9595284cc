import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Worker } from 'node:worker_threads';
import { type BSON, type CommandStartedEvent, type Db, type MongoClient } from 'mongodb';
import { lastValueFrom, toArray } from 'rxjs';
import { infoOf, sizeOf } from '../../../src/index.js';
import { acquireMongoClient, fromMongo, loadFieldCache, type MongoTarget } from '../../../sources/mongodb/index.js';
import { generatedId, insertGenerated, loadEjson, mongo, requireUri, specClient, specDbName } from './server.js';

const COUNT = 3000;

describe('the field cache (columnar, SharedArrayBuffer)', { skip: mongo.skip }, () => {
  let client: MongoClient;
  let db: Db;
  const dbName = specDbName('field_cache');
  const grades = loadEjson('grades.json');
  let target: MongoTarget;

  before(async () => {
    client = specClient();
    db = client.db(dbName);
    await db.dropDatabase();
    await insertGenerated(db, 'samples', COUNT);
    // Some samples lack `x`: the column keeps a presence byte per sample.
    await db.collection('samples').updateMany({ i: { $lt: 10 } }, { $unset: { x: '' } });
    await db.collection('grades').insertMany(grades);
    target = {
      uri: requireUri(),
      db: dbName,
      collection: 'samples',
      clientOptions: { monitorCommands: true, appName: 'rxfeed-cache-spec' },
    };
  });

  after(async () => {
    await db?.dropDatabase();
    await client?.close();
  });

  it('stores numbers, vectors, strings, ids and mixed values compactly and reads them back exactly', async () => {
    const cache = await loadFieldCache(target, ['label', 'x', 'embedding', 'name'], { pageSize: 700 });
    assert.equal(cache.size, COUNT);
    assert.equal(cache.column('label').kind, 'int32');
    assert.equal(cache.column('x').kind, 'float64');
    assert.equal(cache.column('embedding').kind, 'vector');
    assert.equal(cache.column('embedding').dim, 4);
    assert.equal(cache.column('name').kind, 'string');
    for (const i of [0, 9, 10, 1234, COUNT - 1]) {
      assert.equal((cache.idAt(i) as BSON.ObjectId).toHexString(), generatedId(i).toHexString());
      assert.equal(cache.indexOf(generatedId(i)), i);
      assert.equal(cache.get(i, 'label'), i % 10);
      assert.equal(cache.get(i, 'x'), i < 10 ? undefined : i / 7);
      assert.deepEqual(Array.from(cache.get(i, 'embedding') as Float64Array), [i, i + 0.5, -i, 1]);
      assert.equal(cache.get(i, 'name'), `doc-${i}`);
    }
    assert.equal(cache.indexOf(generatedId(COUNT + 5)), -1);

    // Real data: sub-document arrays go to the BSON column, ObjectIds and integers to their own.
    const gradesCache = await loadFieldCache({ ...target, collection: 'grades' }, ['scores', 'student_id', 'class_id']);
    assert.equal(gradesCache.column('scores').kind, 'bson');
    assert.equal(gradesCache.column('student_id').kind, 'int32');
    for (let index = 0; index < gradesCache.size; index += 37) {
      const original = grades.find((d) => (d._id as BSON.ObjectId).equals(gradesCache.idAt(index) as BSON.ObjectId))!;
      assert.deepEqual(gradesCache.get(index, 'scores'), original.scores);
      assert.equal(gradesCache.get(index, 'student_id'), original.student_id);
    }
  });

  it('serves getItem with zero database commands after warm-up, per epoch and per range', async () => {
    const lease = acquireMongoClient(target.uri, target.clientOptions);
    const commands: string[] = [];
    const onCommand = (event: CommandStartedEvent): void => {
      commands.push(event.commandName);
    };
    lease.client.on('commandStarted', onCommand);
    try {
      const cache = await loadFieldCache(target, ['label', 'embedding'], { filter: { label: { $in: [1, 2] } } });
      assert.ok(commands.includes('find'), 'warm-up read the database');
      commands.length = 0;
      const dataset = await fromMongo(target, {
        cache,
        getItem: (row, index) => ({ index, label: row.label as number, first: (row.embedding as Float64Array)[0]! }),
      });
      assert.equal(sizeOf(dataset), COUNT / 5);
      for (let epoch = 0; epoch < 2; epoch++) {
        const items = await lastValueFrom(dataset.pipe(toArray()));
        assert.equal(items.length, COUNT / 5);
        items.forEach((item, index) => {
          assert.equal(item.index, index);
          assert.ok(item.label === 1 || item.label === 2);
        });
      }
      const part = await lastValueFrom(infoOf(dataset).selectRange!(100, 110).pipe(toArray()));
      assert.deepEqual(
        part.map((item) => item.first),
        Array.from({ length: 10 }, (_, k) => cache.get(100 + k, 'embedding') as Float64Array).map((v) => v[0]),
      );
      assert.deepEqual(commands, [], 'no command reached the server after warm-up');
    } finally {
      lease.client.off('commandStarted', onCommand);
      await lease.release();
    }
  });

  it('is shared with a worker thread without copying', async () => {
    const cache = await loadFieldCache(target, ['label', 'embedding', 'name']);
    const worker = new Worker(new URL('./fixtures/cacheWorker.js', import.meta.url), { workerData: { cache: cache.share() } });
    const reply = await new Promise<{
      rows: { id: string; label: number; embedding: number[]; name: string }[];
      shares: boolean;
      size: number;
    }>((resolve, reject) => {
      worker.once('message', resolve);
      worker.once('error', reject);
    });
    await worker.terminate();
    assert.equal(reply.shares, true);
    assert.equal(reply.size, COUNT);
    assert.deepEqual(
      reply.rows,
      [0, 1, COUNT - 1].map((i) => ({ id: generatedId(i).toHexString(), label: i % 10, embedding: [i, i + 0.5, -i, 1], name: `doc-${i}` })),
    );
    // The worker's write landed in this thread's memory: the same bytes, not a copy.
    assert.equal(cache.get(0, 'label'), 4242);
  });
});
