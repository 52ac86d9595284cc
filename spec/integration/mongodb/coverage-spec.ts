import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Db, MongoClient } from 'mongodb';
import { lastValueFrom, toArray } from 'rxjs';
import { concatSources } from '../../../operators/concatSources.js';
import { padToBatch } from '../../../operators/padToBatch.js';
import { shard } from '../../../operators/shard.js';
import { sizeOf } from '../../../src/index.js';
import { fromMongo, mongoClientStats } from '../../../sources/mongodb/index.js';
import { insertGenerated, mongo, readModes, requireUri, specClient, specDbName } from './server.js';

const COUNT = 100_000;

describe('fromMongo + shard + padToBatch: exact coverage over ranks x workers', { skip: mongo.skip }, () => {
  let client: MongoClient;
  let db: Db;
  const dbName = specDbName('coverage');

  before(async () => {
    requireUri();
    client = specClient();
    db = client.db(dbName);
    await db.dropDatabase();
    await insertGenerated(db, 'samples', COUNT);
  });

  after(async () => {
    await db?.dropDatabase();
    await client?.close();
  });

  for (const mode of readModes) {
    it(`every one of 100k generated documents is in exactly one real row; every rank runs the same batches (${mode.name})`, async () => {
      const worldSize = 3;
      const numWorkers = 2;
      const batchSize = 64;
      const dataset = await fromMongo(
        { uri: requireUri(), db: dbName, collection: 'samples' },
        { ...mode.options, projection: { i: 1 }, pageSize: 10_000, getItem: (document, index) => ({ index, i: document.i as number }) },
      );
      assert.equal(sizeOf(dataset), COUNT);
      const seen = new Uint8Array(COUNT);
      const batchesPerRank: number[] = [];
      for (let rank = 0; rank < worldSize; rank++) {
        // A rank reads its workers' shares (contiguous ranges, selected by keyset from a skip-found _id).
        const workers = Array.from({ length: numWorkers }, (_, workerIndex) =>
          dataset.pipe(shard({ rank, worldSize, workerIndex, numWorkers })),
        );
        const rankSize = workers.reduce((sum, part) => sum + sizeOf(part)!, 0);
        assert.ok(rankSize === Math.floor(COUNT / worldSize) || rankSize === Math.ceil(COUNT / worldSize));
        const batches = await lastValueFrom(concatSources(...workers).pipe(padToBatch(batchSize, { worldSize, size: COUNT }), toArray()));
        batchesPerRank.push(batches.length);
        for (const batch of batches) {
          assert.equal(batch.rows.length, batchSize);
          for (let row = 0; row < batchSize; row++) {
            if (batch.mask[row] === 0) {
              assert.equal(batch.index[row], -1);
              continue;
            }
            const { index, i } = batch.rows[row]!;
            // The dataset position is the document's generation number: the _id order is i's order.
            assert.equal(index, i);
            assert.equal(batch.index[row], i);
            assert.equal(seen[i], 0, `document ${i} delivered twice`);
            seen[i] = 1;
          }
        }
      }
      assert.equal(
        seen.reduce((sum, flag) => sum + flag, 0),
        COUNT,
      );
      const expectedBatches = Math.ceil(Math.ceil(COUNT / worldSize) / batchSize);
      assert.deepEqual(batchesPerRank, [expectedBatches, expectedBatches, expectedBatches]);
      assert.deepEqual(mongoClientStats(), []);
    });
  }
});
