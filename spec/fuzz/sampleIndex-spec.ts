/**
 * Fuzz: WebDataset sample indexes (`webDatasetIndexed`): the header scan of a hostile shard, a
 * hostile sidecar `<shard>.idx.json`, a true sidecar over a shard changed under it, and a hostile
 * `wids` descriptor; then reads of the samples (by range reads, or through the shard cache).
 *
 * Allocation bound: the sidecar and the descriptor are parsed as text (not metered); a range read,
 * or the cache's one stream of the shard, holds at most the shard, and the tar parser a member of
 * it: the largest single allocation may be `2 x input bytes + 1 MiB`.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import fc from 'fast-check';
import { webDatasetIndexed } from '../../sources/webdataset/webDatasetIndexed.js';
import { CaseRunner, fuzzProperty, labelled, type AllocationBound } from './harness.js';
import { applyJsonMutations, describeJsonMutations, jsonMutation, mutatedBytes, type Json } from './mutate.js';
import { tarSeeds } from './seeds.js';
import { scratchRoot } from './targets/scratch.js';

const bound: AllocationBound = { perByte: 2, constant: 1024 * 1024 };
const seeds = tarSeeds();

/** Each seed's true sidecar, as `saveIndex` writes it, and a true `wids` descriptor for it. */
const truths = await (async () => {
  const dir = mkdtempSync(join(tmpdir(), 'rxfeed-fuzz-sidecars-'));
  try {
    return await Promise.all(
      seeds.map(async (seed, i) => {
        const shard = join(dir, `${i}.tar`);
        writeFileSync(shard, seed.bytes);
        const dataset = await webDatasetIndexed(shard, { saveIndex: true });
        const wids: Json = { wids_version: 1, shardlist: [{ url: 'shard.tar', nsamples: dataset.size }] };
        return { sidecar: JSON.parse(readFileSync(`${shard}.idx.json`, 'utf8')) as Json, wids };
      }),
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
})();

const seedIndex = fc.nat(seeds.length - 1);
const cached = fc.boolean();
const mutations = fc.array(jsonMutation, { minLength: 1, maxLength: 4 });

const case_ = fc.oneof(
  fc
    .record({ shard: mutatedBytes(seeds), cached })
    .map(({ shard, cached }) => labelled({ shard: shard.bytes, cached }, `mutated shard, scanned${cached ? ', cached' : ''}`)),
  fc
    .record({ seed: seedIndex, mutations, cached })
    .map(({ seed, mutations, cached }) =>
      labelled(
        { shard: seeds[seed]!.bytes, sidecar: applyJsonMutations(truths[seed]!.sidecar, mutations), cached },
        `${seeds[seed]!.name} sidecar ${describeJsonMutations(mutations)}`,
      ),
    ),
  fc
    .record({ seed: seedIndex, shard: mutatedBytes(seeds), cached })
    .map(({ seed, shard, cached }) =>
      labelled(
        { shard: shard.bytes, sidecar: JSON.stringify(truths[seed]!.sidecar), cached },
        `${seeds[seed]!.name}'s true sidecar over a mutated shard`,
      ),
    ),
  fc
    .record({ seed: seedIndex, mutations, cached })
    .map(({ seed, mutations, cached }) =>
      labelled(
        { shard: seeds[seed]!.bytes, wids: applyJsonMutations(truths[seed]!.wids, mutations), cached },
        `${seeds[seed]!.name} wids ${describeJsonMutations(mutations)}`,
      ),
    ),
);

describe('fuzz: WebDataset sample indexes, sidecars and wids descriptors (webDatasetIndexed)', () => {
  const runner = new CaseRunner('sampleIndex');
  after(async () => {
    await runner.close();
    rmSync(scratchRoot('sampleIndex', process.pid), { recursive: true, force: true });
  });

  it('issue 11: hostile shards, sidecars and descriptors end typed within 2 x input + 1 MiB', async () => {
    await fuzzProperty({ parser: 'sample-index', target: 'sampleIndex', arbitrary: case_, bound, runs: 300, runner });
  });
});
