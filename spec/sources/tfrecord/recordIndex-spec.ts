import assert from 'node:assert/strict';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { gzipSync } from 'node:zlib';
import { fileByteSource, type ByteSource } from '../../../src/index.js';
import {
  buildRecordIndex,
  CorruptRecordError,
  readRecordIndex,
  RecordIndexError,
  tfrecordFrame,
  writeRecordIndex,
} from '../../../sources/tfrecord/index.js';
import { pytorchData, tempDir } from './paths.js';
import { pythonTfrecord2idx } from './tfrecord2idx.js';

const tmp = tempDir('record-index');
after(() => tmp.remove());

const exampleFile = join(pytorchData, 'example.tfrecord');
const sequenceFile = join(pytorchData, 'sequence_example.tfrecord');

/** A TFRecord file of records of the given data lengths, each filled with its number. */
function writeRecords(name: string, lengths: readonly number[]): string {
  const path = join(tmp.dir, name);
  writeFileSync(path, Buffer.concat(lengths.map((length, i) => tfrecordFrame(new Uint8Array(length).fill(i)))));
  return path;
}

async function indexError(text: string | Buffer, fileSize?: number): Promise<RecordIndexError> {
  const path = join(tmp.dir, `hostile-${Math.random().toString(36).slice(2)}.idx`);
  writeFileSync(path, text);
  const error = await readRecordIndex(path, { file: 'data.tfrecord', fileSize }).then(
    () => assert.fail('expected a RecordIndexError'),
    (error: unknown) => error,
  );
  assert.ok(error instanceof RecordIndexError, String(error));
  assert.equal(error.code, 'RXFEED_ERR_TFRECORD_INDEX');
  assert.equal(error.indexFile, path);
  assert.equal(error.file, 'data.tfrecord');
  return error;
}

