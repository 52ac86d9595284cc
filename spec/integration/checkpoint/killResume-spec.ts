/**
 * Checkpoint and resume, for real (issue 13): W child processes (RANK / WORLD_SIZE as torchrun sets
 * them) read TFRecord shards from Ceph RGW by index, checkpoint their loaders' states to files
 * every few steps, are SIGKILLed mid-epoch, and a job of another world size resumes from the last
 * checkpoint every rank wrote. The checker (coverage.ts) proves each epoch of what survives the
 * roll-backs is exactly the uninterrupted run's: every global step the same samples, every sample
 * once.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { globalShuffle, orderOf } from '../../../src/index.js';
import { buildRecordIndex, encodeExample, tfrecordFrame, writeRecordIndex } from '../../../sources/tfrecord/index.js';
import { tempDir } from '../../sources/tfrecord/paths.js';
import { fillBucket, removeBucket, rgwAccess } from '../workers/loopback.js';
import { checkEpoch, effectiveHistory, lastCompleteCheckpoint, parseLog, uninterruptedSteps, type RunLog } from './coverage.js';

const SHARDS = 6;
const PER_SHARD = 200;
const SAMPLES = SHARDS * PER_SHARD;
// The global batch W x B, kept on every world size (B = 9, 18, 12 on 4, 2, 3 ranks), so a resume on
// another world size continues the same global steps. With 'drop', every plan of it leaves out the
// same tail: the last 1200 mod 36 = 12 positions of each epoch's order, so the uninterrupted run
// reads positions [0, 1188) in 33 global steps of 36.
const GLOBAL_BATCH = 36;
const STEPS_PER_EPOCH = Math.floor(SAMPLES / GLOBAL_BATCH);
const EPOCHS = 2;
const SEED = 7;
const EVERY = 5;

const trainer = fileURLToPath(new URL('./trainer.js', import.meta.url));
const rgw = rgwAccess('rxfeed-kill');
const range = (first: number, last: number): number[] => Array.from({ length: last - first + 1 }, (_, i) => first + i);

describe('kill and resume on Ceph RGW (issue 13)', { skip: rgw === undefined ? 'RXFEED_S3_ENDPOINT not set' : false }, () => {
  const tmp = tempDir('kill-resume');
  const indexDir = join(tmp.dir, 'index');
  const dir = join(tmp.dir, 'run');
  const keys = Array.from(
    { length: SHARDS },
    (_, s) => `train-${String(s).padStart(5, '0')}-of-${String(SHARDS).padStart(5, '0')}.tfrecord`,
  );
  let uploaded: string[] = [];
  const children = new Set<ChildProcess>();
  const exits = new Map<ChildProcess, Promise<void>>();

  before(async () => {
    mkdirSync(indexDir);
    mkdirSync(dir);
    // Record i of the shards' concatenation is the Example {id: i}: the dataset index is the id.
    const shards = keys.map((key, s) => {
      const bytes = Buffer.concat(
        range(s * PER_SHARD, (s + 1) * PER_SHARD - 1).map((id) => tfrecordFrame(encodeExample({ id: BigInt64Array.of(BigInt(id)) }))),
      );
      writeFileSync(join(tmp.dir, key), bytes);
      return [key, bytes] as const;
    });
    for (const key of keys) await writeRecordIndex(join(indexDir, `${key}.idx`), await buildRecordIndex(join(tmp.dir, key)));
    uploaded = await fillBucket(rgw!, shards);
  });

  after(async () => {
    for (const child of children) child.kill('SIGKILL');
    await Promise.all(exits.values());
    if (uploaded.length > 0) await removeBucket(rgw!, uploaded);
    tmp.remove();
  });

  /** Start rank `rank` of `worldSize` for run `run`; its promise settles on `paused` (or `done`) on its stdout. */
  const startRank = (run: string, rank: number, worldSize: number, pause: readonly number[] | undefined) => {
    const args = ['--bucket', rgw!.bucket, '--keys', keys.join(','), '--index-dir', indexDir, '--dir', dir, '--run', run];
    args.push('--every', String(EVERY), '--epochs', String(EPOCHS), '--global-batch', String(GLOBAL_BATCH), '--seed', String(SEED));
    if (pause !== undefined) args.push('--pause', pause.join(','));
    const { NODE_TEST_CONTEXT: _runnerOnly, ...env } = process.env;
    const child = spawn(process.execPath, [trainer, ...args], {
      env: { ...env, RANK: String(rank), WORLD_SIZE: String(worldSize) },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    children.add(child);
    let stderr = '';
    child.stderr!.setEncoding('utf8').on('data', (text: string) => {
      stderr = (stderr + text).slice(-4000); // the end of it, for the failure message
    });
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
      child.once('exit', (code, signal) => {
        children.delete(child);
        resolve({ code, signal });
      }),
    );
    exits.set(
      child,
      exited.then(() => undefined),
    );
    const reported = new Promise<string>((resolve, reject) => {
      createInterface({ input: child.stdout! }).on('line', (line) => resolve(line));
      void exited.then(({ code, signal }) => reject(new Error(`run ${run} rank ${rank} exited (${code ?? signal}) first:\n${stderr}`)));
    });
    return { child, exited, reported };
  };

  /**
   * Run `worldSize` ranks. With `pause`, rank r stops after step `pause[r]` and, once every rank
   * has, all are SIGKILLed; without it, every rank must read to the end and exit 0.
   */
  const runJob = async (run: string, worldSize: number, pause?: readonly number[]): Promise<void> => {
    const ranks = range(0, worldSize - 1).map((rank) => startRank(run, rank, worldSize, pause));
    const said = await Promise.all(ranks.map((rank) => rank.reported));
    if (pause !== undefined) {
      assert.deepEqual(
        said,
        pause.map((step) => `paused ${step}`),
      );
      for (const { child } of ranks) child.kill('SIGKILL');
      for (const { exited } of ranks) assert.deepEqual(await exited, { code: null, signal: 'SIGKILL' });
    } else {
      assert.deepEqual(
        said,
        ranks.map(() => `done ${EPOCHS * STEPS_PER_EPOCH}`),
      );
      for (const { exited } of ranks) assert.deepEqual(await exited, { code: 0, signal: null });
    }
  };

  const logsOf = (run: string, worldSize: number): RunLog => ({
    run,
    ranks: range(0, worldSize - 1).map((rank) => {
      const name = `log-${run}-rank${rank}.jsonl`;
      return parseLog(readFileSync(join(dir, name), 'utf8'), name);
    }),
  });

  it(
    'issue 13: 4 ranks killed mid-epoch, resumed on 2, killed again, resumed on 3: every epoch is the uninterrupted run, each sample once',
    { timeout: 180_000 },
    async () => {
      // Run a: 4 ranks. Every rank checkpoints step 10; rank 3 alone reaches step 15 before the
      // kill, so 15 is not complete, and what ranks read after step 10 is rolled back.
      await runJob('a', 4, [12, 13, 14, 16]);
      assert.deepEqual(lastCompleteCheckpoint(readdirSync(dir)), { run: 'a', step: 10, worldSize: 4 });
      // Run b: 2 ranks, from all 4 states of step 10; killed in epoch 0 again, rank 1 alone past step 25.
      await runJob('b', 2, [22, 27]);
      assert.deepEqual(lastCompleteCheckpoint(readdirSync(dir)), { run: 'b', step: 20, worldSize: 2 });
      // Run c: 3 ranks, from both states of step 20 (saved on a plan that was itself resumed), to the end.
      await runJob('c', 3);
      assert.equal(children.size, 0);

      // A state is a few hundred bytes (positions in the global order, not lists of samples: the
      // ids of one rank's epoch alone would take kilobytes).
      const checkpoints = readdirSync(dir).filter((name) => name.startsWith('ckpt-'));
      // Run a: steps 5 and 10 on 4 ranks, 15 on rank 3; b: 15 and 20 on 2 ranks, 25 on rank 1; c: 25 to 65 on 3 ranks.
      assert.equal(checkpoints.length, 4 * 2 + 1 + (2 * 2 + 1) + 3 * 9);
      for (const name of checkpoints) assert.ok(statSync(join(dir, name)).size < 1024, `${name}: ${statSync(join(dir, name)).size} bytes`);

      const runs = [logsOf('a', 4), logsOf('b', 2), logsOf('c', 3)];
      // No replay: each run's first batch is the one after the step it resumed from, and the
      // epochs follow each other at the same global steps.
      const epochOf = (step: number): number => Math.floor((step - 1) / STEPS_PER_EPOCH);
      const expectedSteps = [
        [12, 13, 14, 16].map((last) => range(1, last)),
        [22, 27].map((last) => range(11, last)),
        [0, 1, 2].map(() => range(21, EPOCHS * STEPS_PER_EPOCH)),
      ];
      runs.forEach((run, k) => {
        assert.deepEqual(
          run.ranks.map((lines) => lines.map((line) => line.step)),
          expectedSteps[k],
        );
        for (const lines of run.ranks)
          for (const line of lines) assert.equal(line.epoch, epochOf(line.step), `run ${run.run} step ${line.step}`);
      });

      const history = effectiveHistory(runs, [10, 20]);
      for (let epoch = 0; epoch < EPOCHS; epoch++) {
        const order = orderOf(globalShuffle({ seed: SEED }), SAMPLES, epoch);
        const report = checkEpoch(
          history,
          epoch,
          uninterruptedSteps(SAMPLES, GLOBAL_BATCH, (position) => order.at(position)),
        );
        assert.deepEqual(report, {
          epoch,
          rows: STEPS_PER_EPOCH * GLOBAL_BATCH,
          lost: [],
          duplicated: [],
          unexpected: [],
          misplacedSteps: [],
        });
      }
    },
  );
});
