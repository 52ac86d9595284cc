import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { gzipSync } from 'node:zlib';
import { lastValueFrom, toArray, type Observable } from 'rxjs';
import { DatasetClosedError, fileByteSource, InvalidArgumentError, type ByteSource } from '../../../src/index.js';
import {
  CorruptRecordError,
  encodeExample,
  fixedLenFeature,
  MalformedExampleError,
  fromTFRecord,
  RecordIndexError,
  tfrecordDataset,
  tfrecordFrame,
  type RecordLocation,
} from '../../../sources/tfrecord/index.js';
import { openFds, tempDir } from './paths.js';
import { readShuffled } from '../../src/readShuffled.js';

const tmp = tempDir('dataset');
after(() => tmp.remove());

const all = <T>(source: Observable<T>): Promise<T[]> => lastValueFrom(source.pipe(toArray()));

/** A TFRecord file of records of the given data lengths, record `i` filled with `fill + i`. */
function writeRecords(name: string, lengths: readonly number[], fill = 0): string {
  const path = join(tmp.dir, name);
  writeFileSync(path, Buffer.concat(lengths.map((length, i) => tfrecordFrame(new Uint8Array(length).fill(fill + i)))));
  return path;
}

/** A file of `count` Examples with an int64 `id` and a float list `x`. */
function writeExamples(name: string, first: number, count: number): string {
  const path = join(tmp.dir, name);
  const frames = Array.from({ length: count }, (_, i) =>
    tfrecordFrame(encodeExample({ id: BigInt64Array.of(BigInt(first + i)), x: Float32Array.from({ length: i % 5 }, (_, k) => k / 2) })),
  );
  writeFileSync(path, Buffer.concat(frames));
  return path;
}

/** A ByteSource over `path` that counts its range reads. */
function countingSource(path: string): ByteSource & { reads: [number, number][] } {
  const inner = fileByteSource(path);
  const reads: [number, number][] = [];
  return {
    name: path,
    reads,
    size: (signal) => inner.size(signal),
    read: (start, end, signal) => {
      reads.push([start, end]);
      return inner.read(start, end, signal);
    },
    stream: (start, signal) => inner.stream(start, signal),
  };
}

