/**
 * Fuzz: WebDataset brace expansion (`expandBraces`).
 *
 * Allocation bound: expansion makes strings, no binary buffer: `0 x input + 64 KiB`; beyond the
 * harness's invariants, a pattern gives 1 to 1,000,000 names (its documented cap), so
 * `{0..99999999}` or many small groups fail typed instead of filling memory.
 */
import { after, describe, it } from 'node:test';
import fc from 'fast-check';
import { CaseRunner, fuzzProperty, labelled, type AllocationBound } from './harness.js';

const bound: AllocationBound = { perByte: 0, constant: 64 * 1024 };

const bound10 = fc.oneof(
  fc.integer({ min: -20, max: 2000 }).map(String),
  fc.constantFrom('000000', '000099', '99999999', '1e3', '-0', '0x10', '9007199254740993', '99999999999999999999'),
);
const group = fc.oneof(
  fc.tuple(bound10, bound10).map(([from, to]) => `{${from}..${to}}`),
  fc.array(fc.string({ maxLength: 4 }), { minLength: 1, maxLength: 5 }).map((items) => `{${items.join(',')}}`),
  fc.constantFrom('{', '}', '{}', '{,}', '{a{b}c}', '{0..}', '{..9}', '{0...9}', '{a,b', 'a}b{'),
);
const literal = fc.constantFrom('shard-', 'http://127.0.0.1/x-', '.tar', '/', '', 'a'.repeat(200));
const pattern = fc.oneof(
  { weight: 4, arbitrary: fc.array(fc.oneof(literal, group), { minLength: 1, maxLength: 6 }).map((parts) => parts.join('')) },
  { weight: 1, arbitrary: fc.string({ maxLength: 30 }) },
  // Many small groups: 2^20 names from 20 groups of two.
  { weight: 1, arbitrary: fc.integer({ min: 1, max: 24 }).map((groups) => 'x'.concat('{a,b}'.repeat(groups))) },
);

describe('fuzz: brace expansion (expandBraces)', () => {
  const runner = new CaseRunner('braces');
  after(() => runner.close());

  it('issue 9: brace patterns end, typed, with at most 1,000,000 names', async () => {
    const arbitrary = pattern.map((text) =>
      labelled({ pattern: text }, JSON.stringify(text.length > 300 ? `${text.slice(0, 300)}...` : text)),
    );
    await fuzzProperty({ parser: 'braces', target: 'braces', arbitrary, bound, runs: 400, runner });
  });
});
