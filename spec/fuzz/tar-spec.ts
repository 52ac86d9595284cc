/**
 * Fuzz: the WebDataset tar reader (`fromWebDataset` over `tarReader.ts`), plain and gzip.
 *
 * Allocation bound: one member's data is allocated at its size, a GNU long name or pax header at
 * its size (at most 1 MiB), and node:zlib's output chunks are small: the largest single
 * allocation may be `1 x inflated input bytes + 1 MiB + 128 KiB`. A size field that claims more
 * than arrives must not be allocated (issue 9.5).
 */
import { after, describe, it } from 'node:test';
import { gzipSync } from 'node:zlib';
import fc from 'fast-check';
import { chunkSize } from './arbitraries.js';
import { tarFixtures } from './fixtures/crashInputs.js';
import { CaseRunner, checkFixture, fuzzProperty, labelled, type AllocationBound } from './harness.js';
import { mutatedBytes, type Seed } from './mutate.js';
import { gzipTarSeeds, tarSeeds } from './seeds.js';
import { buildTar, type SizeField, type TarMemberSpec } from './tarBuild.js';

const bound: AllocationBound = { perByte: 1, constant: 1024 * 1024 + 128 * 1024 };
const fixtures = tarFixtures();
const seeds: Seed[] = [...tarSeeds(), ...Object.entries(fixtures).map(([name, bytes]) => ({ name, bytes }))];

const memberName = fc.oneof(
  fc.constantFrom(
    'a/000.png',
    'a/000.cls',
    'x.__proto__',
    'x.__key__',
    'x.__url__',
    'x.constructor',
    '__meta__.json',
    '../x.cls',
    '/abs.cls',
    'x.',
    '.x',
    'dir/',
    'a..b',
    'x.toString',
  ),
  fc.string({ maxLength: 120 }),
);
const sizeField: fc.Arbitrary<SizeField | undefined> = fc.oneof(
  { weight: 4, arbitrary: fc.constant(undefined) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('octal' as const), value: fc.oneof(fc.nat(4096), fc.constant(0o77777777777)) }) },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant('base256' as const),
      value: fc.oneof(fc.bigInt({ min: 0n, max: 4096n }), fc.bigInt({ min: 0n, max: 2n ** 62n })),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant('pax' as const),
      value: fc.oneof(fc.nat(4096).map(String), fc.stringMatching(/^[0-9]{1,20}$/), fc.string({ maxLength: 8 })),
    }),
  },
);
const member: fc.Arbitrary<TarMemberSpec> = fc.record({
  name: memberName,
  data: fc.uint8Array({ maxLength: 1500 }),
  typeflag: fc.constantFrom(0x30, 0x30, 0x30, 0x00, 0x35, 0x31, 0x32, 0x4c, 0x78, 0x67, 0x4b, 0x37, 0x41),
  size: sizeField,
});

/** Shards built member by member, each header well formed but for the field under test. */
const structured = fc
  .record({ members: fc.array(member, { minLength: 1, maxLength: 6 }), end: fc.boolean(), chunk: chunkSize })
  .map(({ members, end, chunk }) =>
    labelled(
      { bytes: buildTar(members, end), chunk },
      `tar of ${members.map((m) => `${JSON.stringify(m.name)}:${m.typeflag}:${m.size === undefined ? m.data.byteLength : `${m.size.kind}=${m.size.value}`}`).join(', ')}${end ? '' : ' (no end blocks)'} chunk ${chunk}`,
    ),
  );

const mutated = fc
  .tuple(mutatedBytes(seeds), chunkSize)
  .map(([input, chunk]) => labelled({ bytes: input.bytes, chunk }, `${(input as { label?: string }).label} chunk ${chunk}`));

/** Gzip: mutated plain shards compressed, and the real gzip shard's own bytes mutated. */
const gzipped = fc.oneof(
  fc
    .tuple(mutatedBytes(seeds), chunkSize)
    .map(([input, chunk]) =>
      labelled({ bytes: new Uint8Array(gzipSync(input.bytes)), chunk }, `gzip(${(input as { label?: string }).label}) chunk ${chunk}`),
    ),
  fc
    .tuple(mutatedBytes(gzipTarSeeds()), chunkSize)
    .map(([input, chunk]) => labelled({ bytes: input.bytes, chunk }, `${(input as { label?: string }).label} chunk ${chunk}`)),
);

describe('fuzz: tar shards (fromWebDataset)', () => {
  const runner = new CaseRunner('tar');
  after(() => runner.close());

  for (const [name, bytes] of Object.entries(fixtures)) {
    const issue = name.startsWith('tar-member') ? '9.4' : '9.5';
    it(`issue ${issue}: regression fixture ${name} ends typed within the allocation bound`, async () => {
      await checkFixture(runner, { bytes, chunk: 4096 }, bound);
      await checkFixture(runner, { bytes: new Uint8Array(gzipSync(bytes)), chunk: 512 }, bound);
    });
  }

  it('issue 9: mutated real shards end, typed, within 1 x input + 1.125 MiB', async () => {
    await fuzzProperty({ parser: 'tar', target: 'tar', arbitrary: mutated, bound, runs: 120, runner, share: 1 / 3 });
  });

  it('issue 9: shards with hostile header fields (base-256, pax, names, type flags) end, typed, within the bound', async () => {
    await fuzzProperty({ parser: 'tar-headers', target: 'tar', arbitrary: structured, bound, runs: 150, runner, share: 1 / 3 });
  });

  it('issue 9: gzip shards (compressed mutants, mutated gzip bytes) end, typed, within 1 x inflated input + 1.125 MiB', async () => {
    await fuzzProperty({ parser: 'tar-gzip', target: 'tar', arbitrary: gzipped, bound, runs: 80, runner, share: 1 / 3 });
  });
});
