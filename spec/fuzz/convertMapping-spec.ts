/**
 * Fuzz: the mapping of `rxfeed convert` (src/cli/convert.ts) on untrusted shard content.
 * `sampleToExample` (`parseList`, `featureOf`) on samples whose `<f>.int64.json`,
 * `<f>.float.json` and `<f>.bytes.json` fields hold hostile JSON either returns an Example that
 * `encodeExample` takes or throws typed; and `exampleToSample` then `sampleToExample` (with
 * `extensionOf`) gives back the same Example, for Examples decoded from mutated real records and
 * for Examples built with hostile feature names and values (issue 14).
 *
 * Allocation bound: a JSON list of n entries takes at least 2n bytes and becomes a list of at most
 * 8-byte values; a record's values are decoded then re-encoded as JSON text: the largest single
 * allocation may be `8 x input bytes + 64 KiB`.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import fc from 'fast-check';
import { convertMappingFixtures } from './fixtures/crashInputs.js';
import { CaseRunner, checkFixture, fuzzProperty, labelled, type AllocationBound } from './harness.js';
import { applyJsonMutations, jsonMutation, mutatedBytes, type Json } from './mutate.js';
import { exampleSeeds } from './seeds.js';
import type { ConvertInput } from './targets/convertMapping.js';

const bound: AllocationBound = { perByte: 8, constant: 64 * 1024 };
const fixtures = convertMappingFixtures();
const utf8 = (text: string): Uint8Array => Uint8Array.from(Buffer.from(text, 'utf8'));
const label = (input: object): string => (input as { label?: string }).label ?? '';

const typedField = fc.constantFrom(
  'x.int64.json',
  'y.float.json',
  'z.bytes.json',
  '.int64.json',
  'a%2Fb.float.json',
  '%5F_x.int64.json',
  'x.int64.json.int64.json',
  'X.INT64.JSON',
  'int64.json',
);
const plainField = fc.constantFrom('jpg', 'x', 'a%zz', 'a%00b', '%C3%A9', '__url__', '__proto__', 'constructor', 'x.json', '');

/** JSON texts that break list parsers: numbers past 2^53 and int64, exponents, wrong kinds, depth, size, bad UTF-8. */
const hostileText = fc.constantFrom(
  '[1,2,3]',
  '[]',
  '[9007199254740991]',
  '[9007199254740992]',
  '[9007199254740993]',
  '["9007199254740993"]',
  '["9223372036854775807"]',
  '["9223372036854775808"]',
  '["-9223372036854775809"]',
  '["99999999999999999999999999"]',
  '[1e5]',
  '["1e5"]',
  '["0x10"]',
  '["-"]',
  '["", "1"]',
  '["-0"]',
  '[-0]',
  '[1.5]',
  '[1e400]',
  '[-1e400]',
  '[3.4e39]',
  '[1e-50]',
  '[NaN]',
  '["NaN"]',
  '["Infinity"]',
  '[null]',
  '[true]',
  '[[1]]',
  '[{"a":1}]',
  '["AAEC"]',
  '["@@@="]',
  '["QUJD\\u0000"]',
  '"[1]"',
  '{"0":1,"length":1}',
  '1',
  'null',
  '',
  ' [1] ',
  '\ufeff[1]',
  '[1,]',
  '[1',
  `${'['.repeat(20_000)}${']'.repeat(20_000)}`,
  `[${'1,'.repeat(100_000)}1]`,
  `[${'"9223372036854775807",'.repeat(20_000)}1]`,
  `[${'1e38,'.repeat(50_000)}0]`,
);

const text = fc.oneof(
  { weight: 4, arbitrary: hostileText.map(utf8) },
  { weight: 2, arbitrary: fc.jsonValue({ maxDepth: 2 }).map((value) => utf8(JSON.stringify(value))) },
  {
    weight: 2,
    arbitrary: fc
      .tuple(
        fc.constantFrom<Json>([1, 2, 3], [0.5, -2.25], ['AAEC', ''], ['9007199254740993', 1]),
        fc.array(jsonMutation, { minLength: 1, maxLength: 3 }),
      )
      .map(([seed, mutations]) => utf8(applyJsonMutations(seed, mutations))),
  },
  { weight: 1, arbitrary: fc.uint8Array({ maxLength: 16 }) },
);

