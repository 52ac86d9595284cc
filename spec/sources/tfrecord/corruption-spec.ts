import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { lastValueFrom, toArray, type Observable } from 'rxjs';
import {
  CorruptRecordError,
  encodeExample,
  fromTFRecord,
  SkipLedger,
  tfrecordFrame,
  TooManyCorruptRecordsError,
  type Example,
  type SkippedRecord,
} from '../../../sources/tfrecord/index.js';
import { RxfeedError } from '../../../src/index.js';
import { tempDir } from './paths.js';

const tmp = tempDir('corrupt');
after(() => tmp.remove());

const all = <T>(source: Observable<T>): Promise<T[]> => lastValueFrom(source.pipe(toArray()));

/** Ten Examples of growing size; returns the file bytes and each frame's offset. */
function tenRecords(): { bytes: Buffer; offsets: number[] } {
  const frames = Array.from({ length: 10 }, (_, i) =>
    tfrecordFrame(encodeExample({ id: BigInt64Array.of(BigInt(i)), pad: [new Uint8Array(40 + 13 * i).fill(i)] })),
  );
  const offsets: number[] = [];
  let at = 0;
  for (const frame of frames) {
    offsets.push(at);
    at += frame.length;
  }
  return { bytes: Buffer.concat(frames), offsets };
}

const { bytes: clean, offsets } = tenRecords();

function corruptCopy(name: string, change: (bytes: Buffer) => Buffer): string {
  const path = join(tmp.dir, name);
  writeFileSync(path, change(Buffer.from(clean)));
  return path;
}

const dataFlipped = corruptCopy('data-flip.tfrecord', (b) => {
  b[offsets[4]! - 4 - 3]! ^= 0x01; // a byte of record 3's `pad` value, near the end of its data
  return b;
});
const lengthFlipped = corruptCopy('length-flip.tfrecord', (b) => {
  b[offsets[3]!]! ^= 0x04; // the low byte of record 3's length
  return b;
});
const truncatedTail = corruptCopy('truncated.tfrecord', (b) => b.subarray(0, offsets[9]! + 20));
const truncatedHeader = corruptCopy('truncated-header.tfrecord', (b) => b.subarray(0, offsets[9]! + 5));
const cleanFile = corruptCopy('clean.tfrecord', (b) => b);

async function ids(source: Observable<Example>): Promise<number[]> {
  return (await all(source)).map((example) => Number((example.id as BigInt64Array)[0]));
}

function expectCorrupt(path: string, record: number, reason: string, offset = offsets[record]!) {
  return (error: unknown): boolean => {
    assert.ok(error instanceof CorruptRecordError);
    assert.ok(error instanceof RxfeedError);
    assert.equal(error.code, 'RXFEED_ERR_CORRUPT_RECORD');
    assert.equal(error.file, path);
    assert.equal(error.offset, offset);
    assert.equal(error.record, record);
    assert.equal(error.reason, reason);
    assert.ok(error.message.includes(path) && error.message.includes(`record ${record} at byte ${offset}`), error.message);
    return true;
  };
}

