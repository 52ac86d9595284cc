import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { concat, lastValueFrom, map, of, range, Subject, throwError, toArray, type Observable } from 'rxjs';
import { bindContext, fileByteSource, Flow, fromItems, infoOf, sizeOf, type ByteSource } from '../../../src/index.js';
import {
  decodeExample,
  encodeExample,
  fromTFRecord,
  toTFRecord,
  type Example,
  type ExampleInput,
} from '../../../sources/tfrecord/index.js';
import { pytorchData, tempDir } from './paths.js';

const tmp = tempDir('write');
after(() => tmp.remove());

const all = <T>(source: Observable<T>): Promise<T[]> => lastValueFrom(source.pipe(toArray()));
const idOf = (example: Example): number => Number((example.id as BigInt64Array)[0]);

describe('toTFRecord', () => {
  it('round-trips Examples of every feature kind through fromTFRecord', async () => {
    const path = join(tmp.dir, 'roundtrip.tfrecord');
    const inputs: ExampleInput[] = [
      {
        int64: BigInt64Array.of(0n, -1n, 9223372036854775807n, -9223372036854775808n, 300n),
        float: Float32Array.of(0, -1.5, 3.4028234663852886e38, 1e-45, Number.NaN),
        bytes: [new Uint8Array([0, 255, 1]), new Uint8Array(0)],
        text: ['héllo', '', '数据'],
        empty: null,
        emptyInt: new BigInt64Array(0),
      },
      { int32: Int32Array.of(-2147483648, 2147483647), safe: Float64Array.of(2 ** 53 - 1, -(2 ** 53 - 1)) },
      {},
    ];
    const written = await lastValueFrom(fromItems(inputs).pipe(toTFRecord(path)));
    assert.deepEqual(written, { path, records: 3, bytes: statSync(path).size });
    const read = await all(fromTFRecord([path], { decode: 'example' }));
    const utf8 = new TextEncoder();
    assert.deepEqual(read, [
      {
        int64: BigInt64Array.of(0n, -1n, 9223372036854775807n, -9223372036854775808n, 300n),
        float: Float32Array.of(0, -1.5, 3.4028234663852886e38, 1e-45, Number.NaN),
        bytes: [new Uint8Array([0, 255, 1]), new Uint8Array(0)],
        text: [utf8.encode('héllo'), new Uint8Array(0), utf8.encode('数据')],
        empty: null,
        emptyInt: new BigInt64Array(0),
      },
      {
        int32: BigInt64Array.of(-2147483648n, 2147483647n),
        safe: BigInt64Array.of(BigInt(2 ** 53 - 1), -BigInt(2 ** 53 - 1)),
      },
      {},
    ]);
  });

  it('writes raw records as they are, framed; the result re-reads byte for byte', async () => {
    const source = join(pytorchData, 'example.tfrecord');
    const path = join(tmp.dir, 'copy.tfrecord');
    const written = await lastValueFrom(fromTFRecord([source]).pipe(toTFRecord(path)));
    assert.equal(written.records, 4);
    assert.deepEqual(readFileSync(path), readFileSync(source));
  });

  it('encodes what decodeExample decoded to the same message', () => {
    const record = encodeExample({ a: BigInt64Array.of(5n), b: Float32Array.of(1, 2), c: ['x'] });
    assert.deepEqual(encodeExample(decodeExample(record) as ExampleInput), record);
  });

  it('leaves nothing at the path, and no temporary file, when the source errors', async () => {
    const dir = tempDir('write-error');
    try {
      const path = join(dir.dir, 'broken.tfrecord');
      const failing = concat(
        range(0, 100).pipe(map((i) => ({ id: BigInt64Array.of(BigInt(i)) }))),
        throwError(() => new Error('upstream broke')),
      );
      await assert.rejects(lastValueFrom(failing.pipe(toTFRecord(path))), /upstream broke/);
      assert.deepEqual(readdirSync(dir.dir), []);
    } finally {
      dir.remove();
    }
  });

  it('leaves nothing behind when unsubscribed before the source completes', async () => {
    const dir = tempDir('write-cancel');
    try {
      const path = join(dir.dir, 'cancelled.tfrecord');
      const source = new Subject<ExampleInput>();
      const flow = new Flow();
      const subscription = bindContext({ flow, epoch: 0 }, () => source.pipe(toTFRecord(path)).subscribe());
      for (let i = 0; i < 50; i++) source.next({ id: BigInt64Array.of(BigInt(i)) });
      subscription.unsubscribe();
      await flow.released();
      assert.equal(existsSync(path), false);
      assert.deepEqual(readdirSync(dir.dir), []);
    } finally {
      dir.remove();
    }
  });

  it('holds the source back to its highWaterMark while writing (the Flow stage)', async () => {
    const path = join(tmp.dir, 'backpressure.tfrecord');
    let maxOccupancy = 0;
    const flow = new Flow();
    const items = fromItems(
      function* () {
        for (let i = 0; i < 3000; i++) {
          for (const stage of flow.snapshot().stages) maxOccupancy = Math.max(maxOccupancy, stage.occupancy);
          yield { id: BigInt64Array.of(BigInt(i)), pad: [new Uint8Array(1000)] };
        }
      },
      { chunkSize: 1 },
    );
    const written = await new Promise((resolve, reject) =>
      bindContext({ flow, epoch: 0 }, () => items.pipe(toTFRecord(path, { highWaterMark: 8 })).subscribe({ next: resolve, error: reject })),
    );
    assert.equal((written as { records: number }).records, 3000);
    assert.ok(maxOccupancy <= 8, `occupancy reached ${maxOccupancy}`);
    const ids = (await all(fromTFRecord([path], { decode: 'example' }))).map(idOf);
    assert.deepEqual(
      ids,
      Array.from({ length: 3000 }, (_, i) => i),
    );
  });
});

