/**
 * Resuming a streaming pipeline (issue 13): what the sources' bookmarks save over reading the
 * source again from its start and dropping what the consumer had received.
 *
 * Generates 4 tar shards of 16,000 samples in all (a 12 KiB `.bin` and a `.cls` each) and 4
 * TFRecord files of 4,000 records of 12 KiB under `.tmp/bench/resume/`, then, for each source kind
 * and a checkpoint after 10%, 50% and 90% of the batches of
 * `source -> shuffleBuffer(100) -> batch(32)`, saves the state once and compares, with the
 * method of `bench/rounds.ts`, resumed loaders reading the rest of the epoch:
 * - `bookmark`: the state as saved (the source opens the bookmarked file at its offset);
 * - `from start`: the same state without the bookmark (`at`), so the source reads from its first
 *   file and drops the items received before they reach the pipeline: what a puller without
 *   bookmarks does.
 * Both must hand the consumer the same number of samples (the rest of the epoch). Rates are
 * samples delivered per second of the resumed iteration, so their ratio is the speed-up of a
 * resume.
 *
 * The bookmark saved is that of the oldest item the consumer has not received, which a shuffle
 * buffer can hold for long (an item stays through n arrivals with probability (1 - 1/S)^n): with a
 * buffer of S items the saved position lags the consumer by about S ln S items, so a resume skips
 * the prefix only when the epoch is long beside that (`--shuffle 1000` over these 16,000 samples
 * shows the other case).
 *
 * Measured here (2 cores shared with other work, 7 rounds; samples/s ratio bookmark / from start,
 * median (range)), after 10%, 50%, 90% of the batches: fromWebDataset 1.07 (0.61-4.50), 1.95
 * (1.10-4.32), 6.81 (3.01-9.41); fromTFRecord 1.36 (0.78-2.34), 2.33 (1.28-6.29), 3.33
 * (1.42-16.96). With `--shuffle 1000` (5 rounds): fromWebDataset 0.90, 1.28, 1.84; fromTFRecord
 * 1.12, 1.06, 2.38.
 *
 * Run: `npx tsc -p . && node dist/bench/resumeStreaming.js [--rounds N] [--shuffle S]`.
 *
 * @module
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { lastValueFrom, map, range } from 'rxjs';
import { benchShards } from './benchShards.js';
import { compare, method, type Contender } from './rounds.js';
import { batch } from '../operators/batch.js';
import { shuffleBuffer } from '../operators/shuffleBuffer.js';
import { toLoader } from '../src/loader.js';
import type { LoaderState } from '../src/loaderState.js';
import { fromTFRecord, toTFRecord } from '../sources/tfrecord/index.js';
import { fromWebDataset } from '../sources/webdataset/index.js';
import type { Observable } from 'rxjs';

const dir = join(process.cwd(), '.tmp', 'bench', 'resume');
const FILES = 4;
const SAMPLES = 16_000;
const BATCH = 32;
const shuffleArg = process.argv.indexOf('--shuffle');
/** The shuffle buffer's size: `--shuffle N`, default 100. */
const SHUFFLE = shuffleArg > 0 ? Number(process.argv[shuffleArg + 1]) : 100;

async function tfrecordFiles(): Promise<string[]> {
  const payload = new Uint8Array(12 * 1024);
  const paths: string[] = [];
  for (let file = 0; file < FILES; file++) {
    const path = join(dir, `records-${file}.tfrecord`);
    await lastValueFrom(
      range(0, SAMPLES / FILES).pipe(
        map((i) => {
          payload[0] = i & 0xff;
          return { image: [payload], label: BigInt64Array.of(BigInt(file * 10_000 + i)) };
        }),
        toTFRecord(path),
      ),
    );
    paths.push(path);
  }
  return paths;
}

/** The state after `count` batches, and how many samples the consumer had then. */
async function checkpoint(open: () => Observable<unknown[]>, count: number): Promise<{ state: LoaderState; samples: number }> {
  const loader = toLoader(open());
  let batches = 0;
  let samples = 0;
  for await (const items of loader) {
    samples += items.length;
    if (++batches === count) break;
  }
  return { state: JSON.parse(JSON.stringify(loader.state())) as LoaderState, samples };
}

/** The state without the sources' bookmarks: a resume then reads every source from its start. */
function withoutBookmarks(state: LoaderState): LoaderState {
  const parts: Record<string, unknown> = {};
  for (const [key, part] of Object.entries(state.parts)) {
    if (key.startsWith('fromPuller#')) {
      const { at: _at, ...rest } = part as Record<string, unknown>;
      parts[key] = rest;
    } else {
      parts[key] = part;
    }
  }
  return { ...state, parts };
}

async function resumed(open: () => Observable<unknown[]>, state: LoaderState): Promise<number> {
  let samples = 0;
  for await (const items of toLoader(open(), { state })) samples += items.length;
  return samples;
}

async function main(): Promise<void> {
  mkdirSync(dir, { recursive: true });
  const shards = await benchShards(dir, 'resume', FILES, SAMPLES);
  const records = await tfrecordFiles();
  console.log(
    `Resume bench: ${SAMPLES} samples of 12 KiB in ${FILES} tar shards / ${FILES} TFRecord files, shuffleBuffer(${SHUFFLE}); page cache warm`,
  );
  method();
  const kinds: [string, () => Observable<unknown[]>][] = [
    ['fromWebDataset', () => fromWebDataset(shards).pipe(shuffleBuffer(SHUFFLE, { seed: 13 }), batch(BATCH))],
    ['fromTFRecord', () => fromTFRecord(records).pipe(shuffleBuffer(SHUFFLE, { seed: 13 }), batch(BATCH))],
  ];
  const batches = Math.ceil(SAMPLES / BATCH);
  for (const [name, open] of kinds) {
    for (const share of [0.1, 0.5, 0.9]) {
      const { state, samples } = await checkpoint(open, Math.round(batches * share));
      const contenders: Contender[] = [
        { name: 'from start', run: () => resumed(open, withoutBookmarks(state)) },
        { name: 'bookmark', run: () => resumed(open, state) },
      ];
      await compare(
        `${name}: resumed after ${share * 100}% of the batches (${SAMPLES - samples} samples left)`,
        contenders,
        SAMPLES - samples,
      );
    }
  }
}

await main();
