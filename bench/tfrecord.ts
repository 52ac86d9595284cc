/**
 * TFRecord reading throughput: `node dist/bench/tfrecord.js [--rounds N] [--records N]`.
 *
 * Generates 20,000 `tf.train.Example` records (a ~12 KB random `bytes` feature plus an int64
 * `label`) under `.tmp/bench/` with `toTFRecord`, then compares, with the method of
 * `bench/rounds.ts`, on the main thread: a plain read of the file through the same ByteSource
 * (the reference), and `fromTFRecord` emitting raw records (CRC checked or not) and decoded
 * Examples. The cost of `verify` per record is the per-round difference of the raw reads with and
 * without it. Then CRC32C speeds: `@node-rs/crc32`'s native CRC32C and a table-driven CRC32C in
 * JavaScript over the same buffer. The file is read from the page cache (it was just written):
 * these are CPU figures, not disk figures.
 *
 * @module
 */
import { randomFillSync } from 'node:crypto';
import { mkdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { crc32c } from '@node-rs/crc32';
import { lastValueFrom, range, map, type Observable } from 'rxjs';
import { compare, fmt, median, method, printTable } from './rounds.js';
import { fileByteSource } from '../sources/core/fileByteSource.js';
import { fromTFRecord, toTFRecord } from '../sources/tfrecord/index.js';

const recordsArg = process.argv.indexOf('--records');
const RECORDS = recordsArg > 0 ? Number(process.argv[recordsArg + 1]) : 20_000;
const PAYLOAD = 12 * 1024;
const root = process.cwd();
const dir = join(root, '.tmp', 'bench');
const file = join(dir, `tfrecord-${RECORDS}.tfrecord`);

function countItems(source: Observable<unknown>): Promise<number> {
  return new Promise((resolve, reject) => {
    let n = 0;
    source.subscribe({ next: () => n++, error: reject, complete: () => resolve(n) });
  });
}

/** CRC32C table (Castagnoli, reflected): the JavaScript contender. */
const TABLE = new Int32Array(256);
for (let n = 0; n < 256; n++) {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
  TABLE[n] = c;
}

function tableCrc32c(bytes: Uint8Array): number {
  let c = -1;
  for (let i = 0; i < bytes.length; i++) c = TABLE[(c ^ bytes[i]!) & 0xff]! ^ (c >>> 8);
  return ~c >>> 0;
}

async function main(): Promise<void> {
  mkdirSync(dir, { recursive: true });
  const payload = new Uint8Array(PAYLOAD);
  randomFillSync(payload);
  await lastValueFrom(
    range(0, RECORDS).pipe(
      map((i) => {
        payload[0] = i & 0xff; // records differ, so every CRC is computed on fresh content
        return { image: [payload], label: BigInt64Array.of(BigInt(i % 1000)) };
      }),
      toTFRecord(file),
    ),
  );
  const size = statSync(file).size;
  console.log(`TFRecord bench: ${RECORDS} records of ${PAYLOAD} B + int64 label, file ${(size / 1e6).toFixed(1)} MB; page cache warm`);
  method();

  const raw = await compare(
    'fromTFRecord against a plain read of the same file',
    [
      {
        name: 'plain read (fileByteSource.stream)',
        run: async () => {
          let bytes = 0;
          for await (const chunk of fileByteSource(file).stream(0)) bytes += chunk.byteLength;
          if (bytes !== size) throw new Error(`read ${bytes} of ${size} bytes`);
          return RECORDS;
        },
      },
      { name: 'fromTFRecord raw, CRC checked', run: () => countItems(fromTFRecord([file])) },
      { name: 'fromTFRecord raw, no CRC check', run: () => countItems(fromTFRecord([file], { verify: false })) },
      { name: "fromTFRecord decode: 'example', CRC checked", run: () => countItems(fromTFRecord([file], { decode: 'example' })) },
      {
        name: "fromTFRecord decode: 'example' + feature spec",
        run: () =>
          countItems(
            fromTFRecord([file], {
              decode: 'example',
              features: { image: { kind: 'fixed', dtype: 'bytes', shape: [] }, label: { kind: 'fixed', dtype: 'int64', shape: [] } },
            }),
          ),
      },
    ],
    RECORDS,
    size,
  );
  // The cost of verify: per round, microseconds per record with the CRC check minus without.
  const verifyCost = raw.rates[1]!.map((rate, round) => 1e6 / rate - 1e6 / raw.rates[2]![round]!);

  const big = new Uint8Array(64 * 1024 * 1024);
  randomFillSync(big);
  const record = big.subarray(0, PAYLOAD + 20);
  const MIB = 64;
  const crc = await compare(
    'CRC32C speed (items: MiB)',
    [
      { name: 'native CRC32C (@node-rs/crc32), one 64 MiB buffer', run: async () => (crc32c(big), MIB) },
      {
        name: 'native CRC32C, 12 KB records',
        run: async () => {
          for (let offset = 0; offset + record.length <= big.length; offset += record.length)
            crc32c(big.subarray(offset, offset + record.length));
          return MIB;
        },
      },
      { name: 'table-driven CRC32C in JavaScript, 64 MiB', run: async () => (tableCrc32c(big), MIB) },
    ],
    MIB,
    big.length,
  );
  printTable(
    'Derived',
    ['measure', 'median (range)'],
    [
      [
        `verify's cost per ${fmt(PAYLOAD / 1024)} KiB record (CRC checked minus not), us`,
        `${fmt(median(verifyCost), 2)} (${fmt(Math.min(...verifyCost), 2)}-${fmt(Math.max(...verifyCost), 2)})`,
      ],
      ...crc.contenders.map((contender, which) => [
        `${contender.name}, MB/s`,
        `${fmt((median(crc.rates[which]!) * 1024 * 1024) / 1e6)} (${fmt((Math.min(...crc.rates[which]!) * 1024 * 1024) / 1e6)}-${fmt((Math.max(...crc.rates[which]!) * 1024 * 1024) / 1e6)})`,
      ]),
    ],
  );
}

await main();