/** A local file whose stream start offsets are recorded: shows where each read began. */
function recordingSource(path: string, starts: number[]): ByteSource {
  const file = fileByteSource(path, 64);
  return {
    name: path,
    size: (signal) => file.size(signal),
    read: (start, end, signal) => file.read(start, end, signal),
    stream: (start = 0, signal) => {
      starts.push(start);
      return file.stream(start, signal);
    },
  };
}

describe('selectRange over several TFRecord files', () => {
  const lengths = [10, 7, 13];
  const files = lengths.map((_, i) => join(tmp.dir, `multi-${i}.tfrecord`));
  const total = lengths.reduce((a, b) => a + b, 0);

  before(async () => {
    let id = 0;
    for (const [i, n] of lengths.entries()) {
      const first = id;
      await lastValueFrom(
        range(first, n).pipe(
          map((k) => ({ id: BigInt64Array.of(BigInt(k)), pad: [new Uint8Array(k * 3)] })),
          toTFRecord(files[i]!),
        ),
      );
      id += n;
    }
  });

  it('reads exactly [start, end) of the global order, across file boundaries', async () => {
    const source = fromTFRecord(files, { decode: 'example', lengths });
    assert.equal(sizeOf(source), total);
    assert.deepEqual(infoOf(source).files, files);
    for (const [start, end] of [
      [0, 30],
      [8, 12],
      [9, 10],
      [10, 17],
      [5, 25],
      [17, 30],
      [29, 30],
      [12, 12],
    ] as const) {
      const part = infoOf(source).selectRange!(start, end);
      assert.equal(sizeOf(part), end - start);
      const ids = (await all(part)).map(idOf);
      assert.deepEqual(
        ids,
        Array.from({ length: end - start }, (_, i) => start + i),
        `[${start}, ${end})`,
      );
    }
    assert.throws(() => infoOf(source).selectRange!(5, 31), /selectRange/);
  });

  it('splits exactly for every world size (contiguous ranges, max imbalance 1)', async () => {
    const source = fromTFRecord(files, { decode: 'example', lengths });
    for (let world = 1; world <= 7; world++) {
      const seen: number[] = [];
      const sizes: number[] = [];
      for (let rank = 0; rank < world; rank++) {
        const start = Math.floor((rank * total) / world);
        const end = Math.floor(((rank + 1) * total) / world);
        const ids = (await all(infoOf(source).selectRange!(start, end))).map(idOf);
        sizes.push(ids.length);
        seen.push(...ids);
      }
      assert.deepEqual(
        seen,
        Array.from({ length: total }, (_, i) => i),
        `world ${world}`,
      );
      assert.ok(Math.max(...sizes) - Math.min(...sizes) <= 1);
    }
  });

  it('ranges of a range stay exact, and carry their size', async () => {
    const source = fromTFRecord(files, { decode: 'example', lengths });
    const outer = infoOf(source).selectRange!(6, 26);
    const inner = infoOf(outer).selectRange!(3, 15);
    assert.equal(sizeOf(inner), 12);
    assert.deepEqual(
      (await all(inner)).map(idOf),
      Array.from({ length: 12 }, (_, i) => 9 + i),
    );
  });

  it('builds a record index on the first read and seeks with it afterwards', async () => {
    const starts: number[] = [];
    const sources = files.map((file) => recordingSource(file, starts));
    const source = fromTFRecord(sources, { decode: 'example', lengths });
    const part = infoOf(source).selectRange!(13, 25); // records 3..6 of file 1, 0..7 of file 2
    const expected = Array.from({ length: 12 }, (_, i) => 13 + i);
    assert.deepEqual((await all(part)).map(idOf), expected);
    assert.deepEqual(starts, [0, 0]); // no index yet: file 1 is read from its start
    starts.length = 0;
    assert.deepEqual((await all(part)).map(idOf), expected);
    // Now file 1 is entered at record 3's frame offset, straight from the index.
    const frame = (k: number): number => 16 + encodeExample({ id: BigInt64Array.of(BigInt(k)), pad: [new Uint8Array(k * 3)] }).length;
    const offsetOfRecord3 = frame(10) + frame(11) + frame(12);
    assert.deepEqual(starts, [offsetOfRecord3, 0]);
  });

  it('selects whole files for file-level sharding', async () => {
    const source = fromTFRecord(files, { decode: 'example', lengths });
    const picked = infoOf(source).selectFiles!([2, 0]);
    assert.equal(sizeOf(picked), 23);
    assert.deepEqual(infoOf(picked).files, [files[2], files[0]]);
    const ids = (await all(picked)).map(idOf);
    assert.deepEqual(ids, [...Array.from({ length: 13 }, (_, i) => 17 + i), ...Array.from({ length: 10 }, (_, i) => i)]);
    const unsized = fromTFRecord(files, { decode: 'example' });
    assert.equal(infoOf(unsized).selectRange, undefined);
    assert.equal((await all(infoOf(unsized).selectFiles!([1]))).length, 7);
  });

  it('is cold: every subscription reads again', async () => {
    const source = fromTFRecord(files.slice(0, 1), { decode: 'example' });
    assert.equal((await all(source)).length, 10);
    assert.equal((await all(concat(source, of(null)))).length, 11);
  });
});
