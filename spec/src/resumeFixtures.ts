/**
 * What the resume specs of issue 13 share: a dataset of numbers with a layout, a jittering task,
 * and loops that stop at a checkpoint.
 * @module
 */
import assert from 'node:assert/strict';
import type { Loader } from '../../src/loader.js';
import type { LoaderState } from '../../src/loaderState.js';
import type { Random } from '../../src/random.js';
import { itemsDataset } from '../../sources/core/itemsDataset.js';
import type { RandomAccess } from '../../sources/core/randomAccess.js';

/** The numbers `[0, n)` as a dataset cut into shards (`blockShuffle` needs the layout). */
export function numbersDataset(n: number, shardEnds: readonly number[]): RandomAccess<number> {
  return { ...itemsDataset(Array.from({ length: n }, (_, i) => i)), layout: { shardEnds } };
}

/** Cumulative ends of random shards (1..12 items each) covering `[0, n)`. */
export function randomShardEnds(random: Random, n: number): number[] {
  const ends: number[] = [];
  let end = 0;
  while (end < n) ends.push((end = Math.min(n, end + 1 + random.int(12))));
  return ends.length === 0 ? [0] : ends;
}

/**
 * Settle after a random few microtask turns, now and then after a macrotask: tasks started in
 * order finish out of order, so an unordered `parallelMap` emits out of order.
 */
export async function jitter(random: Random): Promise<void> {
  if (random.int(8) === 0) {
    await new Promise((resolve) => setImmediate(resolve));
    return;
  }
  for (let turns = random.int(6); turns > 0; turns--) await null;
}

/** A JSON round trip: what a checkpoint file gives back. */
export function roundTrip(state: LoaderState): LoaderState {
  return JSON.parse(JSON.stringify(state)) as LoaderState;
}

/** Every item of one iteration. */
export async function iterate<T>(loader: Loader<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of loader) out.push(item);
  return out;
}

/**
 * Iterate until `k` items were received, taking the state in the loop body with the k-th in hand
 * (`k = 0`: the state before the loop), then break.
 */
export async function until<T>(loader: Loader<T>, k: number): Promise<{ received: T[]; state: LoaderState }> {
  const received: T[] = [];
  if (k === 0) return { received, state: roundTrip(loader.state()) };
  let state: LoaderState | undefined;
  for await (const item of loader) {
    received.push(item);
    if (received.length === k) {
      state = roundTrip(loader.state());
      break;
    }
  }
  assert.ok(state !== undefined, `the iteration ended before ${k} items`);
  // After the break, the loader still says where its consumer stopped.
  assert.deepEqual(roundTrip(loader.state()), state, 'the state after the break');
  return { received, state };
}

/** The items of a list of batches, sorted: a multiset. */
export function sortedItems(batches: readonly (readonly number[])[]): number[] {
  return batches.flat().sort((a, b) => a - b);
}
