/**
 * Fuzz: TFRecord index files in the `tfrecord2idx` format (`readRecordIndex`, through
 * `tfrecordDataset`), and the reads they then drive over a file that may disagree with them.
 *
 * Allocation bound: the index is parsed 64 KiB at a time into typed arrays of 16 bytes per entry
 * (at most one entry per 4 bytes of index, grown by doubling: 8 x index bytes); a range read holds
 * at most the file: the largest single allocation may be `8 x input bytes + 1 MiB`.
 */
import { rmSync } from 'node:fs';
import { after, describe, it } from 'node:test';
import fc from 'fast-check';
import { CaseRunner, fuzzProperty, labelled, type AllocationBound } from './harness.js';
import { applyMutations, mutatedBytes, mutation, type Seed } from './mutate.js';
import { tfrecordFrames, tfrecordSeeds } from './seeds.js';
import { scratchRoot } from './targets/scratch.js';

const bound: AllocationBound = { perByte: 8, constant: 1024 * 1024 };
const seeds = tfrecordSeeds();
/** Each seed's true index, as tfrecord2idx writes it: `offset length` per frame. */
const indexOf = (bytes: Uint8Array): string =>
  tfrecordFrames(bytes)
    .map(({ start, data }) => `${start} ${data.byteLength + 16}\n`)
    .join('');
const indexSeeds: Seed[] = seeds.map((seed) => ({ name: `${seed.name}.idx`, bytes: Uint8Array.from(Buffer.from(indexOf(seed.bytes))) }));

const number = fc.oneof(
  fc.nat(200_000).map(String),
  fc.constantFrom('-1', '0', '16', '1e3', '0x10', '9007199254740993', '1' + '0'.repeat(400), 'NaN', '', ' ', '-0', '12.5'),
);
/** Index lines from the grammar with hostile numbers and separators. */
const line = fc
  .tuple(number, fc.constantFrom(' ', '\t', '  ', ''), number, fc.constantFrom('\n', '\r\n', '', ' \n', '\n\n'))
  .map(([offset, separator, length, end]) => `${offset}${separator}${length}${end}`);

const case_ = fc.oneof(
  // The true index of a real file, its bytes mutated.
  fc
    .record({ seed: fc.nat(seeds.length - 1), mutations: fc.array(mutation(indexSeeds.length), { minLength: 1, maxLength: 6 }) })
    .map(({ seed, mutations }) =>
      labelled(
        { file: seeds[seed]!.bytes, index: applyMutations(indexSeeds[seed]!.bytes, mutations, indexSeeds) },
        `${indexSeeds[seed]!.name} mutated`,
      ),
    ),
  // The true index of a real file, the file mutated under it (a stale index).
  fc
    .record({ seed: fc.nat(seeds.length - 1), file: mutatedBytes(seeds) })
    .map(({ seed, file }) =>
      labelled({ file: file.bytes, index: indexSeeds[seed]!.bytes }, `${indexSeeds[seed]!.name} over a mutated file`),
    ),
  // Lines from the grammar over a real file.
  fc
    .record({ seed: fc.nat(seeds.length - 1), lines: fc.array(line, { maxLength: 12 }) })
    .map(({ seed, lines }) =>
      labelled(
        { file: seeds[seed]!.bytes, index: Uint8Array.from(Buffer.from(lines.join(''))) },
        JSON.stringify(lines.join('')).slice(0, 200),
      ),
    ),
);

describe('fuzz: tfrecord2idx index files (readRecordIndex, tfrecordDataset)', () => {
  const runner = new CaseRunner('recordIndex');
  after(async () => {
    await runner.close();
    rmSync(scratchRoot('recordIndex', process.pid), { recursive: true, force: true });
  });

  it('issue 11: hostile index files, and true ones over mutated files, end typed within 8 x input + 1 MiB', async () => {
    await fuzzProperty({ parser: 'record-index', target: 'recordIndex', arbitrary: case_, bound, runs: 300, runner });
  });
});
