// Issue 13, streaming pipelines: checkpoint a loader over real tar shards or TFRecord files,
// through filter, map, shuffleBuffer, parallelMap, prefetch, batch, shard and epochs, after k
// batches (none, some, all, after completion), JSON round-trip the state, resume in a new loader:
// the batches before the checkpoint and after the resume are the uninterrupted run's (the same
// sequence, or with an unordered parallelMap the same multiset with no duplicate). The resumed
// run does not read the consumed prefix again: it decodes only from the saved bookmark on, and
// the streams it opens start there.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { gzipSync } from 'node:zlib';
import { filter, map, type Observable, type OperatorFunction } from 'rxjs';
import { batch } from '../../operators/batch.js';
import { epochs } from '../../operators/epochs.js';
import { parallelMap } from '../../operators/parallelMap.js';
import { prefetch } from '../../operators/prefetch.js';
import { shard } from '../../operators/shard.js';
import { shuffleBuffer } from '../../operators/shuffleBuffer.js';
import type { ByteSource } from '../../sources/core/byteSource.js';
import { fileByteSource } from '../../sources/core/fileByteSource.js';
import { fromItems } from '../../sources/core/fromItems.js';
import { toLoader } from '../../src/loader.js';
import type { LoaderState } from '../../src/loaderState.js';
import { Random } from '../../src/random.js';
import { fromTFRecord } from '../../sources/tfrecord/index.js';
import { fromWebDataset, type WebDatasetSample } from '../../sources/webdataset/index.js';
import { packTar, scratchDir, sharedWebDataset, type Member } from '../sources/webdataset/tarFixtures.js';
import { bridgeDir, pytorchData } from '../sources/tfrecord/paths.js';

/** One pipeline's shape, drawn at random. */
interface Shape {
  readonly perPull: number;
  readonly filtered: boolean;
  readonly shuffle: number;
  readonly initial: number;
  readonly seed: number;
  readonly parallel: 'none' | 'ordered' | 'unordered';
  readonly prefetched: boolean;
  readonly batchSize: number;
  readonly sharding: 'none' | 'file' | 'element';
  readonly rank: number;
  readonly epochCount: 1 | 2;
}

/** What one pipeline needs of its source kind. */
interface Kind {
  readonly name: string;
  /** The source over the inputs, each stream logged; `decoded` counts records the source decoded, when it can. */
  open(shape: Shape, log: string[], counters: { decoded: number }): Observable<unknown>;
  /** An item's identity: its file and key or record. */
  id(item: unknown): string;
  /** Items one epoch of this rank reads. */
  perEpoch(shape: Shape): number;
  /** Whether `decoded` counts what the source read (TFRecord's decoder), so the read bound can be checked. */
  readonly countsReads: boolean;
}

/**
 * The largest state, in JSON characters, for a shuffle buffer of `size` items and batches of
 * `batchSize`: the buffer saves each slot as a `["fromPuller#0@0", n]` reference (at most 26
 * characters with its comma) and so each item emitted and not yet received (a batch in the making,
 * the loader's and `prefetch`'s queues, `parallelMap`'s tasks: at most 8 batches here); the source
 * saves its consumed set by the shorter of its extras and its holes (at most `size` numbers above
 * its watermark, 8 characters each) and one bookmark; plus 1 KiB for the fixed fields, per epoch
 * part.
 */
const stateBound = (size: number, batchSize: number, parts: number): number => parts * (1024 + 26 * size + 26 * 8 * batchSize + 8 * size);

const scratch = scratchDir();
after(() => scratch.cleanup());

let shards: string[] = [];
let tfrecords: string[] = [];
const LENGTHS = [4, 25, 4, 4];

before(async () => {
  // Small plain shards of our own (a sample with a pax-named member among them), and the shared ones:
  // compressed.tar (3 samples) and sample.tgz (90, gzip).
  const members = (prefix: string, count: number): Member[] =>
    Array.from({ length: count }, (_, i) => {
      const key = i === 7 ? `${prefix}-${'p'.repeat(120)}-${i}` : `${prefix}-${String(i).padStart(4, '0')}`;
      return [
        { name: `${key}.txt`, data: `${prefix} ${i}` },
        { name: `${key}.cls`, data: String(i % 10) },
      ];
    }).flat();
  shards = [
    scratch.write('first.tar', await packTar(members('first', 41))),
    join(sharedWebDataset, 'compressed.tar'),
    join(sharedWebDataset, 'sample.tgz'),
    scratch.write('second.tar', await packTar(members('second', 29))),
  ];
  const gz = scratch.write('sequence_example.tfrecord.gz', gzipSync(readFileSync(join(pytorchData, 'sequence_example.tfrecord'))));
  tfrecords = [
    join(pytorchData, 'example.tfrecord'),
    join(bridgeDir, 'bridge_dataset-val.tfrecord-00000-of-00001'),
    join(pytorchData, 'sequence_example.tfrecord'),
    gz,
  ];
});

