import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { gzipSync, deflateSync } from 'node:zlib';
import { lastValueFrom, take, toArray, type Observable } from 'rxjs';
import { bindContext, fileByteSource, Flow, sizeOf, toLoader } from '../../../src/index.js';
import {
  FeatureError,
  fixedLenFeature,
  fromTFRecord,
  MalformedExampleError,
  varLenFeature,
  type Example,
} from '../../../sources/tfrecord/index.js';
import { openFds, pytorchData, tempDir } from './paths.js';

const exampleFile = join(pytorchData, 'example.tfrecord');
const sequenceFile = join(pytorchData, 'sequence_example.tfrecord');
const tmp = tempDir('read');
after(() => tmp.remove());

const all = <T>(source: Observable<T>): Promise<T[]> => lastValueFrom(source.pipe(toArray()));
const text = new TextEncoder();

// Expected values read independently: Debian's python3-protobuf parsing the files with the
// tf.train.Example descriptors (spec/integration/tfrecord/read_tfrecord.py), CRCs checked by its
// own table CRC32C.
const X_INT = [
  [0n, 10n, 20n, 30n, 40n, 50n, 60n, 70n, 80n, 90n],
  [100n, 110n, 120n, 130n, 140n, 150n, 160n, 170n, 180n, 190n],
  [200n, 210n, 220n, 230n, 240n, 250n, 260n, 270n, 280n, 290n],
  [300n, 310n, 320n, 330n, 340n, 350n, 360n, 370n, 380n, 390n],
];
const X_FLOAT = [
  [0, 1, 2, 3, 4, 5, 6, 7, 8, 9],
  [10, 11, 12, 13, 14, 15, 16, 17, 18, 19],
  [20, 21, 22, 23, 24, 25, 26, 27, 28, 29],
  [30, 31, 32, 33, 34, 35, 36, 37, 38, 39],
];
const X_BYTE = text.encode('test str');
const STEPS = [3, 5, 7, 9];

function checkExample(example: Example, i: number): void {
  assert.deepEqual(Object.keys(example).sort(), ['x_byte', 'x_float', 'x_int']);
  assert.ok(example.x_int instanceof BigInt64Array);
  assert.deepEqual([...example.x_int], X_INT[i]);
  assert.ok(example.x_float instanceof Float32Array);
  assert.deepEqual([...example.x_float], X_FLOAT[i]);
  assert.deepEqual(example.x_byte, [X_BYTE]);
}

