/**
 * Fuzz: nginx JSON autoindex listings and JSON index files (`httpStore(...).list` against a
 * hostile loopback server).
 *
 * Allocation bound: one listing body is held at a time, with undici's buffers: the largest single
 * allocation may be `2 x listing bytes + 1 MiB`. A listing naming `.` or `..` (a cycle) must end,
 * typed (issue 9.6).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import fc from 'fast-check';
import { nginxFixtures, nginxListing } from './fixtures/crashInputs.js';
import { CaseRunner, checkFixture, fuzzProperty, labelled, type AllocationBound } from './harness.js';
import { applyJsonMutations, describeJsonMutations, jsonMutation, type Json } from './mutate.js';
import { sharedData } from './seeds.js';

const bound: AllocationBound = { perByte: 2, constant: 1024 * 1024 };
const fixtures = nginxFixtures();

/** A two-level autoindex, as nginx's `autoindex_format json` writes it. */
const autoindex: Record<string, Json> = {
  '/data/': JSON.parse(
    nginxListing([
      { name: 'train', type: 'directory' },
      { name: 'val-000000.tar', type: 'file', size: 10240 },
    ]),
  ) as Json,
  '/data/train/': JSON.parse(
    nginxListing([
      { name: 'train-000000.tar', type: 'file', size: 10240 },
      { name: 'train-000001.tar', type: 'file', size: 20480 },
    ]),
  ) as Json,
};
/** WebDataset's own shard-list files, as JSON indexes. */
const indexSeeds = ['imagenet-shards.json', 'imagenet-extra.json'].map(
  (name) => JSON.parse(readFileSync(join(sharedData, 'webdataset', name), 'utf8')) as Json,
);
indexSeeds.push({ shardlist: [{ url: 'train-000000.tar', size: 10240 }, 'train-000001.tar'] }, ['a.tar', { key: 'b.tar' }]);

const entryName = fc.constantFrom(
  '.',
  '..',
  './',
  '../',
  'train',
  'train/',
  '/',
  '//127.0.0.1:9/x',
  '../../etc',
  'a%2f..%2fb',
  '',
  '__proto__',
);
const nginxCase = fc
  .record({
    root: fc.array(jsonMutation, { maxLength: 3 }),
    train: fc.array(jsonMutation, { maxLength: 3 }),
    extra: fc.option(fc.record({ name: entryName, type: fc.constantFrom('directory', 'file', 'other') })),
  })
  .map(({ root, train, extra }) => {
    const rootListing = extra === null ? autoindex['/data/']! : [...(autoindex['/data/'] as Json[]), extra as Json];
    const documents = {
      '/data/': applyJsonMutations(rootListing, root),
      '/data/train/': applyJsonMutations(autoindex['/data/train/']!, train),
    };
    return labelled(
      { documents, index: 'nginx-json' as const },
      `autoindex ${extra === null ? '' : `+${JSON.stringify(extra)} `}/data/: ${describeJsonMutations(root)}; /data/train/: ${describeJsonMutations(train)}`,
    );
  });
const indexCase = fc
  .record({ seed: fc.nat(indexSeeds.length - 1), mutations: fc.array(jsonMutation, { maxLength: 4 }) })
  .map(({ seed, mutations }) =>
    labelled(
      { documents: { '/data/index.json': applyJsonMutations(indexSeeds[seed]!, mutations) }, index: 'index.json' as const },
      `index #${seed} ${describeJsonMutations(mutations)}`,
    ),
  );
const rawCase = fc
  .string({ maxLength: 60 })
  .map((text) => labelled({ documents: { '/data/': text }, index: 'nginx-json' as const }, `raw ${JSON.stringify(text)}`));

describe('fuzz: nginx JSON listings and JSON indexes (httpStore.list)', () => {
  const runner = new CaseRunner('nginxListing');
  after(() => runner.close());

  for (const [name, input] of Object.entries(fixtures)) {
    it(`issue 9.6: regression fixture ${name} ends typed within the allocation bound`, async () => {
      await checkFixture(runner, input, bound);
    });
  }

  it('issue 9: hostile nginx listings and JSON indexes end, typed, within 2 x listing bytes + 1 MiB', async () => {
    // The fixtures' listings, JSON-mutated like the autoindex tree.
    const fixtureCase = fc
      .record({ fixture: fc.constantFrom(...Object.keys(fixtures)), mutations: fc.array(jsonMutation, { maxLength: 3 }) })
      .map(({ fixture, mutations }) => {
        const documents = Object.fromEntries(
          Object.entries(fixtures[fixture]!.documents).map(([path, text]) => [
            path,
            applyJsonMutations(JSON.parse(text) as Json, mutations),
          ]),
        );
        return labelled({ documents, index: 'nginx-json' as const }, `${fixture} ${describeJsonMutations(mutations)}`);
      });
    const arbitrary = fc.oneof(
      { weight: 3, arbitrary: nginxCase },
      { weight: 2, arbitrary: indexCase },
      { weight: 1, arbitrary: rawCase },
      { weight: 1, arbitrary: fixtureCase },
    );
    await fuzzProperty({ parser: 'nginx-listing', target: 'nginxListing', arbitrary, bound, runs: 200, runner });
  });
});
