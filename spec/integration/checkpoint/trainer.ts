// One rank of the kill-and-resume run (issue 13), as a child process: what a training script
// started by torchrun does with rxfeed. It reads RANK and WORLD_SIZE from the environment and the
// TFRecord shards from Ceph RGW by index, resumes from the last checkpoint every rank of a run
// wrote (all of that run's ranks' states: the world size may have changed), logs each batch's
// sample ids, and checkpoints its loader's state every `--every` steps.
//
// node dist/spec/integration/checkpoint/trainer.js --bucket B --keys k1,k2 --index-dir D --dir C
//   --run a --every 5 --epochs 2 --global-batch 36 --seed 7 [--end-of-epoch drop|pad] [--pause 12,13,14,16]
//
// `--end-of-epoch drop` (training) batches with `batch`; `pad` (evaluation) with `padToBatch`, and
// logs only the real rows.
//
// With `--pause`, rank r stops after its batch of step `pause[r]` (logged, and checkpointed if
// due), says `paused <step>` on stdout and waits to be killed: the parent kills every rank once
// each has paused, so the kill lands at a known step without any timing. Without it the rank
// reads to the end of the last epoch, says `done <step>` and exits 0.
import { appendFileSync, readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { parseArgs } from 'node:util';
import { map, type Observable } from 'rxjs';
import { batch, fromRandomAccess, globalShuffle, padToBatch, resolvePlacement, toLoader, type LoaderState } from '../../../src/index.js';
import { s3Store } from '../../../sources/objectstore/index.js';
import { fixedLenFeature, tfrecordDataset, type ParsedExample } from '../../../sources/tfrecord/index.js';
import { checkpointName, lastCompleteCheckpoint } from './coverage.js';

// Each record is the Example {id}: the sample's index in the shards' concatenation.
const features = { id: fixedLenFeature('int64', []) };
type Row = ParsedExample<typeof features>;

/** What a checkpoint file holds: the loader's state and where it was taken. */
export interface Checkpoint {
  readonly run: string;
  readonly step: number;
  readonly rank: number;
  readonly worldSize: number;
  readonly state: LoaderState;
}

function integer(value: string | undefined, name: string): number {
  const number = Number(value);
  if (value === undefined || !Number.isSafeInteger(number) || number < 0)
    throw new Error(`trainer: --${name} must be an integer, got ${value}`);
  return number;
}

function required(value: string | undefined, name: string): string {
  if (value === undefined || value === '') throw new Error(`trainer: --${name} is required`);
  return value;
}

/** Every rank's state at the last complete checkpoint, and its step; none: a fresh start. */
function lastCheckpoint(dir: string): { step: number; states: LoaderState[] } | undefined {
  const complete = lastCompleteCheckpoint(readdirSync(dir));
  if (complete === undefined) return undefined;
  const states = Array.from({ length: complete.worldSize }, (_, rank) => {
    const file = join(dir, checkpointName({ ...complete, rank }));
    return (JSON.parse(readFileSync(file, 'utf8')) as Checkpoint).state;
  });
  return { step: complete.step, states };
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      bucket: { type: 'string' },
      keys: { type: 'string' },
      'index-dir': { type: 'string' },
      dir: { type: 'string' },
      run: { type: 'string' },
      every: { type: 'string' },
      epochs: { type: 'string' },
      'global-batch': { type: 'string' },
      seed: { type: 'string' },
      pause: { type: 'string' },
      'end-of-epoch': { type: 'string' },
    },
    strict: true,
  });
  const dir = required(values.dir, 'dir');
  const run = required(values.run, 'run');
  const indexDir = required(values['index-dir'], 'index-dir');
  const every = integer(values.every, 'every');
  const epochs = integer(values.epochs, 'epochs');
  const globalBatch = integer(values['global-batch'], 'global-batch');
  const seed = integer(values.seed, 'seed');
  const endOfEpoch = values['end-of-epoch'] ?? 'drop';
  if (endOfEpoch !== 'drop' && endOfEpoch !== 'pad') throw new Error(`trainer: --end-of-epoch must be drop or pad, got ${endOfEpoch}`);
  // As torchrun sets them: RANK and WORLD_SIZE (fromRandomAccess reads them the same way).
  const { rank, worldSize } = resolvePlacement({}, 'trainer');
  const pauseAt = values.pause === undefined ? undefined : integer(values.pause.split(',')[rank], 'pause');
  // The global batch W x B is kept whatever W, so a resume on another world size continues the
  // same global steps.
  if (globalBatch % worldSize !== 0) throw new Error(`trainer: --global-batch ${globalBatch} is not a multiple of WORLD_SIZE ${worldSize}`);
  const batchSize = globalBatch / worldSize;

  const resume = lastCheckpoint(dir);
  let step = resume?.step ?? 0;
  const store = s3Store({
    endpoint: process.env.RXFEED_S3_ENDPOINT,
    bucket: required(values.bucket, 'bucket'),
    region: process.env.RXFEED_S3_REGION,
    credentials: { accessKeyId: process.env.RXFEED_S3_ACCESS_KEY ?? '', secretAccessKey: process.env.RXFEED_S3_SECRET_KEY ?? '' },
  });
  const dataset = await tfrecordDataset(
    required(values.keys, 'keys')
      .split(',')
      .map((key) => store.open(key)),
    {
      decode: 'example',
      features,
      // The parent wrote each shard's tfrecord2idx index beside it in a local directory.
      indexPath: (name) => join(indexDir, `${basename(name)}.idx`),
    },
  );
  const idOf = (row: Row): number => Number(row.id[0]);
  const rows = fromRandomAccess(dataset, { sampler: globalShuffle({ seed }), batchSize, endOfEpoch });
  // Each batch as the ids of its samples; plain `map`s carry what the loader state counts.
  const batches: Observable<number[]> =
    endOfEpoch === 'drop'
      ? rows.pipe(
          batch(batchSize),
          map((batchRows) => batchRows.map(idOf)),
        )
      : rows.pipe(
          // Pad rows (mask 0) are no sample: only the real rows count. A rank left with no real row
          // after a resume near the epoch's end still owes its padded batches: `fill` makes them.
          padToBatch(batchSize, { fill: (): Row => ({ id: BigInt64Array.of(-1n) }) }),
          map(({ rows: padded, mask, index }) =>
            padded.flatMap((row, k) => {
              if (mask[k] === 0) return [];
              // The global index padToBatch gives a real row is its dataset index: its id.
              if (index[k] !== idOf(row)) throw new Error(`trainer: padToBatch indexes the row of sample ${idOf(row)} as ${index[k]}`);
              return [idOf(row)];
            }),
          ),
        );
  const loader = toLoader(batches, { state: resume?.states });
  const log = join(dir, `log-${run}-rank${rank}.jsonl`);
  try {
    // Each iteration reads the next epoch; a resumed loader's first reads the saved one, from where it was.
    // (After an iteration, `loader.epoch` still names the epoch it read: count the iterations here.)
    for (let epoch = loader.epoch; epoch < epochs; epoch++) {
      for await (const ids of loader) {
        step++;
        appendFileSync(log, `${JSON.stringify({ step, epoch: loader.epoch, ids })}\n`);
        if (step % every === 0) {
          // Taken in the loop body, the state counts this batch: a resume reads the next one.
          const checkpoint: Checkpoint = { run, step, rank, worldSize, state: loader.state() };
          const name = checkpointName(checkpoint);
          // Written whole, then renamed: a kill mid-write leaves no half checkpoint under its name.
          writeFileSync(join(dir, `.${name}.tmp`), JSON.stringify(checkpoint));
          renameSync(join(dir, `.${name}.tmp`), join(dir, name));
        }
        if (step === pauseAt) {
          process.stdout.write(`paused ${step}\n`);
          // A pending timer keeps the process alive, in the loop body, until the SIGKILL.
          await new Promise(() => setInterval(() => undefined, 1 << 30));
        }
      }
    }
  } finally {
    await dataset.close();
  }
  process.stdout.write(`done ${step}\n`);
}

main().catch((error: unknown) => {
  process.stderr.write(`trainer rank ${process.env.RANK}: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
});
