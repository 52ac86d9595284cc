/**
 * Type tests (issue 10): `tsc -p tsconfig.json` compiles this file, so a wrong type fails the build.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { expectTypeOf } from 'expect-type';
import { firstValueFrom, type Observable } from 'rxjs';
import {
  fixedLenFeature,
  fromTFRecord,
  varLenFeature,
  type Example,
  type ParsedSequenceExample,
  type SequenceExample,
} from '../../sources/tfrecord/index.js';
import { InvalidArgumentError } from '../../src/errors.js';
import { pytorchData } from '../sources/tfrecord/paths.js';

const examples = [join(pytorchData, 'example.tfrecord')];
const features = { x_int: varLenFeature('int64'), x_float: varLenFeature('float32'), x_byte: varLenFeature('bytes') };

/** The element type of an Observable. */
type Element<O> = O extends Observable<infer T> ? T : never;

describe('types: fromTFRecord overloads (issue 10)', () => {
  it('issue 10: raw records are Uint8Arrays, by default and with decode: raw', async () => {
    expectTypeOf(fromTFRecord(examples)).toEqualTypeOf<Observable<Uint8Array>>();
    expectTypeOf(fromTFRecord(examples, { decode: 'raw', verify: true })).toEqualTypeOf<Observable<Uint8Array>>();
    const record = await firstValueFrom(fromTFRecord(examples));
    assert.ok(record instanceof Uint8Array);
  });

  it('issue 10: decode: example with features gives the parsed fields, each by its dtype', async () => {
    const parsed = fromTFRecord(examples, { decode: 'example', features });
    type Parsed = Element<typeof parsed>;
    expectTypeOf<Parsed['x_float']>().toEqualTypeOf<Float32Array>();
    expectTypeOf<Parsed['x_byte']>().toEqualTypeOf<Uint8Array[]>();
    expectTypeOf<Parsed['x_int']>().toEqualTypeOf<BigInt64Array | Float64Array | Int32Array>();
    expectTypeOf<keyof Parsed>().toEqualTypeOf<'x_int' | 'x_float' | 'x_byte'>();
    const fixed = fromTFRecord(examples, { decode: 'example', features: { label: fixedLenFeature('string', []) } });
    expectTypeOf(fixed).toEqualTypeOf<Observable<{ label: string[] }>>();
    // @ts-expect-error a field not in the spec is not in the result
    expectTypeOf<Parsed['label']>().toBeUnknown();
    const first = await firstValueFrom(parsed);
    assert.ok(first.x_float instanceof Float32Array);
  });

  it('issue 10: decode: example without features gives the Example as stored', () => {
    expectTypeOf(fromTFRecord(examples, { decode: 'example' })).toEqualTypeOf<Observable<Example>>();
    assert.ok(true);
  });

  it('issue 10: decode: sequence-example, with and without specs', () => {
    const sequences = [join(pytorchData, 'sequence_example.tfrecord')];
    const context = { length: fixedLenFeature('int64', []) };
    const sequence = { tokens: varLenFeature('string') };
    const parsed = fromTFRecord(sequences, { decode: 'sequence-example', sequenceFeatures: { context, sequence } });
    expectTypeOf(parsed).toEqualTypeOf<Observable<ParsedSequenceExample<typeof context, typeof sequence>>>();
    type Parsed = Element<typeof parsed>;
    expectTypeOf<Parsed['sequence']['tokens']>().toEqualTypeOf<string[][]>();
    expectTypeOf<Parsed['lengths']>().toEqualTypeOf<{ tokens: number }>();
    expectTypeOf(fromTFRecord(sequences, { decode: 'sequence-example' })).toEqualTypeOf<Observable<SequenceExample>>();
    assert.ok(true);
  });

  it('issue 10: a decoder of your own gives its return type, awaited', async () => {
    const lengths = fromTFRecord(examples, { decode: (record: Uint8Array) => record.length });
    expectTypeOf(lengths).toEqualTypeOf<Observable<number>>();
    const keys = fromTFRecord(examples, { decode: async (_record: Uint8Array, location) => location.file });
    expectTypeOf(keys).toEqualTypeOf<Observable<string>>();
    assert.throws(
      // @ts-expect-error decode must be a mode or a function
      () => fromTFRecord(examples, { decode: 'json' }),
      (error: unknown) => error instanceof InvalidArgumentError && error.argument === 'fromTFRecord.decode',
    );
    assert.ok((await firstValueFrom(lengths)) > 0);
  });
});
