/**
 * Issue 9.13: bad options and arguments of the TFRecord and Example APIs are InvalidArgumentErrors
 * at the call, never a TypeError or RangeError, at once or later in the stream.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { lastValueFrom, toArray, type Observable } from 'rxjs';
import { InvalidArgumentError } from '../../../src/index.js';
import {
  decodeExample,
  decodeSequenceExample,
  encodeExample,
  FeatureError,
  fixedLenFeature,
  fromTFRecord,
  parseExample,
  parseSequenceExample,
  toTFRecord,
  type ExampleInput,
  type FeatureSpec,
  type RawRecordOptions,
  type Int64Mode,
} from '../../../sources/tfrecord/index.js';
import { pytorchData } from './paths.js';

const exampleFile = join(pytorchData, 'example.tfrecord');
const all = <T>(source: Observable<T>): Promise<T[]> => lastValueFrom(source.pipe(toArray()));
const isArgument = (argument: string) => (error: unknown) => {
  assert.ok(error instanceof InvalidArgumentError, String(error));
  assert.equal(error.argument, argument);
  assert.equal(error.code, 'RXFEED_ERR_INVALID_ARG');
  return true;
};

describe('issue 9.13: TFRecord and Example options are validated with typed errors', () => {
  it('issue 9.13: decodeExample / decodeSequenceExample reject a bad int64 mode, bytes or options', () => {
    const record = encodeExample({ a: BigInt64Array.of(1n) });
    assert.throws(() => decodeExample(record, { int64: 'float' as Int64Mode }), isArgument('decodeExample.int64'));
    assert.throws(() => decodeSequenceExample(record, { int64: 5 as unknown as Int64Mode }), isArgument('decodeSequenceExample.int64'));
    assert.throws(() => decodeExample(null as unknown as Uint8Array), isArgument('decodeExample.bytes'));
    assert.throws(() => decodeExample([1, 2] as unknown as Uint8Array), isArgument('decodeExample.bytes'));
    assert.throws(() => decodeExample(record, 'bigint' as never), isArgument('decodeExample.options'));
  });

  it('issue 9.13: a bad int64 mode fails fromTFRecord at once, not every record with a TypeError', async () => {
    assert.throws(() => fromTFRecord([exampleFile], { decode: 'example', int64: 'float' as Int64Mode }), isArgument('fromTFRecord.int64'));
    // The good modes still decode.
    assert.equal((await all(fromTFRecord([exampleFile], { decode: 'example', int64: 'number' }))).length, 4);
  });

  it('issue 9.13: fromTFRecord rejects wrong-typed inputs and options at once', () => {
    const bad: [unknown, unknown, string][] = [
      ['example.tfrecord', {}, 'fromTFRecord.inputs'],
      [[5], {}, 'fromTFRecord.inputs[0]'],
      [[null], {}, 'fromTFRecord.inputs[0]'],
      [[exampleFile], null, 'fromTFRecord.options'],
      [[exampleFile], { chunkBytes: 2 ** 40 }, 'fromTFRecord.chunkBytes'],
      [[exampleFile], { chunkBytes: '8' }, 'fromTFRecord.chunkBytes'],
      [[exampleFile], { recordsPerPull: Symbol('x') }, 'fromTFRecord.recordsPerPull'],
      [[exampleFile], { maxSkipRatio: Symbol('x') }, 'fromTFRecord.maxSkipRatio'],
      [[exampleFile], { maxSkipRatio: Number.NaN }, 'fromTFRecord.maxSkipRatio'],
      [[exampleFile], { onCorrupt: { toString: 1 } }, 'fromTFRecord.onCorrupt'],
      [[exampleFile], { compression: Symbol('x') }, 'fromTFRecord.compression'],
      [[exampleFile], { ledger: {} }, 'fromTFRecord.ledger'],
      [[exampleFile], { onSkip: 'log' }, 'fromTFRecord.onSkip'],
      [[exampleFile], { lengths: 4 }, 'fromTFRecord.lengths'],
      [[exampleFile], { decode: 'json' }, 'fromTFRecord.decode'],
      [[exampleFile], { decode: 'example', features: null }, 'fromTFRecord.features'],
      [[exampleFile], { decode: 'example', features: { a: null } }, 'fromTFRecord.features.a'],
      [[exampleFile], { decode: 'example', features: { a: { kind: 'fixed', dtype: 'int64', shape: 3 } } }, 'fromTFRecord.features.a'],
      [[exampleFile], { decode: 'example', features: { a: fixedLenFeature('int64', [2 ** 20, 2 ** 20]) } }, 'fromTFRecord.features.a'],
      [[exampleFile], { decode: 'example', features: { a: fixedLenFeature('int64', [], 1.5) } }, 'fromTFRecord.features.a'],
      [[exampleFile], { decode: 'example', features: { a: fixedLenFeature('int64', [], 'x') } }, 'fromTFRecord.features.a'],
      [
        [exampleFile],
        { decode: 'example', features: { a: fixedLenFeature('string', [], Uint8Array.of(0xff)) } },
        'fromTFRecord.features.a',
      ],
      [
        [exampleFile],
        { decode: 'example', features: { a: fixedLenFeature('float32', [2], { length: 1e12 } as never) } },
        'fromTFRecord.features.a',
      ],
    ];
    for (const [inputs, options, argument] of bad) {
      assert.throws(() => fromTFRecord(inputs as string[], options as RawRecordOptions), isArgument(argument), argument);
    }
  });

  it('issue 9.13: parseExample and parseSequenceExample check their spec; feature names stay data', () => {
    const example = decodeExample(encodeExample({ a: BigInt64Array.of(1n) }));
    assert.throws(() => parseExample(example, null as unknown as FeatureSpec), isArgument('parseExample.spec'));
    assert.throws(() => parseExample(example, { a: fixedLenFeature('int64', [], 'x' as never) }), isArgument('parseExample.spec.a'));
    assert.throws(() => parseExample(null as never, {}), isArgument('parseExample.example'));
    assert.throws(() => parseSequenceExample({ context: {}, featureLists: {} }, null as never), isArgument('parseSequenceExample.spec'));
    const spec = Object.fromEntries([['__proto__', fixedLenFeature('int64', [], 5n)]]) as FeatureSpec;
    const parsed = parseExample(example, spec);
    assert.equal(Object.getPrototypeOf(parsed), Object.prototype);
    assert.deepEqual(Object.getOwnPropertyDescriptor(parsed, '__proto__')?.value, BigInt64Array.of(5n));
  });

  it('issue 9.13: toTFRecord rejects a non-string path and non-object options at once', () => {
    assert.throws(() => toTFRecord(5 as unknown as string), isArgument('toTFRecord.path'));
    assert.throws(() => toTFRecord('x.tfrecord', null as never), isArgument('toTFRecord.options'));
    assert.throws(() => toTFRecord('x.tfrecord', { highWaterMark: Symbol('x') as never }), isArgument('toTFRecord.highWaterMark'));
  });

  it('issue 9.13: encodeExample rejects a non-object and bytes lists of other values with typed errors', () => {
    assert.throws(() => encodeExample(null as unknown as ExampleInput), isArgument('encodeExample.features'));
    assert.throws(
      () => encodeExample({ a: [5] as unknown as string[] }),
      (error: unknown) => error instanceof FeatureError && error.feature === 'a' && error.mismatch === 'dtype',
    );
  });
});