describe('tfrecordDataset', () => {
  it("issue 11: every record read in a random order equals fromTFRecord's item at its position (raw, three files)", async () => {
    const files = [
      writeRecords('a.tfrecord', [3, 0, 70_000, 9], 1),
      writeRecords('b.tfrecord', []),
      writeRecords('c.tfrecord', [1, 2, 3, 4, 5], 50),
    ];
    const dataset = await tfrecordDataset(files);
    assert.equal(dataset.size, 9);
    assert.deepEqual(dataset.layout, { shardEnds: [4, 4, 9], shardNames: files });
    assert.deepEqual(await readShuffled(dataset, 11), await all(fromTFRecord(files)));
    await dataset.close();
  });

  it("issue 11: decoded Examples, with and without a feature spec, equal fromTFRecord's", async () => {
    const files = [writeExamples('e0.tfrecord', 0, 7), writeExamples('e1.tfrecord', 7, 12)];
    const plain = await tfrecordDataset(files, { decode: 'example', int64: 'number' });
    assert.deepEqual(await readShuffled(plain, 11), await all(fromTFRecord(files, { decode: 'example', int64: 'number' })));
    const features = { id: fixedLenFeature('int64', []) };
    const parsed = await tfrecordDataset(files, { decode: 'example', features });
    assert.deepEqual(await readShuffled(parsed, 11), await all(fromTFRecord(files, { decode: 'example', features })));
    await plain.close();
    await parsed.close();
  });

  it('issue 11: a read answers in the order asked, an index asked twice twice', async () => {
    const dataset = await tfrecordDataset([writeRecords('order.tfrecord', [1, 1, 1, 1], 10)]);
    const items = await dataset.read([3, 1, 3, 0]);
    assert.deepEqual(
      items.map((item) => item[0]),
      [13, 11, 13, 10],
    );
    await dataset.close();
  });

  it('issue 11: a run of consecutive records in one file is one range read', async () => {
    const source = countingSource(writeRecords('runs.tfrecord', [4, 5, 6, 7, 8, 9]));
    const dataset = await tfrecordDataset([source]);
    source.reads.length = 0;
    await dataset.read([4, 2, 3, 0]);
    assert.deepEqual(
      source.reads.sort((a, b) => a[0] - b[0]),
      // Record 0 (0..20) alone; records 2, 3, 4 (41..110) in one read.
      [
        [0, 20],
        [41, 110],
      ],
    );
    await dataset.close();
  });

  it("issue 11: a custom decoder gets the record's location, and its error names it", async () => {
    const file = writeRecords('custom.tfrecord', [2, 3, 4]);
    const dataset = await tfrecordDataset([file], {
      decode: (record: Uint8Array, location: RecordLocation) => ({ length: record.length, ...location }),
    });
    assert.deepEqual(await dataset.read([2]), [{ length: 4, file, offset: 37, record: 2 }]);
    const examples = await tfrecordDataset([file], { decode: 'example', features: { id: fixedLenFeature('int64', []) } });
    await assert.rejects(examples.read([1]), (error: unknown) => {
      assert.ok(error instanceof MalformedExampleError);
      assert.deepEqual(error.location, { file, offset: 18, record: 1 });
      return true;
    });
    await dataset.close();
    await examples.close();
  });

  it('issue 11: an existing <file>.idx sidecar is used; saveIndex writes a missing one in the tfrecord2idx format', async () => {
    const file = writeRecords('sidecar.tfrecord', [5, 6, 7]);
    const saved = await tfrecordDataset([file], { saveIndex: true });
    assert.equal(readFileSync(`${file}.idx`, 'utf8'), '0 21\n21 22\n43 23\n');
    await saved.close();
    // A sidecar that is read, not rebuilt: a hostile one fails at creation naming it.
    writeFileSync(`${file}.idx`, '0 21\n21 22\n43 x\n');
    await assert.rejects(tfrecordDataset([file]), (error: unknown) => {
      assert.ok(error instanceof RecordIndexError);
      assert.equal(error.code, 'RXFEED_ERR_TFRECORD_INDEX');
      assert.equal(error.indexFile, `${file}.idx`);
      assert.equal(error.line, 3);
      return true;
    });
  });

  it('issue 11: indexPath maps a file to its index elsewhere', async () => {
    const file = writeRecords('mapped.tfrecord', [1, 2]);
    const indexFile = join(tmp.dir, 'mapped-index.txt');
    writeFileSync(indexFile, '0 17\n17 18\n');
    const dataset = await tfrecordDataset([file], { indexPath: (path) => (path === file ? indexFile : assert.fail(path)) });
    assert.deepEqual(await dataset.read([1]), [new Uint8Array([1, 1])]);
    await dataset.close();
  });

  it('issue 11: a stale index fails the read typed, naming the file and the byte offset of the frame', async () => {
    const file = writeRecords('stale.tfrecord', [5, 10, 20]);
    const dataset = await tfrecordDataset([file], { saveIndex: true });
    await dataset.close();
    // Rewritten with records of other lengths, the same size in all: the old index still covers it.
    writeRecords('stale.tfrecord', [5, 20, 10]);
    const stale = await tfrecordDataset([file]);
    assert.deepEqual(await stale.read([0]), [new Uint8Array(5)]);
    await assert.rejects(stale.read([2, 1]), (error: unknown) => {
      assert.ok(error instanceof RecordIndexError);
      assert.equal(error.code, 'RXFEED_ERR_TFRECORD_INDEX_STALE');
      assert.equal(error.file, file);
      assert.equal(error.offset, 21);
      assert.equal(error.indexFile, `${file}.idx`);
      assert.match(error.message, /at byte 21.*the frame header says 20 data bytes, the index 10: the index is stale/);
      return true;
    });
    await stale.close();
    // A file cut short after its index was written fails at creation: the index no longer covers it.
    writeFileSync(file, readFileSync(file).subarray(0, 40));
    await assert.rejects(tfrecordDataset([file]), /line 2: the frame at byte 21 of 26 bytes ends past the end of the file \(40 bytes\)/);
  });

  it('issue 11: a corrupt record fails the read with CorruptRecordError naming the file and byte offset', async () => {
    const file = writeRecords('corrupt.tfrecord', [4, 4, 4]);
    const bytes = readFileSync(file);
    bytes[20 + 12 + 1] ^= 1; // data of record 1
    writeFileSync(file, bytes);
    const dataset = await tfrecordDataset([file]);
    assert.deepEqual(await dataset.read([0, 2]), [new Uint8Array(4).fill(0), new Uint8Array(4).fill(2)]);
    await assert.rejects(dataset.read([1]), (error: unknown) => {
      assert.ok(error instanceof CorruptRecordError);
      assert.equal(error.reason, 'data-crc');
      assert.equal(error.file, file);
      assert.equal(error.offset, 20);
      assert.equal(error.record, 1);
      return true;
    });
    const unchecked = await tfrecordDataset([file], { verify: false });
    assert.equal((await unchecked.read([1]))[0]![1], 0);
    await dataset.close();
    await unchecked.close();
  });

  it('issue 11: gzip files cannot be read by index: RXFEED_ERR_TFRECORD_NOT_SEEKABLE, by option, by name or by magic bytes', async () => {
    const plain = writeRecords('plain.tfrecord', [3]);
    const gzipped = join(tmp.dir, 'gz-no-suffix.tfrecord');
    writeFileSync(gzipped, gzipSync(readFileSync(plain)));
    const named = join(tmp.dir, 'named.tfrecord.gz');
    writeFileSync(named, gzipSync(readFileSync(plain)));
    const cases: [Promise<unknown>, string, string][] = [
      [tfrecordDataset([plain], { compression: 'gzip' }), plain, 'gzip'],
      [tfrecordDataset([named]), named, 'gzip'],
      [tfrecordDataset([plain], { compression: 'zlib' }), plain, 'zlib'],
      [tfrecordDataset([gzipped]), gzipped, 'gzip'],
    ];
    for (const [promise, file, kind] of cases) {
      await assert.rejects(promise, (error: unknown) => {
        assert.ok(error instanceof RecordIndexError);
        assert.equal(error.code, 'RXFEED_ERR_TFRECORD_NOT_SEEKABLE');
        assert.equal(error.file, file);
        assert.match(error.message, new RegExp(`is ${kind} compressed.*recompress.*fromTFRecord`));
        return true;
      });
    }
  });

  it('issue 11: handles are kept between reads, at most maxOpenFiles idle; close() releases them all and later reads fail typed', async () => {
    const files = Array.from({ length: 5 }, (_, i) => writeRecords(`fd-${i}.tfrecord`, [1, 2, 3], i * 10));
    const before = openFds();
    const dataset = await tfrecordDataset(files, { maxOpenFiles: 2 });
    assert.ok(openFds() - before <= 2, `${openFds() - before} handles open after indexing`);
    await dataset.read([0, 4, 8, 12, 14]);
    assert.ok(openFds() - before <= 2, `${openFds() - before} handles open after a read`);
    assert.ok(openFds() - before >= 1, 'a handle is kept between reads');
    await dataset.close();
    assert.equal(openFds(), before);
    await dataset.close();
    await assert.rejects(dataset.read([0]), DatasetClosedError);
    assert.equal(openFds(), before);
  });

  it('issue 11: synchronous preads (small runs, by default) and thread-pool reads answer the same records', async () => {
    const file = writeRecords('sync.tfrecord', [5, 300, 7, 4000, 1], 3);
    const order = [4, 0, 3, 1, 2, 3];
    const pooled = await tfrecordDataset([file], { syncReadBytes: 0 });
    const synced = await tfrecordDataset([file]);
    const tiny = await tfrecordDataset([file], { syncReadBytes: 64 }); // the 4000-byte record goes through the pool
    const expected = await pooled.read(order);
    assert.deepEqual(await synced.read(order), expected);
    assert.deepEqual(await tiny.read(order), expected);
    await Promise.all([pooled.close(), synced.close(), tiny.close()]);
    await assert.rejects(tfrecordDataset([file], { syncReadBytes: -1 }), InvalidArgumentError);
    await assert.rejects(tfrecordDataset([file], { syncReadBytes: 1.5 }), InvalidArgumentError);
  });

  it('issue 11: bad indices and sequential-only options fail with InvalidArgumentError', async () => {
    const file = writeRecords('args.tfrecord', [1]);
    const dataset = await tfrecordDataset([file]);
    await assert.rejects(dataset.read([1]), InvalidArgumentError);
    await assert.rejects(dataset.read([0.5]), InvalidArgumentError);
    await dataset.close();
    await assert.rejects(tfrecordDataset([file], { onCorrupt: 'skip' } as never), /tfrecordDataset.onCorrupt.*sequential/);
    await assert.rejects(tfrecordDataset([file], { maxOpenFiles: 0 }), InvalidArgumentError);
    await assert.rejects(tfrecordDataset([42] as never), InvalidArgumentError);
  });
});
