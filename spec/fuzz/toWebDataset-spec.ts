/**
 * Fuzz: the WebDataset writer's input path (`encodeSample` through `toWebDataset` to a temp
 * folder, read back with `fromWebDataset`), on arbitrary samples: hostile keys (dots, slashes,
 * `..`, NUL, unicode, past ustar's 100 bytes, `__proto__`, repeated), hostile field names, and
 * values of every JavaScript kind (cyclic and bigint-holding JSON, NaN, typed arrays of other
 * kinds, getters that throw).
 *
 * Either the write fails with a `SampleWriteError` or `InvalidArgumentError` and leaves only the
 * shards it completed (no temporary file), or the shards read back as exactly the samples
 * written; each shard is within `maxCount` and, unless it holds one sample, `maxSize` (issue 14).
 *
 * Allocation bound: the writer holds one sample and up to 256 KiB of packed tar, the reader one
 * member: the largest single allocation may be `2 x sample bytes + 1 MiB`.
 */
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { after, describe, it } from 'node:test';
import fc from 'fast-check';
import { webDatasetWriteFixtures } from './fixtures/crashInputs.js';
import { CaseRunner, checkFixture, fuzzProperty, labelled, type AllocationBound } from './harness.js';
import { scratchRoot } from './targets/scratch.js';
import type { SampleSpec, ValueSpec, WriteInput } from './targets/toWebDataset.js';

const bound: AllocationBound = { perByte: 2, constant: 1024 * 1024 };
const fixtures = webDatasetWriteFixtures();

const key = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom('sample-0001', 'a', 'dir/sub/sample') },
  {
    weight: 3,
    arbitrary: fc.constantFrom(
      'a.b',
      '.hidden',
      'a/b',
      '../x',
      '..',
      '.',
      'a/../b',
      'a/./b',
      '/abs',
      'a//b',
      'a/',
      'a\\b',
      'a\u0000b',
      'a\nb',
      '\u007f',
      '',
      ' ',
      'ключ',
      '😀',
      '\ud800',
      '__proto__',
      'constructor',
      '__key__',
      'k'.repeat(300),
      `${'d/'.repeat(80)}x`,
      'ü'.repeat(60),
      '%d',
    ),
  },
  { weight: 2, arbitrary: fc.string({ unit: 'binary', maxLength: 12 }) },
);

const fieldName = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom('cls', 'jpg', 'txt', 'json', 'seg.png', 'meta.json', 'x.int64.json') },
  {
    weight: 2,
    arbitrary: fc.constantFrom(
      '',
      '.',
      '.json',
      'json.',
      'a..b',
      'a/b',
      'a\\b',
      'a\u0000b',
      'JPG',
      'İ',
      'ß',
      'é',
      '_meta',
      '__url__',
      '__proto__',
      'constructor',
      'hasOwnProperty',
      'x\udc00',
      'ext'.repeat(60),
    ),
  },
  { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 8 }) },
);

const json = fc.jsonValue({ maxDepth: 3 });

const value: fc.Arbitrary<ValueSpec> = fc.oneof(
  { weight: 3, arbitrary: fc.uint8Array({ maxLength: 3000 }).map((bytes) => ({ kind: 'bytes' as const, bytes })) },
  { weight: 1, arbitrary: fc.constant({ kind: 'bytes' as const, bytes: new Uint8Array(300 * 1024).fill(7) }) },
  { weight: 2, arbitrary: fc.string({ unit: 'binary', maxLength: 200 }).map((text) => ({ kind: 'string' as const, text })) },
  { weight: 1, arbitrary: fc.constantFrom('\ud800', 'a\u0000b', '').map((text) => ({ kind: 'string' as const, text })) },
  { weight: 2, arbitrary: fc.double().map((number) => ({ kind: 'number' as const, value: number })) },
  { weight: 1, arbitrary: fc.bigInt().map((number) => ({ kind: 'bigint' as const, value: number })) },
  { weight: 2, arbitrary: json.map((item) => ({ kind: 'json' as const, value: item })) },
  {
    weight: 1,
    arbitrary: fc
      .tuple(
        fc.constantFrom('Float32Array', 'Float64Array', 'Int16Array', 'Uint8ClampedArray', 'BigInt64Array', 'DataView', 'ArrayBuffer'),
        fc.nat(16),
      )
      .map(([type, length]) => ({ kind: 'typed' as const, type, length })),
  },
  {
    weight: 2,
    arbitrary: fc
      .constantFrom(
        'cyclic',
        'json-bigint',
        'toJSON-throws',
        'json-getter-throws',
        'getter-throws',
        'deep-json',
        'class',
        'null',
        'true',
        'undefined',
        'date',
        'map',
        'function',
        'symbol',
        'promise',
      )
      .map((what) => ({ kind: 'hostile' as const, what })),
  },
);