/** A ByteSource of a file that logs each stream it opens as `name@start`. */
function logged(path: string, log: string[]): ByteSource {
  const inner = fileByteSource(path);
  return {
    name: path,
    size: (signal) => inner.size(signal),
    read: (start, end, signal) => inner.read(start, end, signal),
    stream: (start = 0, signal) => {
      log.push(`${path}@${start}`);
      return inner.stream(start, signal);
    },
  };
}

/** The rank's files under file-level sharding of `count` files on 2 ranks: files[rank::2]. */
const rankFiles = (count: number, rank: number): number[] => Array.from({ length: count }, (_, i) => i).filter((i) => i % 2 === rank);

const SAMPLES_PER_SHARD = [41, 3, 90, 29];

const webDataset: Kind = {
  name: 'fromWebDataset',
  open: (_shape, log) => fromWebDataset(shards.map((path) => logged(path, log))),
  id: (item) => {
    const sample = item as WebDatasetSample;
    return `${basename(sample.__url__)}#${sample.__key__}`;
  },
  perEpoch: (shape) => {
    const all = SAMPLES_PER_SHARD.reduce((a, b) => a + b, 0);
    if (shape.sharding === 'file') return rankFiles(4, shape.rank).reduce((sum, i) => sum + SAMPLES_PER_SHARD[i]!, 0);
    return all;
  },
  countsReads: false,
};

const tfRecord: Kind = {
  name: 'fromTFRecord',
  open: (shape, log, counters) =>
    fromTFRecord(
      tfrecords.map((path) => logged(path, log)),
      {
        recordsPerPull: shape.perPull,
        // Sized (so element sharding reads its range by seeking) in element mode.
        ...(shape.sharding === 'element' ? { lengths: LENGTHS } : {}),
        decode: (_record, location) => {
          counters.decoded++;
          return `${basename(location.file)}#${location.record}`;
        },
      },
    ),
  id: (item) => item as string,
  perEpoch: (shape) => {
    const all = LENGTHS.reduce((a, b) => a + b, 0);
    if (shape.sharding === 'file') return rankFiles(4, shape.rank).reduce((sum, i) => sum + LENGTHS[i]!, 0);
    if (shape.sharding === 'element') return shape.rank === 0 ? Math.floor(all / 2) : all - Math.floor(all / 2);
    return all;
  },
  countsReads: true,
};

/** The pipeline of `shape` over `kind`; `counters.mapped` counts items reaching the first map. */
function pipeline(kind: Kind, shape: Shape, log: string[], counters: { decoded: number; mapped: number }): Observable<string[]> {
  let read = kind.open(shape, log, counters);
  if (shape.sharding !== 'none') read = read.pipe(shard({ mode: shape.sharding, rank: shape.rank, worldSize: 2 }));
  const source = read.pipe(
    map((item) => {
      counters.mapped++;
      return kind.id(item);
    }),
  );
  const stages: OperatorFunction<string, string>[] = [];
  if (shape.filtered) stages.push(filter((id) => !id.endsWith('3')));
  stages.push(map((id) => `<${id}>`));
  stages.push(shuffleBuffer(shape.shuffle, { seed: shape.seed, initial: shape.initial }));
  if (shape.epochCount === 2) stages.push(epochs(2));
  if (shape.parallel !== 'none') {
    stages.push(
      parallelMap(
        async (id: string) => {
          // Finish out of order: a few turns of the event loop, by item.
          for (let turn = id.length % 3; turn > 0; turn--) await new Promise((resolve) => setImmediate(resolve));
          return id;
        },
        { concurrency: 3, ordered: shape.parallel === 'ordered' },
      ),
    );
  }
  if (shape.prefetched) stages.push(prefetch(3));
  let staged = source;
  for (const stage of stages) staged = staged.pipe(stage);
  return staged.pipe(batch(shape.batchSize));
}

/**
 * A pipeline shape drawn with `random`. Element sharding of a source of unknown size (strided:
 * `shard` keeps every other item by its position in what it receives) is not drawn for WebDataset:
 * a resumed source drops the items received before they reach `shard`, whose count then starts
 * elsewhere (a known gap, reported with issue 13). TFRecord with `lengths` shards by range.
 */
