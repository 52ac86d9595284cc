/**
 * TFRecord reading throughput: `node dist/bench/tfrecord.js [records]`.
 *
 * Generates 20,000 `tf.train.Example` records (a ~12 KB random `bytes` feature plus an int64
 * `label`) under `.tmp/bench/` with `toTFRecord`, then measures on the main thread (one core):
 * raw CRC32C speed, a plain read of the file through the same ByteSource (the reference), and
 * `fromTFRecord` with CRC verification emitting raw records and decoded Examples. The file is
 * read from the page cache (it was just written): these are CPU figures, not disk figures.
 */
import { randomFillSync } from 'node:crypto';
import { mkdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { crc32c } from '@node-rs/crc32';
import { lastValueFrom, range, map, type Observable } from 'rxjs';
import { fileByteSource } from '../sources/core/fileByteSource.js';
import { fromTFRecord, toTFRecord } from '../sources/tfrecord/index.js';

const RECORDS = Number(process.argv[2] ?? 20_000);
const PAYLOAD = 12 * 1024;
const root = new URL('../..', import.meta.url).pathname;
const dir = join(root, '.tmp', 'bench');
const file = join(dir, `tfrecord-${RECORDS}.tfrecord`);

interface Row {
  readonly what: string;
  readonly seconds: number;
  readonly records?: number;
  readonly bytes: number;
}

const rows: Row[] = [];

async function timed(what: string, bytes: number, records: number | undefined, run: () => Promise<unknown>): Promise<void> {
  await run(); // warm-up: JIT and page cache
  const runs: number[] = [];
  for (let i = 0; i < 3; i++) {
    const start = performance.now();
    await run();
    runs.push((performance.now() - start) / 1000);
  }
  runs.sort((a, b) => a - b);
  rows.push({ what, seconds: runs[1]!, records, bytes });
}

function countItems(source: Observable<unknown>): Promise<number> {
  return new Promise((resolve, reject) => {
    let n = 0;
    source.subscribe({ next: () => n++, error: reject, complete: () => resolve(n) });
  });
}

async function main(): Promise<void> {
  mkdirSync(dir, { recursive: true });
  const payload = new Uint8Array(PAYLOAD);
  randomFillSync(payload);
  const generateStart = performance.now();
  await lastValueFrom(
    range(0, RECORDS).pipe(
      map((i) => {
        payload[0] = i & 0xff; // records differ, so every CRC is computed on fresh content
        return { image: [payload], label: BigInt64Array.of(BigInt(i % 1000)) };
      }),
      toTFRecord(file),
    ),
  );
  const generated = (performance.now() - generateStart) / 1000;
  const size = statSync(file).size;

  const big = new Uint8Array(64 * 1024 * 1024);
  randomFillSync(big);
  await timed('CRC32C (@node-rs/crc32), 64 MiB buffer', big.length, undefined, async () => crc32c(big));
  const record = big.subarray(0, PAYLOAD + 20);
  await timed('CRC32C, 12 KB records x 20k', record.length * RECORDS, RECORDS, async () => {
    for (let i = 0; i < RECORDS; i++) crc32c(record);
  });
  await timed('plain read of the file (fileByteSource.stream)', size, undefined, async () => {
    for await (const chunk of fileByteSource(file).stream(0)) void chunk;
  });
  let count = 0;
  await timed('fromTFRecord raw, CRC checked', size, RECORDS, async () => {
    count = await countItems(fromTFRecord([file]));
  });
  if (count !== RECORDS) throw new Error(`read ${count} records, wrote ${RECORDS}`);
  await timed('fromTFRecord raw, no CRC check', size, RECORDS, async () => {
    count = await countItems(fromTFRecord([file], { verify: false }));
  });
  await timed("fromTFRecord decode: 'example', CRC checked", size, RECORDS, async () => {
    count = await countItems(fromTFRecord([file], { decode: 'example' }));
  });
  await timed("fromTFRecord decode: 'example' + feature spec", size, RECORDS, async () => {
    count = await countItems(
      fromTFRecord([file], {
        decode: 'example',
        features: { image: { kind: 'fixed', dtype: 'bytes', shape: [] }, label: { kind: 'fixed', dtype: 'int64', shape: [] } },
      }),
    );
  });

  console.log(`TFRecord bench: ${RECORDS} records of ${PAYLOAD} B + int64 label, file ${(size / 1e6).toFixed(1)} MB`);
  console.log(`(generated with toTFRecord in ${generated.toFixed(2)} s; median of 3 runs after a warm-up; page cache warm)`);
  console.log('');
  const header = ['measure', 'seconds', 'records/s', 'MB/s', 'GB/s'];
  const table = rows.map((row) => [
    row.what,
    row.seconds.toFixed(3),
    row.records === undefined ? '-' : Math.round(row.records / row.seconds).toLocaleString('en-US'),
    (row.bytes / row.seconds / 1e6).toFixed(0),
    (row.bytes / row.seconds / 1e9).toFixed(2),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...table.map((r) => r[i]!.length)));
  const line = (cells: string[]): string => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  console.log(line(header));
  console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  for (const row of table) console.log(line(row));
}

await main();
