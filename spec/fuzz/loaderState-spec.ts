/**
 * Fuzz: loader states (`toLoader(pipeline, { state })`), a state being untrusted input read back
 * from a file: JSON mutations of real states, saved mid-epoch by pipelines through every stage
 * that saves a part (see `targets/resumable.ts`), then given to a new loader read to its end.
 *
 * Allocation bound: a state is parsed as text (not metered); reading allocates the pipelines' own
 * buffers (tar and TFRecord reads of the shared files, at most 1 MiB chunks): the largest single
 * allocation may be `8 x state bytes + 4 MiB`. Beyond the harness's invariants, a resumed epoch
 * never reads more samples than a whole one.
 */
import { after, describe, it } from 'node:test';
import fc from 'fast-check';
import { toLoader } from '../../src/loader.js';
import type { LoaderState } from '../../src/loaderState.js';
import { CaseRunner, fuzzProperty, labelled, type AllocationBound } from './harness.js';
import { applyJsonMutations, describeJsonMutations, jsonMutation, type Json } from './mutate.js';
import { resumable } from './targets/resumable.js';

const bound: AllocationBound = { perByte: 8, constant: 4 * 1024 * 1024 };

/** The state after `batches` items of each of a pipeline's savers (one per rank). */
async function statesAfter(savers: readonly (() => import('rxjs').Observable<unknown>)[], batches: number): Promise<LoaderState[]> {
  const states: LoaderState[] = [];
  for (const save of savers) {
    const loader = toLoader(save());
    let seen = 0;
    for await (const _item of loader) if (++seen === batches) break;
    states.push(loader.state());
  }
  return states;
}

describe('fuzz: loader states (toLoader({ state }))', () => {
  const runner = new CaseRunner('loaderState');
  after(() => runner.close());

  it('issue 13: mutated loader states end, typed, within 8 x state + 4 MiB, never reading more than a whole epoch', async () => {
    const seeds: { pipeline: string; state: Json; name: string }[] = [];
    for (const [pipeline, { save }] of Object.entries(resumable)) {
      for (const batches of [1, 5]) {
        const states = await statesAfter(save, batches);
        const state = (states.length === 1 ? states[0] : states) as unknown as Json;
        seeds.push({ pipeline, state, name: `${pipeline} after ${batches}` });
      }
    }
    const arbitrary = fc
      .record({ seed: fc.nat(seeds.length - 1), mutations: fc.array(jsonMutation, { minLength: 1, maxLength: 4 }) })
      .map(({ seed, mutations }) =>
        labelled(
          { pipeline: seeds[seed]!.pipeline, state: applyJsonMutations(seeds[seed]!.state, mutations) },
          `${seeds[seed]!.name} ${describeJsonMutations(mutations)}`,
        ),
      );
    await fuzzProperty({ parser: 'loader-state', target: 'loaderState', arbitrary, bound, runs: 300, runner });
  });
});
