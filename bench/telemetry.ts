/**
 * What the stage timing behind `Loader.report()` costs: the same pipelines through `toLoader`
 * with `timing: true` (the default) and `timing: false`, contenders interleaved in each round.
 *
 * Pipelines, over the JPEG shard of bench/jpegShard.ts (1024 samples of about 11.8 KB), read
 * several times a run:
 * - the tar pipeline: `fromWebDataset -> batch(64)`, consumed by a `for await` loop. The cheapest
 *   work per item rxfeed does, so the worst case for a fixed cost per item. Goal: timing costs
 *   under 2%.
 * - the tar + decode pipeline: `fromWebDataset -> parallelMap(decode JPEGs on worker threads) ->
 *   batch(32) -> collate()`, the real training input.
 * The report of the last timed run of each is printed, as `Loader.report()` writes it.
 *
 * Method: bench/rounds.ts (one warm-up round not counted, contenders interleaved in rotating
 * order, medians, per-round ratios to the untimed run).
 *
 * Run: `npx tsc -p tsconfig.json && node dist/bench/telemetry.js [--rounds 9]`.
 *
 * @module
 */
import { availableParallelism } from 'node:os';
import type { Observable } from 'rxjs';
import { batch } from '../operators/batch.js';
import { collate } from '../operators/collate.js';
import { parallelMap } from '../operators/parallelMap.js';
import { fromWebDataset, type WebDatasetSample } from '../sources/webdataset/index.js';
import { decodeImageFieldsTask, workerExecutor } from '../src/adapters/piscina.js';
import { toLoader, type Loader } from '../src/loader.js';
import { COUNT, makeJpegData } from './jpegShard.js';
import { compare, fmt, method, type Contender } from './rounds.js';

/** The last timed loader of each contender, for its report. */
const lastLoader = new Map<string, Loader<unknown>>();

/** A contender reading `pipeline()` through a loader, with or without timing; answers samples read. */
function through(name: string, pipeline: () => Observable<unknown>, timing: boolean, weight: (item: unknown) => number): Contender {
  return {
    name,
    run: async () => {
      const loader = toLoader(pipeline(), { timing });
      let samples = 0;
      for await (const item of loader) samples += weight(item);
      lastLoader.set(name, loader);
      return samples;
    },
  };
}

async function main(): Promise<void> {
  const { shard } = await makeJpegData();
  console.log(`telemetry bench: ${availableParallelism()} cores`);
  method();

  const tarRepeat = 128;
  const tarShards = Array.from({ length: tarRepeat }, () => shard);
  const tar = (): Observable<unknown> => fromWebDataset(tarShards).pipe(batch(64));
  const rows = (item: unknown): number => (item as unknown[]).length;
  const tarRates = await compare(
    `tar pipeline through toLoader (${fmt(COUNT * tarRepeat)} samples a run)`,
    [through('tar, timing off', tar, false, rows), through('tar, timing on (default)', tar, true, rows)],
    COUNT * tarRepeat,
  );

  const decodeRepeat = 12;
  const decodeShards = Array.from({ length: decodeRepeat }, () => shard);
  const executor = workerExecutor({ threads: availableParallelism() });
  try {
    const decode = decodeImageFieldsTask<WebDatasetSample>({ fields: ['jpg'] });
    const decoded = (): Observable<unknown> => fromWebDataset(decodeShards).pipe(parallelMap(decode, { executor }), batch(32), collate());
    const batchRows = (item: unknown): number => (item as { __key__: { shape: readonly number[] } }).__key__.shape[0]!;
    const decodeRates = await compare(
      `tar + decode pipeline through toLoader, ${availableParallelism()} worker threads (${fmt(COUNT * decodeRepeat)} samples a run)`,
      [
        through('tar + decode, timing off', decoded, false, batchRows),
        through('tar + decode, timing on (default)', decoded, true, batchRows),
      ],
      COUNT * decodeRepeat,
    );
    const overhead = (rates: typeof tarRates): number => {
      const ratios = rates.rates[1]!.map((rate, round) => rate / rates.rates[0]![round]!);
      return 1 - ratios.sort((a, b) => a - b)[ratios.length >> 1]!;
    };
    console.log(`\nreport of the last timed tar + decode run:\n${String(lastLoader.get('tar + decode, timing on (default)')!.report())}`);
    console.log(`\nreport of the last timed tar run:\n${String(lastLoader.get('tar, timing on (default)')!.report())}`);
    const tarCost = overhead(tarRates);
    console.log(
      `\ntiming cost, median of the per-round ratios: tar pipeline ${fmt(tarCost * 100, 1)}% (goal < 2%: ` +
        `${tarCost < 0.02 ? 'met' : 'NOT met'}), tar + decode pipeline ${fmt(overhead(decodeRates) * 100, 1)}%`,
    );
  } finally {
    await executor.close();
  }
}

await main();
