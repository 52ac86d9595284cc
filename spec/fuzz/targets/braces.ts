import { expandBraces } from '../../../sources/core/expandBraces.js';
import { FuzzInvariantError } from './memorySource.js';
import type { FuzzTarget } from './target.js';

/** A brace pattern. */
export interface BracesInput {
  readonly pattern: string;
}

/** The documented cap on names per pattern. */
const MAX_EXPANSION = 1_000_000;

/** `expandBraces`; besides the harness's invariants, it gives 1 to 1,000,000 names (its documented cap). */
export const target: FuzzTarget<BracesInput> = {
  inputBytes: (input) => input.pattern.length,
  run: async (input) => {
    const names = expandBraces(input.pattern);
    if (names.length < 1 || names.length > MAX_EXPANSION) throw new FuzzInvariantError(`${names.length} names`);
  },
};
