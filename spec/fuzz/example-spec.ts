/**
 * Fuzz: `tf.train.Example` / `SequenceExample` decoding (`decodeExample`, `decodeSequenceExample`).
 *
 * Allocation bound: value arrays are sized by what was decoded, and the widest case is an int64
 * list (8 bytes per value, 1 byte per varint on the wire): the largest single allocation may be
 * `8 x input bytes + 64 KiB`. The review found these decoders sound; the fuzz keeps them so.
 */
import { after, describe, it } from 'node:test';
import fc from 'fast-check';
import { CaseRunner, fuzzProperty, labelled, type AllocationBound } from './harness.js';
import { mutatedBytes } from './mutate.js';
import { exampleSeeds, sequenceExampleSeeds } from './seeds.js';

const bound: AllocationBound = { perByte: 8, constant: 64 * 1024 };
const label = (input: object): string => (input as { label?: string }).label ?? '';

/** A protobuf field as written on the wire, its length prefix possibly lying. */
interface PbField {
  readonly number: number;
  readonly wire: number;
  readonly value: bigint | Uint8Array | PbField[];
  readonly lengthDelta: number;
}

function varint(value: bigint): number[] {
  const out: number[] = [];
  let rest = BigInt.asUintN(64, value);
  do {
    const byte = Number(rest & 0x7fn);
    rest >>= 7n;
    out.push(rest === 0n ? byte : byte | 0x80);
  } while (rest !== 0n);
  return out;
}

function encode(fields: readonly PbField[]): Uint8Array {
  const out: number[] = [];
  for (const field of fields) {
    out.push(...varint((BigInt(field.number) << 3n) | BigInt(field.wire & 7)));
    const { value } = field;
    const payload = typeof value === 'bigint' ? undefined : value instanceof Uint8Array ? value : encode(value);
    switch (field.wire) {
      case 0:
        out.push(...varint(typeof value === 'bigint' ? value : BigInt(payload!.byteLength)));
        break;
      case 1:
      case 5: {
        const bytes = field.wire === 1 ? 8 : 4;
        const number = typeof value === 'bigint' ? value : BigInt(payload!.byteLength);
        for (let i = 0; i < bytes; i++) out.push(Number((number >> BigInt(8 * i)) & 0xffn));
        break;
      }
      default: {
        const bytes = payload ?? Uint8Array.from(varint(value as bigint));
        out.push(...varint(BigInt(Math.max(0, bytes.byteLength + field.lengthDelta))), ...bytes);
      }
    }
  }
  return Uint8Array.from(out);
}

/** Protobuf-shaped messages with Example's field numbers, any wire type, lying lengths, odd packed sizes. */
const { message } = fc.letrec<{ message: PbField[]; field: PbField }>((tie) => ({
  message: fc.array(tie('field'), { maxLength: 4, depthIdentifier: 'pb' }),
  field: fc.record({
    number: fc.oneof(fc.integer({ min: 1, max: 4 }), fc.integer({ min: 1, max: 2 ** 29 - 1 })),
    wire: fc.constantFrom(0, 1, 2, 2, 2, 2, 5, 3, 4, 6, 7),
    value: fc.oneof(
      { maxDepth: 3, depthIdentifier: 'pb', withCrossShrink: true },
      fc.uint8Array({ maxLength: 64 }),
      fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }),
      tie('message'),
    ) as fc.Arbitrary<PbField['value']>,
    lengthDelta: fc.oneof(
      { weight: 6, arbitrary: fc.constant(0) },
      { weight: 1, arbitrary: fc.integer({ min: -3, max: 3 }) },
      { weight: 1, arbitrary: fc.constant(2 ** 31) },
    ),
  }),
}));

const kind = fc.constantFrom('example' as const, 'sequence' as const);
const int64 = fc.constantFrom('bigint' as const, 'number' as const, 'int32' as const);

const mutatedExamples = fc
  .record({ input: fc.oneof(mutatedBytes(exampleSeeds()), mutatedBytes(sequenceExampleSeeds())), kind, int64 })
  .map(({ input, kind, int64 }) => labelled({ bytes: input.bytes, kind, int64 }, `${label(input)} as ${kind} ${int64}`));

const structured = fc.record({ fields: message, kind, int64 }).map(({ fields, kind, int64 }) => {
  const bytes = encode(fields);
  return labelled({ bytes, kind, int64 }, `protobuf ${Buffer.from(bytes).toString('hex').slice(0, 400)} as ${kind} ${int64}`);
});

describe('fuzz: Example / SequenceExample decoding', () => {
  const runner = new CaseRunner('example');
  after(() => runner.close());

  it('issue 9: mutated real Examples and SequenceExamples end, typed, within 8 x input + 64 KiB', async () => {
    await fuzzProperty({ parser: 'example', target: 'example', arbitrary: mutatedExamples, bound, runs: 1000, runner, share: 1 / 2 });
  });

  it('issue 9: protobuf-shaped records (any wire type, lying lengths) end, typed, within 8 x input + 64 KiB', async () => {
    await fuzzProperty({ parser: 'example-protobuf', target: 'example', arbitrary: structured, bound, runs: 1000, runner, share: 1 / 2 });
  });
});
