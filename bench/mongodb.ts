// Documents per second through fromMongo + shard + batch, against the raw driver cursor iterating
// the same documents (same order, same projection, same server batch size) in the same run.
// Needs RXFEED_MONGODB_URI (scripts/start-congodb.sh writes it to .tmp/congodb.env).
// Usage: node dist/bench/mongodb.js [documents=100000] [pageSize=library default]
// Without a pageSize, fromMongo runs with its defaults (what users get: pageSize 1000, cursor
// windows), and the raw cursor gets the same batch size. One extra round of fromMongo with
// cursorWindowMs: 0 (a keyset query per page, the pre-window read path) is shown for reference.
import { BSON, MongoClient, type Document } from 'mongodb';
import { bufferCount } from 'rxjs';
import { shard } from '../operators/shard.js';
import { toLoader } from '../src/loader.js';
import { fromMongo, mongoClientsClosed } from '../sources/mongodb/index.js';

const uri = process.env.RXFEED_MONGODB_URI;
if (uri === undefined || uri === '') {
  console.error('RXFEED_MONGODB_URI is not set: run scripts/start-congodb.sh and source .tmp/congodb.env');
  process.exit(2);
}
/** `FromMongoOptions.pageSize`'s default: the raw cursor's batch size when none is given. */
const LIBRARY_DEFAULT_PAGE_SIZE = 1000;
const count = Number(process.argv[2] ?? 100_000);
const pageSizeArgument = process.argv[3] === undefined ? undefined : Number(process.argv[3]);
const pageSize = pageSizeArgument ?? LIBRARY_DEFAULT_PAGE_SIZE;
const rounds = 3;
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
if ((await collection.estimatedDocumentCount().catch(() => 0)) !== count) {
  await collection.drop().catch(() => undefined);
  const started = performance.now();
  for (let start = 0; start < count; start += 20_000) {
    const documents: Document[] = [];
    for (let i = start; i < Math.min(count, start + 20_000); i++) {
      documents.push({ _id: id(i), i, label: i % 10, x: i / 7, embedding: [i, i + 0.5, -i, 1], name: `doc-${i}` });
    }
    await collection.insertMany(documents, { ordered: false });
  }
  console.log(`generated ${count} documents in ${((performance.now() - started) / 1000).toFixed(1)} s`);
}

async function rawDriver(): Promise<number> {
  let n = 0;
  let checksum = 0;
  for await (const document of collection.find({}, { sort: { _id: 1 }, batchSize: pageSize })) {
    checksum += document.i as number;
    n += 1;
  }
  if (n !== count) throw new Error(`raw driver read ${n} of ${count}`);
  return checksum;
}

// Opening the dataset (listCollections + the exact count) happens once per dataset, not per epoch:
// timed apart. Each round below is one epoch.
const opening = performance.now();
const target = { uri, db: dbName, collection: collectionName };
// pageSize left out unless given, so the figure follows the library's default.
const dataset = await fromMongo(target, pageSizeArgument === undefined ? {} : { pageSize });
const openSeconds = (performance.now() - opening) / 1000;
const keysetDataset = await fromMongo(target, { pageSize, cursorWindowMs: 0 });

async function throughRxfeed(source = dataset): Promise<number> {
  const pipeline = source.pipe(shard({ rank: 0, worldSize: 1, workerIndex: 0, numWorkers: 1 }), bufferCount(256));
  let n = 0;
  let checksum = 0;
  for await (const batch of toLoader(pipeline, { prefetch: 4 })) {
    for (const document of batch) checksum += document.i as number;
    n += batch.length;
  }
  if (n !== count) throw new Error(`rxfeed read ${n} of ${count}`);
  return checksum;
}

const rows: { run: string; seconds: number; docsPerSecond: number }[] = [];
const time = async (run: string, body: () => Promise<number>): Promise<number> => {
  const started = performance.now();
  await body();
  const seconds = (performance.now() - started) / 1000;
  rows.push({ run, seconds, docsPerSecond: count / seconds });
  return seconds;
};

// Alternate the two so drift on a shared machine hits both alike; the best round of each counts.
const raw: number[] = [];
const ours: number[] = [];
for (let round = 0; round < rounds; round++) {
  raw.push(await time(`raw driver cursor, round ${round + 1}`, rawDriver));
  ours.push(await time(`fromMongo + shard + batch, round ${round + 1}`, () => throughRxfeed()));
}
const keysetSeconds = await time('same, cursorWindowMs: 0 (reference)', () => throughRxfeed(keysetDataset));
await client.close();
await mongoClientsClosed();

console.log(`\n${count} documents, pageSize/batchSize ${pageSize}, server ${uri.replace(/\/\/[^@/]*@/, '//***@')}`);
console.log(`opening the dataset (exists check + countDocuments): ${openSeconds.toFixed(2)} s, once`);
console.log('run'.padEnd(40), 'seconds'.padStart(8), 'docs/s'.padStart(10));
for (const row of rows) {
  console.log(row.run.padEnd(40), row.seconds.toFixed(2).padStart(8), Math.round(row.docsPerSecond).toString().padStart(10));
}
const bestRaw = Math.min(...raw);
const bestOurs = Math.min(...ours);
console.log(
  `\nbest: raw ${Math.round(count / bestRaw)} docs/s, fromMongo ${Math.round(count / bestOurs)} docs/s: ` +
    `ratio ${(bestRaw / bestOurs).toFixed(2)}x the raw driver (goal >= 0.90x)`,
);
const median = (values: number[]): number => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
console.log(`median: ratio ${(median(raw) / median(ours)).toFixed(2)}x`);
console.log(`keyset pages (cursorWindowMs: 0), one round: ${(bestRaw / keysetSeconds).toFixed(2)}x the best raw round`);
