/**
 * `concurrency: 'auto'` against a sweep of hand-tuned settings, on the tar + decode pipeline:
 * `fromWebDataset -> parallelMap(decode JPEGs on worker threads) -> batch(32) -> collate()`,
 * consumed by a `for await` loop, over the JPEG shard of bench/jpegShard.ts read several times a
 * run.
 *
 * Hand-tuned: every pair of worker threads (1 to cores + 1) and tasks in flight (`concurrency`;
 * the executor's default, `threads x 2 x 8 x 2`, among them). Auto: a pool of `cores` threads
 * (the CPU budget) and `concurrency: 'auto'`. Every contender reads the same samples; the
 * autotuner runs in the loader, and, as over a training run's epochs, each run of the auto loader
 * starts from what the previous one settled on. Before the rounds, the auto loader reads 3 epochs
 * (its climb, printed with the rate so far), as the first seconds of a training run; the rounds
 * then time it settled, still re-evaluating (every 500 ms, its default).
 *
 * Goal: auto's median within 10% of the best hand-tuned median.
 *
 * Method: bench/rounds.ts (one warm-up round not counted, contenders interleaved in rotating
 * order, medians, per-round ratios to the best hand-tuned setting).
 *
 * Run: `npx tsc -p tsconfig.json && node dist/bench/autotune.js [--rounds 5]`.
 *
 * @module
 */
import { availableParallelism } from 'node:os';
import { batch } from '../operators/batch.js';
import { collate } from '../operators/collate.js';
import { parallelMap } from '../operators/parallelMap.js';
import { fromWebDataset, type WebDatasetSample } from '../sources/webdataset/index.js';
import { decodeImageFieldsTask, workerExecutor, type WorkerExecutor } from '../src/adapters/piscina.js';
import { toLoader, type Loader } from '../src/loader.js';
import { COUNT, makeJpegData } from './jpegShard.js';
import { fmt, median, method, printTable, rounds, type Contender } from './rounds.js';

const REPEAT = 24;
/** Epochs the auto loader reads before the rounds: where it climbs (about 10 s here). */
const CLIMB_EPOCHS = 4;

/** Samples in a collated batch. */
const rowsOf = (item: unknown): number => (item as { __key__: { shape: readonly number[] } }).__key__.shape[0]!;

async function drain(loader: Loader<unknown>): Promise<number> {
  let samples = 0;
  for await (const item of loader) samples += rowsOf(item);
  return samples;
}

async function main(): Promise<void> {
  const cores = availableParallelism();
  const { shard } = await makeJpegData();
  const shards = Array.from({ length: REPEAT }, () => shard);
  console.log(`autotune bench: ${cores} cores, tar + decode pipeline, ${fmt(COUNT * REPEAT)} samples a run`);
  method();
  const decode = decodeImageFieldsTask<WebDatasetSample>({ fields: ['jpg'] });
  const executors: WorkerExecutor[] = [];
  try {
    const contenders: Contender[] = [];
    for (let threads = 1; threads <= cores + 1; threads++) {
      const executor = workerExecutor({ threads });
      executors.push(executor);
      for (const concurrency of [...new Set([2 * threads + 1, 8 * threads, executor.concurrency])].sort((a, b) => a - b)) {
        contenders.push({
          name: `${threads} thread(s), concurrency ${concurrency}${concurrency === executor.concurrency ? ' (default)' : ''}`,
          run: () => drain(toLoader(fromWebDataset(shards).pipe(parallelMap(decode, { executor, concurrency }), batch(32), collate()))),
        });
      }
    }
    const autoExecutor = workerExecutor({ threads: cores });
    executors.push(autoExecutor);
    // One loader for every run: each run is its next epoch, as in training.
    const autoLoader = toLoader(
      fromWebDataset(shards).pipe(parallelMap(decode, { executor: autoExecutor, concurrency: 'auto' }), batch(32), collate()),
    );
    const autoName = `${cores} thread(s), concurrency 'auto'`;
    // The climb: the first epochs of a training run, read before the rounds and timed apart.
    for (let epoch = 0; epoch < CLIMB_EPOCHS; epoch++) {
      const started = performance.now();
      const samples = await drain(autoLoader);
      const [knob] = autoLoader.report().autotune;
      console.log(
        `auto, climbing: epoch ${epoch + 1} at ${fmt(samples / ((performance.now() - started) / 1000))} samples/s, ` +
          `concurrency ${knob?.value} at its end (${knob?.reason})`,
      );
    }
    contenders.push({ name: autoName, run: () => drain(autoLoader) });

    const measured = await rounds(contenders, COUNT * REPEAT);
    const medians = measured.rates.map((rates) => median(rates));
    const autoIndex = contenders.length - 1;
    let best = 0;
    for (let which = 1; which < autoIndex; which++) if (medians[which]! > medians[best]!) best = which;
    const ratiosTo = (which: number): number[] => measured.rates[which]!.map((rate, round) => rate / measured.rates[best]![round]!);
    printTable(
      'tar + decode pipeline: hand-tuned settings and auto',
      ['contender', 'samples/s (median)', `ratio to the best hand-tuned: median (range)`],
      contenders.map((contender, which) => {
        const ratios = ratiosTo(which);
        return [
          contender.name,
          fmt(medians[which]!),
          which === best
            ? '1 (best hand-tuned)'
            : `${fmt(median(ratios), 2)} (${fmt(Math.min(...ratios), 2)}-${fmt(Math.max(...ratios), 2)})`,
        ];
      }),
    );
    const autoRatio = median(ratiosTo(autoIndex));
    console.log(`\nwhat the autotuner settled on (last run): ${JSON.stringify(autoLoader.report().autotune)}`);
    console.log(`\nreport of the last auto run:\n${String(autoLoader.report())}`);
    console.log(
      `\nauto: ${fmt(medians[autoIndex]!)} samples/s, ${fmt(autoRatio, 2)}x the best hand-tuned setting (${contenders[best]!.name}, ` +
        `${fmt(medians[best]!)} samples/s); goal within 10%: ${autoRatio >= 0.9 ? 'met' : 'NOT met'}`,
    );
  } finally {
    await Promise.all(executors.map((executor) => executor.close()));
  }
}

await main();
