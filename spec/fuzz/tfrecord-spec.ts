/**
 * Fuzz: TFRecord framing (`fromTFRecord`, raw records), plain, gzip and zlib.
 *
 * Allocation bound: the byte window grows to hold one record (doubling, so up to twice the
 * bytes that arrived), plus read chunks and zlib's buffers: the largest single allocation may be
 * `2 x inflated input bytes + 1 MiB`. The review found this reader sound; the fuzz keeps it so.
 */
import { after, describe, it } from 'node:test';
import { deflateSync, gzipSync } from 'node:zlib';
import fc from 'fast-check';
import { chunkSize } from './arbitraries.js';
import { CaseRunner, fuzzProperty, labelled, type AllocationBound } from './harness.js';
import { mutatedBytes } from './mutate.js';
import { tfrecordSeeds } from './seeds.js';

const bound: AllocationBound = { perByte: 2, constant: 1024 * 1024 };
const seeds = tfrecordSeeds();
const label = (input: object): string => (input as { label?: string }).label ?? '';

const plain = fc
  .record({
    input: mutatedBytes(seeds),
    chunk: chunkSize,
    compression: fc.constantFrom('auto' as const, 'none' as const),
    onCorrupt: fc.constantFrom('error' as const, 'skip' as const),
  })
  .map(({ input, chunk, compression, onCorrupt }) =>
    labelled({ bytes: input.bytes, chunk, compression, onCorrupt }, `${label(input)} chunk ${chunk} ${compression} ${onCorrupt}`),
  );

const compressedSeeds = seeds.flatMap((seed) => [
  { name: `gzip(${seed.name})`, bytes: new Uint8Array(gzipSync(seed.bytes)) },
  { name: `zlib(${seed.name})`, bytes: new Uint8Array(deflateSync(seed.bytes)) },
]);

const compressed = fc.oneof(
  fc
    .record({
      input: mutatedBytes(seeds),
      chunk: chunkSize,
      format: fc.constantFrom('gzip' as const, 'zlib' as const),
      declared: fc.boolean(),
      onCorrupt: fc.constantFrom('error' as const, 'skip' as const),
    })
    .map(({ input, chunk, format, declared, onCorrupt }) =>
      labelled(
        {
          bytes: new Uint8Array(format === 'gzip' ? gzipSync(input.bytes) : deflateSync(input.bytes)),
          chunk,
          compression: declared ? format : ('auto' as const),
          onCorrupt,
        },
        `${format}(${label(input)}) chunk ${chunk} ${declared ? format : 'auto'} ${onCorrupt}`,
      ),
    ),
  fc
    .record({
      input: mutatedBytes(compressedSeeds),
      chunk: chunkSize,
      compression: fc.constantFrom('auto' as const, 'gzip' as const, 'zlib' as const),
      onCorrupt: fc.constantFrom('error' as const, 'skip' as const),
    })
    .map(({ input, chunk, compression, onCorrupt }) =>
      labelled({ bytes: input.bytes, chunk, compression, onCorrupt }, `${label(input)} chunk ${chunk} ${compression} ${onCorrupt}`),
    ),
);

describe('fuzz: TFRecord framing (fromTFRecord)', () => {
  const runner = new CaseRunner('tfrecord');
  after(() => runner.close());

  it('issue 9: mutated real TFRecord files end, typed, within 2 x input + 1 MiB', async () => {
    await fuzzProperty({ parser: 'tfrecord', target: 'tfrecord', arbitrary: plain, bound, runs: 150, runner, share: 1 / 2 });
  });

  it('issue 9: gzip and zlib TFRecord files (compressed mutants, mutated compressed bytes) end, typed, within 2 x inflated input + 1 MiB', async () => {
    await fuzzProperty({
      parser: 'tfrecord-compressed',
      target: 'tfrecord',
      arbitrary: compressed,
      bound,
      runs: 100,
      runner,
      share: 1 / 2,
    });
  });
});
