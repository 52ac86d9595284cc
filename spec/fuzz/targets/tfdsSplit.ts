import { readTfdsInfo, resolveTfdsSplit, type TfdsInfo } from '../../../sources/tfrecord/tfds.js';
import { octoDir } from '../seeds.js';
import { FuzzInvariantError } from './memorySource.js';
import type { FuzzTarget } from './target.js';

/** A split expression over the octo dataset (`train` and `val`, 25 examples each in one shard). */
export interface SplitInput {
  readonly expression: string;
}

let info: TfdsInfo;

/**
 * `resolveTfdsSplit`. Besides the harness's invariants, every range must be whole records inside
 * its split: integers with `0 <= start <= end <= numExamples`.
 */
export const target: FuzzTarget<SplitInput> = {
  setup: async () => {
    info = readTfdsInfo(octoDir);
  },
  inputBytes: (input) => input.expression.length,
  run: async (input) => {
    for (const range of resolveTfdsSplit(info, input.expression)) {
      const split = info.splits.get(range.split);
      if (split === undefined) throw new FuzzInvariantError(`range of unknown split ${range.split}`);
      const { start, end } = range;
      if (!Number.isInteger(start) || !Number.isInteger(end) || start < 0 || start > end || end > split.numExamples) {
        throw new FuzzInvariantError(`range [${start}, ${end}) is not whole records of ${range.split} (${split.numExamples})`);
      }
    }
  },
};
