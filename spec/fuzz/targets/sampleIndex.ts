import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { webDatasetIndexed } from '../../../sources/webdataset/webDatasetIndexed.js';
import { FuzzInvariantError } from './memorySource.js';
import { inScratch } from './scratch.js';
import type { FuzzTarget } from './target.js';

/** A tar shard, and possibly a sidecar sample index and a `wids` descriptor for it, any of them hostile. */
export interface SampleIndexInput {
  readonly shard: Uint8Array;
  readonly sidecar?: string;
  readonly wids?: string;
  /** Read through the whole-shard cache (`cacheShards: 1`) rather than by range reads. */
  readonly cached: boolean;
}

/** Samples read per case at most: a lying descriptor may claim millions. */
const MOST_READ = 2048;

/**
 * `webDatasetIndexed` over the shard: its header scan, or its sidecar (`loadSidecar`), or the
 * descriptor (`loadDescriptor`), then reads of its samples in reverse order, which meet any stale
 * entry. Besides the harness's invariants, every sample read must be named by its shard.
 */
export const target: FuzzTarget<SampleIndexInput> = {
  inputBytes: (input) => input.shard.byteLength + (input.sidecar?.length ?? 0) + (input.wids?.length ?? 0),
  run: (input) =>
    inScratch('sampleIndex', async (dir) => {
      const shard = join(dir, 'shard.tar');
      writeFileSync(shard, input.shard);
      if (input.sidecar !== undefined) writeFileSync(`${shard}.idx.json`, input.sidecar);
      const descriptor = join(dir, 'wids.json');
      if (input.wids !== undefined) writeFileSync(descriptor, input.wids);
      const options = { cacheShards: input.cached ? 1 : 0 };
      const dataset = await webDatasetIndexed(input.wids === undefined ? shard : { wids: descriptor }, options);
      try {
        const count = Math.min(dataset.size, MOST_READ);
        const reversed = Array.from({ length: count }, (_, k) => dataset.size - 1 - k);
        for (let at = 0; at < reversed.length; at += 64) {
          for (const sample of await dataset.read(reversed.slice(at, at + 64))) {
            if (sample.__url__ !== shard) throw new FuzzInvariantError(`a sample of ${String(sample.__url__)}, not of the shard`);
          }
        }
      } finally {
        await dataset.close();
      }
    }),
};