function drawShape(random: Random, kind: Kind): Shape {
  const shuffle = [1, 4, 16, 40][random.int(4)]!;
  const shardings = kind.countsReads ? (['none', 'file', 'element'] as const) : (['none', 'file'] as const);
  const sharding = shardings[random.int(shardings.length)]!;
  return {
    perPull: [1, 3, 8][random.int(3)]!,
    filtered: random.int(2) === 1,
    shuffle,
    initial: 1 + random.int(shuffle),
    seed: random.int(1000),
    parallel: (['none', 'ordered', 'unordered'] as const)[random.int(3)]!,
    prefetched: random.int(2) === 1,
    batchSize: [1, 3, 5][random.int(3)]!,
    sharding,
    rank: random.int(2),
    epochCount: random.int(3) === 0 ? 2 : 1,
  };
}

/** Consumed items of a saved streaming part: its watermark plus its extras (given as extras or by holes). */
function consumedCount(part: { consumed: { watermark: number; extras?: number[]; through?: number; holes?: number[] } }): number {
  const { watermark, extras, through, holes } = part.consumed;
  if (extras !== undefined) return watermark + extras.length;
  return watermark + (through! - watermark - holes!.length);
}

interface StreamPart {
  consumed: { watermark: number; extras?: number[]; through?: number; holes?: number[] };
  at?: { seq: number; bookmark: unknown[] };
}

/** The data epochs the first iteration of a loader resumed from `state` reads, and the source part saved for each. */
function resumedEpochs(state: LoaderState, shape: Shape): { epoch: number; part: StreamPart | undefined }[] {
  const first =
    shape.epochCount === 2
      ? ((state.parts['epochs#0@' + state.epoch] as { epoch: number } | undefined)?.epoch ?? state.epoch * 2)
      : state.epoch;
  const last = shape.epochCount === 2 ? state.epoch * 2 + 1 : state.epoch;
  const found: { epoch: number; part: StreamPart | undefined }[] = [];
  for (let epoch = first; epoch <= last; epoch++)
    found.push({ epoch, part: state.parts[`fromPuller#0@${epoch}`] as StreamPart | undefined });
  return found;
}

async function collect(source: Observable<string[]>, state?: LoaderState): Promise<string[][]> {
  const batches: string[][] = [];
  for await (const items of toLoader(source, { state })) batches.push(items);
  return batches;
}

const sorted = (batches: readonly string[][]): string[] => batches.flat().sort();