describe('fromTFRecord on pytorch/data example.tfrecord', () => {
  it('emits the 4 raw records, each a fresh array of its own', async () => {
    const records = await all(fromTFRecord([exampleFile]));
    assert.equal(records.length, 4);
    const file = readFileSync(exampleFile);
    let offset = 0;
    for (const record of records) {
      const length = file.readUInt32LE(offset);
      assert.deepEqual(record, new Uint8Array(file.subarray(offset + 12, offset + 12 + length)));
      assert.equal(record.byteOffset, 0);
      assert.equal(record.buffer.byteLength, record.length);
      offset += 16 + length;
    }
    assert.equal(offset, file.length);
  });

  it("decodes every feature value with decode: 'example'", async () => {
    const examples = await all(fromTFRecord([exampleFile], { decode: 'example' }));
    assert.equal(examples.length, 4);
    examples.forEach(checkExample);
  });

  it('decodes int64 as numbers or int32 when asked', async () => {
    const asNumbers = await all(fromTFRecord([exampleFile], { decode: 'example', int64: 'number' }));
    assert.ok(asNumbers[3]!.x_int instanceof Float64Array);
    assert.deepEqual([...(asNumbers[3]!.x_int as Float64Array)], X_INT[3]!.map(Number));
    const asInt32 = await all(fromTFRecord([exampleFile], { decode: 'example', int64: 'int32' }));
    assert.ok(asInt32[2]!.x_int instanceof Int32Array);
    assert.deepEqual([...(asInt32[2]!.x_int as Int32Array)], X_INT[2]!.map(Number));
  });

  it('reads small chunks (frames straddling every chunk boundary) identically', async () => {
    for (const chunkBytes of [1, 7, 13, 64]) {
      const examples = await all(fromTFRecord([exampleFile], { decode: 'example', chunkBytes, recordsPerPull: 1 }));
      assert.equal(examples.length, 4, `chunkBytes ${chunkBytes}`);
      examples.forEach(checkExample);
    }
  });

  it('parses with a feature spec: fixed and var length, defaults, strings', async () => {
    const parsed = await all(
      fromTFRecord([exampleFile], {
        decode: 'example',
        features: {
          x_int: fixedLenFeature('int64', [2, 5]),
          x_float: varLenFeature('float32'),
          x_byte: fixedLenFeature('string', []),
          missing: fixedLenFeature('float32', [3], 0.5),
          absent: varLenFeature('bytes'),
        },
      }),
    );
    assert.equal(parsed.length, 4);
    parsed.forEach((example, i) => {
      assert.deepEqual([...example.x_int], X_INT[i]);
      assert.deepEqual([...example.x_float], X_FLOAT[i]);
      assert.deepEqual(example.x_byte, ['test str']);
      assert.deepEqual(example.missing, Float32Array.of(0.5, 0.5, 0.5));
      assert.deepEqual(example.absent, []);
      assert.deepEqual(Object.keys(example).sort(), ['absent', 'missing', 'x_byte', 'x_float', 'x_int']);
    });
  });

  it('errors naming the feature and the record on a shape mismatch', async () => {
    await assert.rejects(
      all(fromTFRecord([exampleFile], { decode: 'example', features: { x_int: fixedLenFeature('int64', [3]) } })),
      (error: unknown) => {
        assert.ok(error instanceof FeatureError);
        assert.equal(error.code, 'RXFEED_ERR_FEATURE');
        assert.equal(error.feature, 'x_int');
        assert.equal(error.mismatch, 'shape');
        assert.deepEqual(error.location, { file: exampleFile, offset: 0, record: 0 });
        assert.match(error.message, /'x_int'.*10 value\(s\).*\[3\] needs 3.*record 0 at byte 0/);
        return true;
      },
    );
  });

  it('errors on a dtype mismatch, a missing feature and int64 precision, naming the record', async () => {
    const rejectsWith = (source: Observable<unknown>, feature: string, mismatch: string): Promise<void> =>
      assert.rejects(all(source), (error: unknown) => {
        assert.ok(error instanceof FeatureError);
        assert.equal(error.feature, feature);
        assert.equal(error.mismatch, mismatch);
        assert.equal(error.location?.record, 0);
        return true;
      });
    await rejectsWith(
      fromTFRecord([exampleFile], { decode: 'example', features: { x_float: varLenFeature('int64') } }),
      'x_float',
      'dtype',
    );
    await rejectsWith(fromTFRecord([exampleFile], { decode: 'example', features: { y: fixedLenFeature('int64', []) } }), 'y', 'missing');
    // A value beyond int32, written by our own encoder, read in int32 mode.
    const { encodeExample, tfrecordFrame } = await import('../../../sources/tfrecord/index.js');
    const big = join(tmp.dir, 'big.tfrecord');
    writeFileSync(big, tfrecordFrame(encodeExample({ v: BigInt64Array.of(1n << 40n) })));
    await rejectsWith(fromTFRecord([big], { decode: 'example', int64: 'int32' }), 'v', 'precision');
    // 2^40 is a safe integer: 'number' mode reads it exactly.
    const exact = await all(fromTFRecord([big], { decode: 'example', int64: 'number' }));
    assert.deepEqual(exact[0]!.v, Float64Array.of(2 ** 40));
  });

  it('raises MalformedExampleError with the location for bytes that are not an Example', async () => {
    const { tfrecordFrame } = await import('../../../sources/tfrecord/index.js');
    const bad = join(tmp.dir, 'malformed.tfrecord');
    // Field 1, length-delimited, claiming 100 bytes that are not there.
    writeFileSync(bad, Buffer.concat([tfrecordFrame(Uint8Array.of(0x0a, 0x00)), tfrecordFrame(Uint8Array.of(0x0a, 100, 1, 2))]));
    await assert.rejects(all(fromTFRecord([bad], { decode: 'example' })), (error: unknown) => {
      assert.ok(error instanceof MalformedExampleError);
      assert.equal(error.code, 'RXFEED_ERR_MALFORMED_EXAMPLE');
      assert.deepEqual(error.location, { file: bad, offset: 18, record: 1 });
      return true;
    });
  });

  it('reads gzip and zlib compressed copies, by extension or by option', async () => {
    const plain = readFileSync(exampleFile);
    const gz = join(tmp.dir, 'example.tfrecord.gz');
    const zz = join(tmp.dir, 'example.tfrecord.zlib');
    const gzNoExt = join(tmp.dir, 'example-gzip.tfrecord');
    writeFileSync(gz, gzipSync(plain));
    writeFileSync(zz, deflateSync(plain));
    writeFileSync(gzNoExt, gzipSync(plain));
    for (const [files, compression] of [
      [[gz], undefined],
      [[zz], undefined],
      [[gzNoExt], 'gzip'],
    ] as const) {
      const examples = await all(fromTFRecord(files, { decode: 'example', compression, chunkBytes: 50 }));
      assert.equal(examples.length, 4);
      examples.forEach(checkExample);
    }
  });

  it('reports a damaged gzip stream as a corrupt record, or skips the rest of the file', async () => {
    const { CorruptRecordError, SkipLedger } = await import('../../../sources/tfrecord/index.js');
    const gz = gzipSync(readFileSync(exampleFile));
    const cut = join(tmp.dir, 'cut.tfrecord.gz');
    writeFileSync(cut, gz.subarray(0, gz.length - 30));
    await assert.rejects(all(fromTFRecord([cut], { decode: 'example' })), (error: unknown) => {
      assert.ok(error instanceof CorruptRecordError);
      assert.equal(error.reason, 'truncated');
      assert.equal(error.file, cut);
      return true;
    });
    const ledger = new SkipLedger();
    const read = await all(fromTFRecord([cut], { decode: 'example', onCorrupt: 'skip', maxSkipRatio: 1, ledger }));
    read.forEach(checkExample);
    assert.equal(ledger.skipped.length, 1);
    assert.equal(ledger.skipped[0]!.reason, 'truncated');
    assert.equal(ledger.skipped[0]!.record, read.length);
  });

  it('reads several files in order, from paths and ByteSources, with files metadata', async () => {
    const source = fromTFRecord([exampleFile, fileByteSource(exampleFile)], { decode: 'example' });
    assert.equal(sizeOf(source), undefined);
    const examples = await all(source);
    assert.equal(examples.length, 8);
    examples.forEach((example, i) => checkExample(example, i % 4));
  });

  it('knows its size from lengths and reads a range', async () => {
    const source = fromTFRecord([exampleFile, exampleFile], { decode: 'example', lengths: [4, 4] });
    assert.equal(sizeOf(source), 8);
    const { infoOf } = await import('../../../src/index.js');
    const middle = infoOf(source).selectRange!(3, 6);
    assert.equal(sizeOf(middle), 3);
    const examples = await all(middle);
    assert.equal(examples.length, 3);
    checkExample(examples[0]!, 3);
    checkExample(examples[1]!, 0);
    checkExample(examples[2]!, 1);
  });
});

