// The main-thread twin of workerPipeline, for the specs that run each source both ways: the same
// exported pipeline function, called part by part in this thread under the context a worker thread
// gives it, and the parts' items merged as the ordered merge does (one from each part in turn).
import assert from 'node:assert/strict';
import type { Observable } from 'rxjs';
import { workerPipeline, type WorkerPart } from '../../../src/adapters/workerPipeline.js';
import { bindContext, PipelineContext } from '../../../src/context.js';
import { Flow } from '../../../src/flow.js';
import { toLoader } from '../../../src/loader.js';

/** What workerPipeline would bind: threads (parts), the options, and the placement of the rank. */
export interface MainThreadRun<O> {
  readonly threads: number;
  readonly options: O;
  readonly seed?: number;
  readonly epoch?: number;
  readonly rank?: number;
  readonly worldSize?: number;
}

/**
 * Every part's items, read in this thread one part after the other, each part subscribed exactly as
 * `workerPipelineThread` subscribes it: `bindContext` over a context holding a fresh Flow, the
 * epoch and the part's placement, while the pipeline is made and while it is subscribed. Resolves
 * once the part completed and its Flow released what it held (as the thread waits before `end`).
 */
export async function partsInMainThread<O, T>(pipeline: (part: WorkerPart<O>) => Observable<T>, run: MainThreadRun<O>): Promise<T[][]> {
  const parts: T[][] = [];
  for (let workerIndex = 0; workerIndex < run.threads; workerIndex++) {
    const part: WorkerPart<O> = {
      rank: run.rank ?? 0,
      worldSize: run.worldSize ?? 1,
      workerIndex,
      numWorkers: run.threads,
      epoch: run.epoch ?? 0,
      seed: run.seed ?? 0,
      options: run.options,
    };
    const flow = new Flow();
    const context = new PipelineContext({ flow, epoch: part.epoch, part });
    const items: T[] = [];
    const source = bindContext(context, () => pipeline(part));
    await new Promise<void>((resolve, reject) => {
      bindContext(context, () => source.subscribe({ next: (item) => items.push(item), error: reject, complete: resolve }));
    });
    await flow.released();
    parts.push(items);
  }
  return parts;
}

/** Parts' items taken one from each part in turn; a part that ran out leaves the turn. */
export function roundRobin<T>(parts: readonly (readonly T[])[]): T[] {
  const merged: T[] = [];
  const longest = Math.max(0, ...parts.map((part) => part.length));
  for (let k = 0; k < longest; k++) {
    for (const part of parts) if (k < part.length) merged.push(part[k]!);
  }
  return merged;
}

/** The main-thread pipeline: the parts read in this thread, merged in turn (the ordered merge's order). */
export async function inMainThread<O, T>(pipeline: (part: WorkerPart<O>) => Observable<T>, run: MainThreadRun<O>): Promise<T[]> {
  return roundRobin(await partsInMainThread(pipeline, run));
}

/** Every item of one loader iteration over `source` (a workerPipeline, or a plain source). */
export async function collect<T>(source: Observable<T>): Promise<T[]> {
  const items: T[] = [];
  for await (const item of toLoader(source)) items.push(item);
  return items;
}

/**
 * `value` as it reads after crossing threads: a `Buffer` (or any other `Uint8Array` subclass)
 * arrives as a plain `Uint8Array`, so both sides are brought to that before they are compared.
 */
export function crossed(value: unknown): unknown {
  if (typeof value !== 'object' || value === null) return value;
  if (value instanceof Uint8Array && value.constructor !== Uint8Array) return new Uint8Array(value);
  if (ArrayBuffer.isView(value)) return value;
  if (Array.isArray(value)) return value.map(crossed);
  if (value instanceof Map) return new Map([...value].map(([key, item]) => [key, crossed(item)]));
  return Object.fromEntries(Object.entries(value).map(([key, item]) => [key, crossed(item)]));
}

/** Items in one canonical order (by their JSON form, typed arrays and bigints included), for an unordered merge. */
export function asMultiset<T>(items: readonly T[]): T[] {
  const keyOf = (item: T): string =>
    JSON.stringify(item, (_key, value: unknown) =>
      typeof value === 'bigint'
        ? `${value}n`
        : ArrayBuffer.isView(value)
          ? Array.from(new Uint8Array(value.buffer, value.byteOffset, value.byteLength))
          : value,
    );
  return items
    .map((item) => ({ item, key: keyOf(item) }))
    .sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0))
    .map(({ item }) => item);
}

/**
 * Run `pipeline` (an export of `module`, of the same name) both ways: in `run.threads` worker
 * threads, ordered, it must equal the main-thread pipeline item for item, and unordered give the
 * same multiset. Answers the items, as they read after crossing threads.
 */
export async function bothWays<O>(
  module: URL,
  pipeline: (part: WorkerPart<O>) => Observable<unknown>,
  run: MainThreadRun<O>,
): Promise<unknown[]> {
  const name = pipeline.name;
  const mainThread = (await inMainThread(pipeline, run)).map(crossed);
  const bound = { threads: run.threads, seed: run.seed ?? 0, rank: run.rank ?? 0, worldSize: run.worldSize ?? 1, options: run.options };
  await using ordered = workerPipeline(module, name, bound);
  const inWorkers = (await collect(ordered)).map(crossed);
  assert.equal(inWorkers.length, mainThread.length);
  assert.deepEqual(inWorkers, mainThread);
  await using unordered = workerPipeline(module, name, { ...bound, ordered: false });
  assert.deepEqual(asMultiset((await collect(unordered)).map(crossed)), asMultiset(mainThread));
  return inWorkers;
}
