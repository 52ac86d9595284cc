/**
 * Fuzz: TFDS split expressions (`resolveTfdsSplit` over the octo dataset's real metadata).
 *
 * Allocation bound: resolving allocates no binary buffer: `0 x input + 64 KiB`. Beyond the
 * harness's invariants, every range must be whole records inside its split.
 */
import { after, describe, it } from 'node:test';
import fc from 'fast-check';
import { CaseRunner, fuzzProperty, labelled, type AllocationBound } from './harness.js';
import { applyMutations, mutation } from './mutate.js';

const bound: AllocationBound = { perByte: 0, constant: 64 * 1024 };

const number = fc.oneof(
  fc.integer({ min: -30, max: 30 }).map(String),
  fc.constantFrom('0', '-0', '100', '-100', '101', '99999999999999999999', '-99999999999999999999', '007', '1e3', ''),
);
const boundary = fc.tuple(number, fc.constantFrom('', '', '%', 'shard')).map(([value, unit]) => value + unit);
const slice = fc.oneof(
  fc.constant(''),
  number.map((index) => `[${index}]`),
  fc.tuple(boundary, boundary).map(([from, to]) => `[${from}:${to}]`),
  fc.string({ maxLength: 8 }).map((text) => `[${text}]`),
);
const part = fc
  .tuple(
    fc.constantFrom('train', 'train', 'train', 'val', 'val', 'test', 'TRAIN', '__proto__', 'constructor', 'train-x', ''),
    slice,
    fc.constantFrom('', '', '', '', '(closest)', '(pct1_dropremainder)', '(other)'),
    fc.constantFrom('', ' ', '\t'),
  )
  .map(([name, sliced, rounding, space]) => `${space}${name}${sliced}${rounding}${space}`);

/** Expressions from TFDS's grammar with hostile numbers, plus byte mutations of real ones. */
const expression = fc.oneof(
  { weight: 4, arbitrary: fc.array(part, { minLength: 1, maxLength: 4 }).map((parts) => parts.join('+')) },
  {
    weight: 1,
    arbitrary: fc
      .tuple(
        fc.constantFrom('train[:10%]+val', 'train[-5%:]', 'val[1shard:]', 'train[:50%](pct1_dropremainder)', 'train[3]'),
        fc.array(mutation(1), { maxLength: 4 }),
      )
      .map(([seed, mutations]) =>
        Buffer.from(
          applyMutations(Uint8Array.from(Buffer.from(seed)), mutations, [{ name: seed, bytes: Uint8Array.from(Buffer.from(seed)) }]),
        ).toString('latin1'),
      ),
  },
  { weight: 1, arbitrary: fc.string({ maxLength: 40 }) },
);

describe('fuzz: TFDS split expressions (resolveTfdsSplit)', () => {
  const runner = new CaseRunner('tfdsSplit');
  after(() => runner.close());

  it('issue 9: split expressions end, typed, in whole records inside their split', async () => {
    const arbitrary = expression.map((text) => labelled({ expression: text }, JSON.stringify(text)));
    await fuzzProperty({ parser: 'tfds-split', target: 'tfdsSplit', arbitrary, bound, runs: 1500, runner });
  });
});
