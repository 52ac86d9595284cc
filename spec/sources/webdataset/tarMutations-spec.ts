import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { campaign } from './tarMutations.js';

describe('tar reader on mutated shards (issue 9.13)', () => {
  const cases = Number(process.env.RXFEED_TAR_MUTATIONS ?? 1000);
  const seed = Number(process.env.RXFEED_TAR_SEED ?? 9);

  it(`issue 9.13: ${cases} mutated shards each end normally or with a typed error, none hangs`, async () => {
    const { counts, bad } = await campaign(seed, cases);
    if (process.env.RXFEED_TAR_MUTATIONS !== undefined) console.log(Object.fromEntries([...counts].sort()));
    assert.deepEqual(
      bad.map(({ index, via, outcome }) => `${index} ${via}: ${outcome.kind} ${String('error' in outcome ? outcome.error : '')}`),
      [],
    );
  });
});
