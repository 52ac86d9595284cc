// Documents per second through fromMongo + shard + batch, against the raw driver cursor iterating
// the same documents (same order, same projection, same server batch size), interleaved in rounds
// with bench/rounds.ts (one warm-up round, rotating order, medians, per-round ratios).
// Needs RXFEED_MONGODB_URI (scripts/start-congodb.sh writes it to .tmp/congodb.env).
// Usage: node dist/bench/mongodb.js [documents=100000] [pageSize=library default] [--rounds 5]
// Without a pageSize, fromMongo runs with its defaults (what users get: pageSize 1000, cursor
// windows), and the raw cursor gets the same batch size. fromMongo with cursorWindowMs: 0 (a
// keyset query per page, the pre-window read path) runs as a third contender, for reference.
// The collection it fills is dropped at the end.
import { BSON, MongoClient, type Document } from 'mongodb';
import { bufferCount } from 'rxjs';
import { shard } from '../operators/shard.js';
import { toLoader } from '../src/loader.js';
import { fromMongo, mongoClientsClosed } from '../sources/mongodb/index.js';
import { compare, fmt, method, ratioCell, ROUNDS } from './rounds.js';

const uri = process.env.RXFEED_MONGODB_URI;
if (uri === undefined || uri === '') {
  console.error('RXFEED_MONGODB_URI is not set: run scripts/start-congodb.sh and source .tmp/congodb.env');
  process.exit(2);
}
/** `FromMongoOptions.pageSize`'s default: the raw cursor's batch size when none is given. */
const LIBRARY_DEFAULT_PAGE_SIZE = 1000;
const positional = process.argv.slice(2).filter((argument, i, all) => argument !== '--rounds' && all[i - 1] !== '--rounds');
const count = Number(positional[0] ?? 100_000);
const pageSizeArgument = positional[1] === undefined ? undefined : Number(positional[1]);
const pageSize = pageSizeArgument ?? LIBRARY_DEFAULT_PAGE_SIZE;
const dbName = 'rxfeed_bench';
const collectionName = 'samples';

function id(i: number): BSON.ObjectId {
  const bytes = Buffer.alloc(12);
  bytes.writeUInt32BE(0x66000000, 0);
  bytes.writeUIntBE(i, 6, 6);
  return new BSON.ObjectId(bytes);
}

const client = new MongoClient(uri);
const collection = client.db(dbName).collection(collectionName);
try {
  await collection.drop().catch(() => undefined);
  const started = performance.now();
  for (let start = 0; start < count; start += 20_000) {
    const documents: Document[] = [];
    for (let i = start; i < Math.min(count, start + 20_000); i++) {
      documents.push({ _id: id(i), i, label: i % 10, x: i / 7, embedding: [i, i + 0.5, -i, 1], name: `doc-${i}` });
    }
    await collection.insertMany(documents, { ordered: false });
  }
  console.log(`generated ${fmt(count)} documents in ${((performance.now() - started) / 1000).toFixed(1)} s`);

  // Opening the dataset (listCollections + the exact count) happens once per dataset, not per
  // epoch: timed apart. Each run below is one epoch.
  const opening = performance.now();
  const target = { uri, db: dbName, collection: collectionName };
  // pageSize left out unless given, so the figure follows the library's default.
  const dataset = await fromMongo(target, pageSizeArgument === undefined ? {} : { pageSize });
  const openSeconds = (performance.now() - opening) / 1000;
  const keysetDataset = await fromMongo(target, { pageSize, cursorWindowMs: 0 });

  /** Every contender sums `i` over the documents it read: they must all read the same ones. */
  const expectedChecksum = (count * (count - 1)) / 2;
  const checked = (name: string, n: number, checksum: number): number => {
    if (checksum !== expectedChecksum) throw new Error(`${name}: checksum ${checksum}, expected ${expectedChecksum}`);
    return n;
  };

  const rawDriver = async (): Promise<number> => {
    let n = 0;
    let checksum = 0;
    for await (const document of collection.find({}, { sort: { _id: 1 }, batchSize: pageSize })) {
      checksum += document.i as number;
      n += 1;
    }
    return checked('raw driver', n, checksum);
  };

  const throughRxfeed = async (source: typeof dataset): Promise<number> => {
    const pipeline = source.pipe(shard({ rank: 0, worldSize: 1, workerIndex: 0, numWorkers: 1 }), bufferCount(256));
    let n = 0;
    let checksum = 0;
    for await (const batch of toLoader(pipeline, { prefetch: 4 })) {
      for (const document of batch) checksum += document.i as number;
      n += batch.length;
    }
    return checked('fromMongo', n, checksum);
  };

  console.log(`\n${fmt(count)} documents, pageSize/batchSize ${pageSize}, server ${uri.replace(/\/\/[^@/]*@/, '//***@')}`);
  console.log(`opening the dataset (exists check + countDocuments): ${openSeconds.toFixed(2)} s, once`);
  method();
  const measured = await compare(
    'documents/s, one epoch per run',
    [
      { name: 'raw driver cursor', run: rawDriver },
      { name: 'fromMongo + shard + batch', run: () => throughRxfeed(dataset) },
      { name: 'same, cursorWindowMs: 0 (keyset pages)', run: () => throughRxfeed(keysetDataset) },
    ],
    count,
  );
  console.log(`\nfromMongo / raw driver, per-round ratios over ${ROUNDS} rounds: ${ratioCell(measured, 1)} (goal >= 0.90)`);
} finally {
  await collection.drop().catch(() => undefined);
  await client.close();
  await mongoClientsClosed();
}