/** JSON values go to a field ending in `json`, as the writer asks; other kinds go anywhere. */
const field = fc.oneof(
  { weight: 3, arbitrary: fc.tuple(fieldName, value) },
  { weight: 2, arbitrary: fc.tuple(fc.constantFrom('json', 'meta.json'), value) },
);

const sample: fc.Arbitrary<SampleSpec> = fc.oneof(
  { weight: 12, arbitrary: fc.record({ key, fields: fc.array(field, { minLength: 1, maxLength: 4 }) }) },
  { weight: 1, arbitrary: fc.record({ key: fc.constantFrom(7, null, undefined), fields: fc.array(field, { maxLength: 2 }) }) },
  {
    weight: 1,
    arbitrary: fc.record({
      key,
      fields: fc.constant([]),
      notObject: fc.constantFrom('null' as const, 'string' as const, 'array' as const),
    }),
  },
);

/** Mostly valid samples, so that shards fill and close before a hostile one arrives. */
const valid: fc.Arbitrary<SampleSpec> = fc
  .tuple(fc.nat(9999), fc.uint8Array({ maxLength: 3000 }), fc.string({ maxLength: 40 }))
  .map(([n, bytes, text]) => ({
    key: `s/${String(n).padStart(4, '0')}`,
    fields: [
      ['bin', { kind: 'bytes', bytes }],
      ['txt', { kind: 'string', text }],
      ['cls', { kind: 'number', value: n }],
    ],
  }));

const input: fc.Arbitrary<WriteInput> = fc.record({
  samples: fc.array(
    fc.oneof(
      { weight: 2, arbitrary: valid },
      { weight: 3, arbitrary: sample },
      { weight: 1, arbitrary: fc.constantFrom(...Object.values(fixtures).map((fixture) => fixture.samples[0]!)) },
    ),
    { minLength: 1, maxLength: 6 },
  ),
  maxCount: fc.constantFrom(1, 2, 3, 100),
  maxSize: fc.constantFrom(1024, 2048, 4096, 10_240, 3e9),
});

const summary = (value: WriteInput): string =>
  JSON.stringify(value, (_key, item: unknown) =>
    item instanceof Uint8Array
      ? `<${item.byteLength} bytes>`
      : typeof item === 'bigint'
        ? `${item}n`
        : typeof item === 'number' && !Number.isFinite(item)
          ? String(item)
          : item,
  ).slice(0, 1500);

describe('fuzz: the WebDataset writer (toWebDataset, encodeSample)', () => {
  const runner = new CaseRunner('toWebDataset');
  after(async () => {
    await runner.close();
    rmSync(scratchRoot('toWebDataset', process.pid), { recursive: true, force: true });
  });

  for (const [name, input] of Object.entries(fixtures)) {
    it(`issue 14: regression fixture ${name} fails typed, leaving no shard`, async () => {
      const outcome = await checkFixture(runner, input, bound);
      assert.equal(outcome.kind, 'typed');
    });
  }

  it('issue 14: hostile samples fail typed leaving only complete shards, or read back as written, within 2 x sample bytes + 1 MiB', async () => {
    const arbitrary = input.map((value) => labelled({ ...value }, summary(value)));
    await fuzzProperty({ parser: 'to-webdataset', target: 'toWebDataset', arbitrary, bound, runs: 300, runner });
  });
});