async function checkCase(kind: Kind, shape: Shape, random: Random): Promise<void> {
  const label = `${kind.name} ${JSON.stringify(shape)}`;
  const fresh = () => ({ decoded: 0, mapped: 0 });
  const open = (log: string[] = [], counters = fresh()) => pipeline(kind, shape, log, counters);
  // The uninterrupted run, and its loader's second iteration (what follows a completed one).
  const uninterrupted = toLoader(open());
  const whole: string[][] = [];
  for await (const items of uninterrupted) whole.push(items);
  const next: string[][] = [];
  for await (const items of uninterrupted) next.push(items);
  // Every item of this rank in every epoch (the filter drops ids ending in 3).
  const perRank = kind.perEpoch(shape) * shape.epochCount;
  if (shape.filtered) assert.ok(whole.flat().length < perRank, `${label}: item count`);
  else assert.equal(whole.flat().length, perRank, `${label}: item count`);
  const ordered = shape.parallel !== 'unordered';
  const same = (actual: string[][], expected: string[][], why: string): void => {
    if (ordered) assert.deepEqual(actual, expected, `${label}: ${why}`);
    else assert.deepEqual(sorted(actual), sorted(expected), `${label}: ${why}`);
    const seen = new Map<string, number>();
    for (const id of actual.flat()) seen.set(id, (seen.get(id) ?? 0) + 1);
    assert.ok(
      [...seen.values()].every((n) => n <= shape.epochCount),
      `${label}: ${why}: an item more than once an epoch`,
    );
  };
  assert.equal(new Set(whole.flat()).size * (shape.epochCount === 2 ? 2 : 1), whole.flat().length, `${label}: each item once an epoch`);

  const total = whole.length;
  const counts = [...new Set([0, 1 + random.int(Math.max(1, total - 1)), random.int(total + 1), total, -1])];
  for (const count of counts) {
    const loader = toLoader(open());
    const received: string[][] = [];
    if (count === -1) {
      for await (const items of loader) received.push(items);
    } else if (count > 0) {
      for await (const items of loader) {
        received.push(items);
        if (received.length === count) break;
      }
    }
    const state = JSON.parse(JSON.stringify(loader.state())) as LoaderState;
    const partCount = Object.keys(state.parts).filter((key) => key.startsWith('fromPuller#')).length;
    assert.ok(
      JSON.stringify(state).length <= stateBound(shape.shuffle, shape.batchSize, Math.max(1, partCount)),
      `${label}: state of ${JSON.stringify(state).length} characters after ${count}`,
    );
    const log: string[] = [];
    const counters = fresh();
    const rest = await collect(open(log, counters), state);
    if (count === -1) {
      same(rest, next, 'resumed after completion: the next iteration');
      continue;
    }
    same([...received, ...rest], whole, `resumed after ${count} batches`);

    // Not read again: what the resumed run decoded (and passed to the pipeline) starts at the bookmark.
    const epochsRead = resumedEpochs(state, shape);
    let unconsumed = 0;
    let fromBookmark = 0;
    for (const { part } of epochsRead) {
      const size = kind.perEpoch(shape);
      unconsumed += part === undefined ? size : size - consumedCount(part);
      fromBookmark += size - (part?.at?.seq ?? 0);
    }
    assert.equal(counters.mapped, unconsumed, `${label}: items the resumed run passed on after ${count}`);
    if (kind.countsReads) {
      assert.equal(counters.decoded, fromBookmark, `${label}: records the resumed run decoded after ${count}`);
      // At most the items not received, one chunk and the shuffle buffer's span, per epoch.
      let bound = 0;
      for (const { part } of epochsRead) {
        bound += part === undefined ? kind.perEpoch(shape) : kind.perEpoch(shape) - part.consumed.watermark + shape.perPull;
      }
      assert.ok(counters.decoded <= bound, `${label}: decoded ${counters.decoded}, bound ${bound}`);
    }
    // The first stream the resumed run opened is the bookmarked file's, at its offset (a gzip one
    // from its start): the files before it in this rank's list were not opened.
    const at = epochsRead[0]?.part?.at;
    if (at !== undefined && shape.sharding !== 'element') {
      const files = kind === webDataset ? shards : tfrecords;
      const own = shape.sharding === 'file' ? rankFiles(4, shape.rank).map((i) => files[i]!) : files;
      const [index, offset] = at.bookmark as [number, number];
      const seeks = !own[index]!.endsWith('.gz') && !own[index]!.endsWith('.tgz');
      assert.equal(log[0], `${own[index]!}@${seeks ? offset : 0}`, `${label}: first stream after ${count}`);
      assert.equal(log.length, own.length - index + (epochsRead.length - 1) * own.length, `${label}: streams after ${count}`);
    }
  }
}

describe('resume streaming pipelines (issue 13)', () => {
  it("issue 13: a state taken while an epoch's last items are still downstream resumes them (epochs saved the next epoch once its source completed)", async () => {
    // The source completes while items 6..9 are still in the batch and the loader's queue.
    const open = () =>
      fromItems(
        Array.from({ length: 10 }, (_, i) => i),
        { chunkSize: 3 },
      ).pipe(epochs(2), batch(3));
    const whole: number[][] = [];
    for await (const items of toLoader(open())) whole.push(items);
    assert.deepEqual(whole, [
      [0, 1, 2],
      [3, 4, 5],
      [6, 7, 8],
      [9, 0, 1],
      [2, 3, 4],
      [5, 6, 7],
      [8, 9],
    ]);
    for (let count = 1; count <= whole.length; count++) {
      const loader = toLoader(open());
      const received: number[][] = [];
      for await (const items of loader) {
        received.push(items);
        if (received.length === count) break;
      }
      const state = JSON.parse(JSON.stringify(loader.state())) as LoaderState;
      const rest: number[][] = [];
      for await (const items of toLoader(open(), { state })) rest.push(items);
      assert.deepEqual([...received, ...rest], whole, `resumed after ${count}`);
    }
  });

  for (const kind of [webDataset, tfRecord]) {
    it(`issue 13: ${kind.name} pipelines resumed from a JSON state continue the uninterrupted run without reading the consumed prefix`, async () => {
      const random = new Random(kind === webDataset ? 1301 : 1302);
      for (let round = 0; round < 20; round++) {
        const shape = drawShape(random, kind);
        await checkCase(kind, shape, random).catch((error: unknown) => {
          // Name the shape whatever failed (an error of the pipeline carries no label).
          throw new Error(`${kind.name} ${JSON.stringify(shape)}: ${String(error)}`, { cause: error });
        });
      }
    });
  }
});