describe('fromTFRecord on pytorch/data sequence_example.tfrecord', () => {
  it('decodes every context feature and every step of every feature list', async () => {
    const examples = await all(fromTFRecord([sequenceFile], { decode: 'sequence-example' }));
    assert.equal(examples.length, 4);
    examples.forEach((example, i) => {
      checkExample(example.context, i);
      assert.deepEqual(Object.keys(example.featureLists).sort(), ['x_byte_seq', 'x_float_seq', 'x_int_seq']);
      const { x_byte_seq, x_float_seq, x_int_seq } = example.featureLists;
      assert.equal(x_int_seq!.length, STEPS[i]);
      assert.equal(x_float_seq!.length, STEPS[i]);
      assert.equal(x_byte_seq!.length, STEPS[i]);
      for (let step = 0; step < STEPS[i]!; step++) {
        assert.deepEqual(x_int_seq![step], BigInt64Array.from(X_INT[i]!));
        assert.deepEqual(x_float_seq![step], Float32Array.from(X_FLOAT[i]!));
        assert.deepEqual(x_byte_seq![step], [X_BYTE]);
      }
    });
  });

  it('parses with context and sequence specs, stacking fixed-length lists', async () => {
    const parsed = await all(
      fromTFRecord([sequenceFile], {
        decode: 'sequence-example',
        sequenceFeatures: {
          context: { x_int: fixedLenFeature('int64', [10]), x_byte: varLenFeature('string') },
          sequence: {
            x_float_seq: fixedLenFeature('float32', [10]),
            x_byte_seq: varLenFeature('bytes'),
            nothing: varLenFeature('int64'),
          },
        },
      }),
    );
    parsed.forEach((example, i) => {
      assert.deepEqual([...example.context.x_int], X_INT[i]);
      assert.deepEqual(example.context.x_byte, ['test str']);
      assert.deepEqual(example.lengths, { x_float_seq: STEPS[i], x_byte_seq: STEPS[i], nothing: 0 });
      const stacked = example.sequence.x_float_seq;
      assert.ok(stacked instanceof Float32Array);
      assert.equal(stacked.length, STEPS[i]! * 10);
      for (let step = 0; step < STEPS[i]!; step++) {
        assert.deepEqual([...stacked.subarray(step * 10, step * 10 + 10)], X_FLOAT[i]);
      }
      assert.deepEqual(
        example.sequence.x_byte_seq,
        Array.from({ length: STEPS[i]! }, () => [X_BYTE]),
      );
      assert.deepEqual(example.sequence.nothing, []);
    });
  });
});

