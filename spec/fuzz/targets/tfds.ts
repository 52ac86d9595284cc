import { symlinkSync, writeFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { count, lastValueFrom, take } from 'rxjs';
import { fromTfds, readTfdsInfo } from '../../../sources/tfrecord/tfds.js';
import { octoDir } from '../seeds.js';
import { FuzzInvariantError } from './memorySource.js';
import { inScratch } from './scratch.js';
import type { FuzzTarget } from './target.js';

/** A TFDS directory's metadata (JSON text) and the split to read. */
export interface TfdsInput {
  readonly info: string;
  readonly features: string;
  readonly split: string;
}

const shards = ['bridge_dataset-train.tfrecord-00000-of-00001', 'bridge_dataset-val.tfrecord-00000-of-00001'];

/**
 * `fromTfds` over a fresh directory holding the mutated `dataset_info.json` and `features.json`
 * and links to the real octo shards, reading the first two examples of the split. Besides the
 * harness's invariants, every shard path the metadata yields must lie inside the directory
 * (issue 9.3).
 */
export const target: FuzzTarget<TfdsInput> = {
  inputBytes: (input) => input.info.length + input.features.length + input.split.length,
  run: (input) =>
    inScratch('tfds', async (dir) => {
      writeFileSync(join(dir, 'dataset_info.json'), input.info);
      writeFileSync(join(dir, 'features.json'), input.features);
      for (const shard of shards) symlinkSync(join(octoDir, shard), join(dir, shard));
      let files: string[] = [];
      try {
        // Shard paths differ only by their index: the first and last of each split say where all go.
        files = [...readTfdsInfo(dir).splits.values()].flatMap((split) =>
          [split.files[0], split.files.at(-1)].filter((file) => file !== undefined),
        );
      } catch {
        // fromTfds below meets the same failure, and is what is judged.
      }
      for (const file of files) {
        const inside = relative(resolve(dir), resolve(file));
        if (inside.startsWith('..') || resolve(file) === resolve(dir))
          throw new FuzzInvariantError(`shard path ${file} is outside the dataset directory`);
      }
      await lastValueFrom(fromTfds(dir, { split: input.split }).pipe(take(2), count()));
    }),
};