describe('fromTFRecord on corrupted files: errors by default', () => {
  it('names file, offset and record for a flipped data byte (data-crc)', async () => {
    await assert.rejects(all(fromTFRecord([dataFlipped])), expectCorrupt(dataFlipped, 3, 'data-crc'));
  });

  it('names file, offset and record for a flipped length byte (length-crc)', async () => {
    await assert.rejects(all(fromTFRecord([lengthFlipped])), expectCorrupt(lengthFlipped, 3, 'length-crc'));
  });

  it('reports a truncated tail, inside the data or inside the header', async () => {
    await assert.rejects(all(fromTFRecord([truncatedTail])), expectCorrupt(truncatedTail, 9, 'truncated'));
    await assert.rejects(all(fromTFRecord([truncatedHeader])), expectCorrupt(truncatedHeader, 9, 'truncated'));
  });

  it('emits the records before the corrupt one, then errors', async () => {
    const seen: number[] = [];
    await assert.rejects(
      new Promise((resolve, reject) =>
        fromTFRecord([dataFlipped], { decode: 'example', recordsPerPull: 1 }).subscribe({
          next: (example) => seen.push(Number((example.id as BigInt64Array)[0])),
          error: reject,
          complete: () => resolve(undefined),
        }),
      ),
      CorruptRecordError,
    );
    assert.deepEqual(seen, [0, 1, 2]);
  });

  it('reports a file shorter than its declared length as truncated', async () => {
    await assert.rejects(all(fromTFRecord([cleanFile], { lengths: [12] })), expectCorrupt(cleanFile, 10, 'truncated', clean.length));
  });

  it('with verify: false, reads a flipped data byte without noticing', async () => {
    assert.deepEqual(await ids(fromTFRecord([dataFlipped], { decode: 'example', verify: false })), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  });
});

describe("fromTFRecord on corrupted files: onCorrupt: 'skip'", () => {
  it('skips a record with a bad data CRC and reports it on the ledger and to onSkip', async () => {
    const ledger = new SkipLedger();
    const reported: SkippedRecord[] = [];
    const read = await ids(
      fromTFRecord([dataFlipped], { decode: 'example', onCorrupt: 'skip', maxSkipRatio: 0.1, ledger, onSkip: (s) => reported.push(s) }),
    );
    assert.deepEqual(read, [0, 1, 2, 4, 5, 6, 7, 8, 9]);
    assert.equal(ledger.skipped.length, 1);
    const [skip] = ledger.skipped;
    assert.deepEqual(
      { file: skip!.file, offset: skip!.offset, record: skip!.record, reason: skip!.reason },
      { file: dataFlipped, offset: offsets[3], record: 3, reason: 'data-crc' },
    );
    assert.match(skip!.detail, /stored 0x[0-9a-f]{8}, computed 0x[0-9a-f]{8}/);
    assert.deepEqual(reported, ledger.skipped);
  });

  it('after a bad length CRC, finds the next frame and goes on (the lost stretch counts as one record)', async () => {
    const ledger = new SkipLedger();
    const read = await ids(fromTFRecord([lengthFlipped], { decode: 'example', onCorrupt: 'skip', maxSkipRatio: 0.1, ledger }));
    assert.deepEqual(read, [0, 1, 2, 4, 5, 6, 7, 8, 9]);
    assert.deepEqual(
      ledger.skipped.map(({ file, offset, record, reason }) => ({ file, offset, record, reason })),
      [{ file: lengthFlipped, offset: offsets[3], record: 3, reason: 'length-crc' }],
    );
  });

  it('skips a truncated tail', async () => {
    const ledger = new SkipLedger();
    const read = await ids(fromTFRecord([truncatedTail], { decode: 'example', onCorrupt: 'skip', maxSkipRatio: 0.1, ledger }));
    assert.deepEqual(read, [0, 1, 2, 3, 4, 5, 6, 7, 8]);
    assert.deepEqual(
      ledger.skipped.map(({ record, offset, reason }) => ({ record, offset, reason })),
      [{ record: 9, offset: offsets[9], reason: 'truncated' }],
    );
  });

  it('raises TooManyCorruptRecordsError when skips exceed maxSkipRatio (default 1%)', async () => {
    await assert.rejects(all(fromTFRecord([dataFlipped], { onCorrupt: 'skip' })), (error: unknown) => {
      assert.ok(error instanceof TooManyCorruptRecordsError);
      assert.equal(error.code, 'RXFEED_ERR_TOO_MANY_CORRUPT');
      assert.equal(error.skipped, 1);
      assert.equal(error.seen, 10);
      assert.equal(error.maxSkipRatio, 0.01);
      assert.ok(error.message.includes(dataFlipped));
      return true;
    });
    await assert.rejects(all(fromTFRecord([dataFlipped], { onCorrupt: 'skip', maxSkipRatio: 0.09 })), TooManyCorruptRecordsError);
  });

  it('counts the ratio over every file read (1 bad in 40 is within 5%)', async () => {
    const ledger = new SkipLedger();
    const records = await all(
      fromTFRecord([cleanFile, dataFlipped, cleanFile, cleanFile], { onCorrupt: 'skip', maxSkipRatio: 0.05, ledger }),
    );
    assert.equal(records.length, 39);
    assert.deepEqual(
      ledger.skipped.map(({ file, record }) => ({ file, record })),
      [{ file: dataFlipped, record: 3 }],
    );
  });
});