describe('fromTFRecord resources', () => {
  it('closes its file handle when take(1) stops a loop early', async () => {
    const before = openFds();
    const loader = toLoader(fromTFRecord([exampleFile, exampleFile], { decode: 'example', recordsPerPull: 1 }).pipe(take(1)));
    const seen: Example[] = [];
    for await (const example of loader) seen.push(example);
    assert.equal(seen.length, 1);
    assert.equal(openFds(), before);
  });

  it('closes its file handle when a for-await loop breaks mid-file', async () => {
    const before = openFds();
    let n = 0;
    for await (const record of toLoader(fromTFRecord([exampleFile], { chunkBytes: 16, recordsPerPull: 1 }))) {
      assert.ok(record.length > 0);
      if (++n === 2) break;
    }
    assert.equal(openFds(), before);
  });

  it('holds no handle after an error', async () => {
    const before = openFds();
    const flow = new Flow();
    const failing = fromTFRecord([exampleFile], { decode: 'example', features: { y: fixedLenFeature('int64', []) } });
    await assert.rejects(
      new Promise((resolve, reject) =>
        bindContext({ flow, epoch: 0 }, () => failing.subscribe({ error: reject, complete: () => resolve(null) })),
      ),
      FeatureError,
    );
    // The close after an error is asynchronous; the Flow tracks it.
    await flow.released();
    assert.equal(openFds(), before);
  });

  it('rejects bad options at once', () => {
    assert.throws(() => fromTFRecord([exampleFile], { recordsPerPull: 0 }), /recordsPerPull/);
    assert.throws(() => fromTFRecord([exampleFile], { lengths: [1, 2] }), /lengths/);
    assert.throws(() => fromTFRecord([exampleFile], { maxSkipRatio: 2 }), /maxSkipRatio/);
    assert.throws(
      () => fromTFRecord([exampleFile], { decode: 'example', features: { x: { kind: 'fixed', dtype: 'int64', shape: [-1] } } }),
      /shape/,
    );
  });
});