describe('record indexes (tfrecord2idx format)', () => {
  it('issue 11: buildRecordIndex finds every frame of the pytorch/data files, as the Python tfrecord2idx loop does', async () => {
    for (const file of [exampleFile, sequenceFile]) {
      const pythonPath = join(tmp.dir, 'python.idx');
      pythonTfrecord2idx(file, pythonPath);
      const index = await buildRecordIndex(file);
      assert.equal(index.count, 4);
      assert.equal(index.file, file);
      const ours = join(tmp.dir, 'ours.idx');
      await writeRecordIndex(ours, index);
      assert.equal(readFileSync(ours, 'utf8'), readFileSync(pythonPath, 'utf8'));
      // A ByteSource gives the same index.
      const viaSource = await buildRecordIndex(fileByteSource(file));
      assert.deepEqual([...viaSource.offsets], [...index.offsets]);
      assert.deepEqual([...viaSource.lengths], [...index.lengths]);
    }
  });

  it('issue 11: buildRecordIndex seeks past large records and reads small ones many to a chunk', async () => {
    const lengths = [0, 5, 200_000, 1, 70_000, 3];
    const file = writeRecords('mixed.tfrecord', lengths);
    const index = await buildRecordIndex(file);
    const expectedOffsets: number[] = [];
    let offset = 0;
    for (const length of lengths) {
      expectedOffsets.push(offset);
      offset += length + 16;
    }
    assert.deepEqual([...index.offsets], expectedOffsets);
    assert.deepEqual(
      [...index.lengths],
      lengths.map((length) => length + 16),
    );
  });

  it('issue 11: after a frame longer than a read step, the scan reads the next 12-byte header alone', async () => {
    const file = writeRecords('large.tfrecord', [200_000, 200_000, 5, 5]);
    const inner = fileByteSource(file);
    const reads: [number, number][] = [];
    const counting: ByteSource = {
      name: file,
      size: (signal) => inner.size(signal),
      read: (start, end, signal) => {
        reads.push([start, end]);
        return inner.read(start, end, signal);
      },
      stream: (start, signal) => inner.stream(start, signal),
    };
    const index = await buildRecordIndex(counting);
    assert.deepEqual([...index.offsets], [0, 200_016, 400_032, 400_053]);
    assert.deepEqual(reads, [
      [0, 65_536],
      [200_016, 200_028],
      [400_032, 400_044],
      [400_053, 400_074],
    ]);
  });

  it("issue 11: an index written by hand in the tools' exact format is read", async () => {
    const path = join(tmp.dir, 'hand.idx');
    // example.tfrecord's frames, as `tfrecord2idx example.tfrecord hand.idx` writes them.
    writeFileSync(path, '0 124\n124 131\n255 134\n389 134\n');
    const index = await readRecordIndex(path, { fileSize: 523 });
    assert.equal(index.file, join(tmp.dir, 'hand'));
    assert.deepEqual([...index.offsets], [0, 124, 255, 389]);
    assert.deepEqual([...index.lengths], [124, 131, 134, 134]);
    const built = await buildRecordIndex(exampleFile);
    assert.deepEqual([...built.offsets], [...index.offsets]);
    assert.deepEqual([...built.lengths], [...index.lengths]);
  });

  it('issue 11: tabs, runs of spaces, CRLF, blank lines and a missing last newline are accepted, as numpy.loadtxt does', async () => {
    const path = join(tmp.dir, 'loose.idx');
    writeFileSync(path, '  0\t124\r\n\n124   131 \r\n255 134\n\n389 134');
    const index = await readRecordIndex(path, { fileSize: 523 });
    assert.deepEqual([...index.offsets], [0, 124, 255, 389]);
    assert.deepEqual([...index.lengths], [124, 131, 134, 134]);
  });

  it('issue 11: an empty index describes an empty file', async () => {
    const path = join(tmp.dir, 'empty.idx');
    writeFileSync(path, '');
    assert.equal((await readRecordIndex(path, { fileSize: 0 })).count, 0);
  });

  it('issue 11: a hostile index fails typed, naming the index file and line', async () => {
    let error = await indexError('0 124\n124 131\n255 134\n389 134\n', 500);
    assert.equal(error.line, 4);
    assert.match(error.message, /line 4: the frame at byte 389 of 134 bytes ends past the end of the file \(500 bytes\)/);

    error = await indexError('0 124\n255 134\n124 131\n');
    assert.equal(error.line, 2);
    assert.match(error.message, /offset 255 does not follow the previous frame \(expected 124\)/);

    error = await indexError('0 130\n130 abc\n');
    assert.equal(error.line, 2);
    assert.match(error.message, /holds "a"/);

    error = await indexError('0 130\n130 99999999999999999999\n');
    assert.equal(error.line, 2);
    assert.match(error.message, /larger than 2\^53 - 1/);

    error = await indexError('0 4294967296000\n', 523);
    assert.equal(error.line, 1);
    assert.match(error.message, /ends past the end of the file/);

    error = await indexError('0 130 7\n');
    assert.match(error.message, /line 1: has more than two numbers/);

    error = await indexError('0 130\n130\n');
    assert.match(error.message, /line 2: has one number/);

    error = await indexError('0 3\n');
    assert.match(error.message, /length 3 is shorter than a frame's 16 bytes/);

    error = await indexError('-1 130\n');
    assert.equal(error.line, 1);

    error = await indexError(Buffer.from([0x30, 0x20, 0x31, 0x33, 0x30, 0x00, 0x0a]));
    assert.match(error.message, /byte 0x00/);

    error = await indexError('0 124\n124 131\n', 523);
    assert.equal(error.line, undefined);
    assert.match(error.message, /its frames cover 255 bytes of the file's 523: the index is stale or incomplete/);
  });

  it('issue 11: a frame whose length CRC fails, or that the file cuts short, fails the scan typed at its byte offset', async () => {
    const good = readFileSync(exampleFile);
    const badCrc = Buffer.from(good);
    badCrc[124 + 9] ^= 0xff;
    writeFileSync(join(tmp.dir, 'bad-crc.tfrecord'), badCrc);
    await assert.rejects(buildRecordIndex(join(tmp.dir, 'bad-crc.tfrecord')), (error: unknown) => {
      assert.ok(error instanceof CorruptRecordError);
      assert.equal(error.reason, 'length-crc');
      assert.equal(error.offset, 124);
      assert.equal(error.record, 1);
      return true;
    });
    writeFileSync(join(tmp.dir, 'cut.tfrecord'), good.subarray(0, 420));
    await assert.rejects(buildRecordIndex(join(tmp.dir, 'cut.tfrecord')), (error: unknown) => {
      assert.ok(error instanceof CorruptRecordError);
      assert.equal(error.reason, 'truncated');
      assert.equal(error.offset, 389);
      assert.match(error.message, /the frame needs 134 bytes, 31 are left/);
      return true;
    });
  });

  it('issue 11: a gzip file cannot be indexed: RXFEED_ERR_TFRECORD_NOT_SEEKABLE says to recompress or read sequentially', async () => {
    const path = join(tmp.dir, 'example.tfrecord.gzipped');
    writeFileSync(path, gzipSync(readFileSync(exampleFile)));
    await assert.rejects(buildRecordIndex(path), (error: unknown) => {
      assert.ok(error instanceof RecordIndexError);
      assert.equal(error.code, 'RXFEED_ERR_TFRECORD_NOT_SEEKABLE');
      assert.equal(error.file, path);
      assert.match(error.message, /gzip compressed.*recompress it without compression.*fromTFRecord/);
      return true;
    });
  });

  it('issue 11: a record that starts with the gzip magic bytes is still a record', async () => {
    // Data length 0x8b1f: its length field starts 1f 8b.
    const file = writeRecords('magic.tfrecord', [0x8b1f, 2]);
    const index = await buildRecordIndex(file);
    assert.deepEqual([...index.lengths], [0x8b1f + 16, 18]);
  });

  it('issue 11: writeRecordIndex replaces the file atomically and leaves no temporary file', async () => {
    const file = writeRecords('atomic.tfrecord', [1, 2, 3]);
    const path = join(tmp.dir, 'atomic.tfrecord.idx');
    writeFileSync(path, 'stale\n');
    await writeRecordIndex(path, await buildRecordIndex(file));
    assert.equal(readFileSync(path, 'utf8'), '0 17\n17 18\n35 19\n');
    assert.deepEqual(
      readdirSync(tmp.dir).filter((name) => name.startsWith('atomic.tfrecord.idx')),
      ['atomic.tfrecord.idx'],
    );
    const read = await readRecordIndex(path, { fileSize: 54 });
    assert.deepEqual([...read.offsets], [0, 17, 35]);
  });
});