const samples = fc
  .array(fc.tuple(fc.oneof({ weight: 4, arbitrary: typedField }, { weight: 1, arbitrary: plainField }), text), {
    minLength: 1,
    maxLength: 4,
  })
  .map((fields) =>
    labelled(
      { kind: 'sample' as const, fields },
      `sample ${fields.map(([name, bytes]) => `${name}=${Buffer.from(bytes).toString('utf8').slice(0, 80)}${bytes.byteLength > 80 ? `...(${bytes.byteLength} B)` : ''}`).join(' ')}`,
    ),
  );

const records = mutatedBytes(exampleSeeds()).map((input) => labelled({ kind: 'record' as const, bytes: input.bytes }, label(input)));

/** Feature names the mapping escapes or could confuse with its own suffixes. */
const featureName = fc.oneof(
  {
    weight: 3,
    arbitrary: fc.constantFrom(
      'image/encoded',
      'label',
      'x.int64.json',
      'x.float.json',
      'x.bytes.json',
      'x.int64.json.bytes.json',
      '.int64.json',
      'int64.json',
      'x',
      '',
      '%',
      '%41',
      '%2F',
      'a/b\\c',
      '_x',
      '__key__',
      '__url__',
      '__proto__',
      'constructor',
      '\u0000',
      '\u007f\u0080',
      'é',
      '😀',
    ),
  },
  { weight: 1, arbitrary: fc.string({ maxLength: 8 }) },
);

const float32 = fc.float({ noDefaultInfinity: false, noNaN: false });
const featureValue = fc.oneof(
  fc.array(fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }), { maxLength: 4 }).map((values) => BigInt64Array.from(values)),
  fc
    .array(fc.constantFrom(2n ** 53n, -(2n ** 53n), 2n ** 53n - 1n, 2n ** 53n + 1n, 2n ** 63n - 1n, -(2n ** 63n), 0n), {
      minLength: 1,
      maxLength: 3,
    })
    .map((values) => BigInt64Array.from(values)),
  fc.array(float32, { maxLength: 4 }).map((values) => Float32Array.from(values)),
  fc.array(fc.uint8Array({ maxLength: 8 }), { maxLength: 3 }),
  fc.constant(null),
);
const examples = fc.array(fc.tuple(featureName, featureValue), { minLength: 1, maxLength: 4 }).map((features) =>
  labelled(
    { kind: 'example' as const, features },
    `example ${features
      .map(
        ([name, value]) =>
          `${JSON.stringify(name)}=${
            value === null
              ? 'null'
              : Array.isArray(value)
                ? `bytes[${value.length}]`
                : `${value.constructor.name}[${Array.from(value as ArrayLike<unknown>)
                    .map(String)
                    .join(',')}]`
          }`,
      )
      .join(' ')}`,
  ),
);

describe('fuzz: the convert mapping (sampleToExample, exampleToSample)', () => {
  const runner = new CaseRunner('convertMapping');
  after(() => runner.close());

  for (const [name, input] of Object.entries(fixtures)) {
    it(`issue 14: regression fixture ${name} maps, or fails typed, and round-trips`, async () => {
      const outcome = await checkFixture(runner, input, bound);
      assert.notEqual(outcome.kind, 'invariant');
    });
  }

  it('issue 14: hostile JSON lists in int64/float/bytes fields map to an Example encodeExample takes, or fail typed', async () => {
    const arbitrary: fc.Arbitrary<ConvertInput> = samples;
    await fuzzProperty({ parser: 'convert-sample', target: 'convertMapping', arbitrary, bound, runs: 400, runner, share: 1 / 3 });
  });

  it('issue 14: Examples of mutated real records map to a sample and back to the same Example', async () => {
    const arbitrary: fc.Arbitrary<ConvertInput> = records;
    await fuzzProperty({ parser: 'convert-record', target: 'convertMapping', arbitrary, bound, runs: 400, runner, share: 1 / 3 });
  });

  it('issue 14: Examples with hostile feature names and values map to a sample and back to the same Example', async () => {
    const arbitrary: fc.Arbitrary<ConvertInput> =
      Object.keys(fixtures).length === 0 ? examples : fc.oneof(examples, fc.constantFrom(...Object.values(fixtures)));
    await fuzzProperty({ parser: 'convert-example', target: 'convertMapping', arbitrary, bound, runs: 400, runner, share: 1 / 3 });
  });
});
