import { toLoader } from '../../../src/loader.js';
import type { LoaderState } from '../../../src/loaderState.js';
import { FuzzInvariantError } from './memorySource.js';
import { resumable, samplesIn } from './resumable.js';
import type { FuzzTarget } from './target.js';

/** A loader state (JSON text, one state or a list) and the pipeline it is given to. */
export interface LoaderStateInput {
  readonly pipeline: string;
  readonly state: string;
}

/** The samples an uninterrupted epoch of each resuming pipeline reads, counted once per worker. */
const whole = new Map<string, number>();

async function samplesOf(loader: AsyncIterable<unknown>): Promise<number> {
  let samples = 0;
  for await (const item of loader) samples += samplesIn(item);
  return samples;
}

/**
 * `toLoader(pipeline, { state })` read to its end. Besides the harness's invariants, a resumed
 * epoch reads no more samples than an uninterrupted one: whatever a state says, nothing is read
 * twice.
 */
export const target: FuzzTarget<LoaderStateInput> = {
  inputBytes: (input) => input.state.length,
  run: async (input) => {
    const { resume } = resumable[input.pipeline]!;
    if (!whole.has(input.pipeline)) whole.set(input.pipeline, await samplesOf(toLoader(resume())));
    let state: LoaderState | LoaderState[];
    try {
      state = JSON.parse(input.state) as LoaderState;
    } catch {
      return; // not JSON: JSON.parse's concern, not the loader's
    }
    const samples = await samplesOf(toLoader(resume(), { state }));
    const most = whole.get(input.pipeline)!;
    if (samples > most) throw new FuzzInvariantError(`${samples} samples resumed, more than the ${most} of a whole epoch`);
  },
};
