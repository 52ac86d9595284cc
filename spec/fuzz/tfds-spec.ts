/**
 * Fuzz: TFDS metadata, `dataset_info.json` and `features.json` (`fromTfds` over a directory with
 * the real octo shards), reading the first two examples.
 *
 * Allocation bound: the JSON is parsed as text (not metered); reading allocates stream chunks of
 * 256 KiB, a window holding one episode record (about 139 KB, grown by doubling) and the decoded
 * features of one episode: the largest single allocation may be `8 x metadata bytes + 4 MiB`.
 * Beyond the harness's invariants, every shard path must lie inside the directory (issue 9.3).
 */
import { rmSync } from 'node:fs';
import { after, describe, it } from 'node:test';
import fc from 'fast-check';
import { tfdsFixtures } from './fixtures/crashInputs.js';
import { CaseRunner, checkFixture, fuzzProperty, labelled, type AllocationBound } from './harness.js';
import { applyJsonMutations, describeJsonMutations, jsonMutation, type Json } from './mutate.js';
import { tfdsSeeds } from './seeds.js';
import { scratchRoot } from './targets/scratch.js';

const bound: AllocationBound = { perByte: 8, constant: 4 * 1024 * 1024 };
const seeds = tfdsSeeds() as { info: Json; features: Json };
const fixtures = tfdsFixtures(seeds.info, seeds.features);
const split = fc.oneof(
  { weight: 4, arbitrary: fc.constant('train') },
  { weight: 1, arbitrary: fc.constantFrom('val', 'train[:1]', 'train[-1:]+val[3:4]') },
);

/** The real dataset_info.json and the fixtures' (but the million-shard one, which is slow to mutate), parsed. */
const infoSeeds: [string, Json][] = [
  ['dataset_info.json', seeds.info],
  ...Object.entries(fixtures)
    .filter(([name]) => !name.endsWith('1e6') && !name.startsWith('tfds-features'))
    .map(([name, fixture]): [string, Json] => [name, JSON.parse(fixture.info) as Json]),
];

const mutatedInfo = fc
  .record({ seed: fc.nat(infoSeeds.length - 1), mutations: fc.array(jsonMutation, { minLength: 1, maxLength: 4 }), split })
  .map(({ seed, mutations, split }) =>
    labelled(
      { info: applyJsonMutations(infoSeeds[seed]![1], mutations), features: JSON.stringify(seeds.features), split },
      `${infoSeeds[seed]![0]} ${describeJsonMutations(mutations)} split ${split}`,
    ),
  );

const mutatedFeatures = fc
  .record({ mutations: fc.array(jsonMutation, { minLength: 1, maxLength: 4 }), split })
  .map(({ mutations, split }) =>
    labelled(
      { info: JSON.stringify(seeds.info), features: applyJsonMutations(seeds.features, mutations), split },
      `features.json ${describeJsonMutations(mutations)} split ${split}`,
    ),
  );

describe('fuzz: TFDS metadata (fromTfds)', () => {
  const runner = new CaseRunner('tfds');
  after(async () => {
    await runner.close();
    rmSync(scratchRoot('tfds', process.pid), { recursive: true, force: true });
  });

  for (const [name, input] of Object.entries(fixtures)) {
    const issue = name.includes('outside') || name.includes('dotdot') ? '9.3' : '9.13';
    it(`issue ${issue}: regression fixture ${name} ends typed within the allocation bound`, async () => {
      await checkFixture(runner, input, bound);
    });
  }

  it('issue 9: mutated dataset_info.json ends, typed, within 8 x metadata + 4 MiB, shards inside the directory', async () => {
    await fuzzProperty({ parser: 'tfds-info', target: 'tfds', arbitrary: mutatedInfo, bound, runs: 40, runner, share: 1 / 2 });
  });

  it('issue 9: mutated features.json ends, typed, within 8 x metadata + 4 MiB', async () => {
    await fuzzProperty({ parser: 'tfds-features', target: 'tfds', arbitrary: mutatedFeatures, bound, runs: 40, runner, share: 1 / 2 });
  });
});
