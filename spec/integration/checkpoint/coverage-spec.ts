/**
 * The kill-and-resume checker (coverage.ts) on small hand-made histories: it passes an exact one
 * and names a lost, a duplicated and an unexpected sample, so a green killResume-spec means the
 * run was exact, not that the checker was blind.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  checkEpoch,
  checkpointName,
  effectiveHistory,
  lastCompleteCheckpoint,
  parseCheckpointName,
  parseLog,
  uninterruptedSteps,
  type LogLine,
  type RunLog,
} from './coverage.js';

// 10 samples, global batch 4 (2 ranks x 2): the order is id = 3p mod 10; steps [0, 3, 6, 9] and
// [2, 5, 8, 1]; 'drop' leaves out positions 8 and 9, ids 4 and 7.
const at = (position: number): number => (position * 3) % 10;
const steps = uninterruptedSteps(10, 4, at);
const line = (step: number, ids: number[], epoch = 0): LogLine => ({ step, epoch, ids });

/** Run a (2 ranks) checkpoints step 1, rank 0 reads on to step 2 and the job is killed; run b (1 rank) resumes from step 1. */
const killedAfterStep1: RunLog = { run: 'a', ranks: [[line(1, [0, 3]), line(2, [2, 5])], [line(1, [6, 9])]] };

describe('coverage checker (issue 13)', () => {
  it("issue 13: the uninterrupted plan is the order cut in global steps, without the tail ('drop') or with it short ('pad')", () => {
    assert.deepEqual(steps, [
      [0, 3, 6, 9],
      [2, 5, 8, 1],
    ]);
    assert.deepEqual(uninterruptedSteps(10, 4, at, 'pad'), [
      [0, 3, 6, 9],
      [2, 5, 8, 1],
      [4, 7],
    ]);
    assert.deepEqual(uninterruptedSteps(8, 4, at, 'pad'), steps);
  });

  it('issue 13: an exact history passes: the batch read past the checkpoint is rolled back and read again', () => {
    const resumed: RunLog = { run: 'b', ranks: [[line(2, [2, 5, 8, 1])]] };
    const history = effectiveHistory([killedAfterStep1, resumed], [1]);
    assert.deepEqual(history, [line(1, [0, 3]), line(1, [6, 9]), line(2, [2, 5, 8, 1])]);
    assert.deepEqual(checkEpoch(history, 0, steps), { epoch: 0, rows: 8, lost: [], duplicated: [], unexpected: [], misplacedSteps: [] });
  });

  it('issue 13: a resume that skips what one rank read past the checkpoint loses those samples', () => {
    const resumed: RunLog = { run: 'b', ranks: [[line(2, [8, 1])]] };
    const report = checkEpoch(effectiveHistory([killedAfterStep1, resumed], [1]), 0, steps);
    assert.deepEqual(report, { epoch: 0, rows: 6, lost: [2, 5], duplicated: [], unexpected: [], misplacedSteps: [1] });
  });

  it('issue 13: a resume that replays consumed samples duplicates them', () => {
    const resumed: RunLog = { run: 'b', ranks: [[line(2, [0, 3, 6, 9]), line(3, [2, 5, 8, 1])]] };
    const report = checkEpoch(effectiveHistory([killedAfterStep1, resumed], [1]), 0, steps);
    assert.deepEqual(report, { epoch: 0, rows: 12, lost: [], duplicated: [0, 3, 6, 9], unexpected: [], misplacedSteps: [1, 2] });
  });

  it('issue 13: a history that is not rolled back counts the discarded batch twice', () => {
    const resumed: RunLog = { run: 'b', ranks: [[line(2, [2, 5, 8, 1])]] };
    const report = checkEpoch(effectiveHistory([killedAfterStep1, resumed], [2]), 0, steps);
    assert.deepEqual(report.duplicated, [2, 5]);
    assert.deepEqual(report.misplacedSteps, [1]);
  });

  it("issue 13: a sample of the dropped tail is unexpected; another epoch's lines are not counted", () => {
    const history = [line(1, [0, 3, 6, 9]), line(2, [2, 5, 8, 4]), line(3, [1, 7], 1)];
    assert.deepEqual(checkEpoch(history, 0, steps), {
      epoch: 0,
      rows: 8,
      lost: [1],
      duplicated: [],
      unexpected: [4],
      misplacedSteps: [1],
    });
  });

  it('issue 13: every later roll-back applies: a run that checkpointed nothing whole is discarded entirely', () => {
    const middle: RunLog = { run: 'b', ranks: [[line(2, [2, 5, 8, 1])]] };
    const last: RunLog = { run: 'c', ranks: [[line(2, [2, 5]), line(2, [8, 1])]] };
    assert.deepEqual(effectiveHistory([killedAfterStep1, middle, last], [1, 1]), [
      line(1, [0, 3]),
      line(1, [6, 9]),
      line(2, [2, 5]),
      line(2, [8, 1]),
    ]);
    assert.throws(() => effectiveHistory([killedAfterStep1, middle], []), /2 runs need 1 resume steps, got 0/);
  });

  it('issue 13: the last complete checkpoint is the highest step every rank of one run wrote', () => {
    const names = [
      checkpointName({ run: 'a', step: 5, rank: 0, worldSize: 2 }),
      checkpointName({ run: 'a', step: 5, rank: 1, worldSize: 2 }),
      checkpointName({ run: 'a', step: 10, rank: 1, worldSize: 2 }), // rank 0 was killed first
      // Run b (3 ranks) reaches step 10 too: run a's file does not complete it.
      checkpointName({ run: 'b', step: 10, rank: 0, worldSize: 3 }),
      checkpointName({ run: 'b', step: 10, rank: 2, worldSize: 3 }),
      '.ckpt-b-step10-rank1-of3.json.tmp', // written, not yet renamed
      'log-b-rank1.jsonl',
    ];
    assert.deepEqual(lastCompleteCheckpoint(names), { run: 'a', step: 5, worldSize: 2 });
    assert.deepEqual(lastCompleteCheckpoint([...names, checkpointName({ run: 'b', step: 10, rank: 1, worldSize: 3 })]), {
      run: 'b',
      step: 10,
      worldSize: 3,
    });
    assert.equal(lastCompleteCheckpoint(names.slice(2)), undefined);
    assert.deepEqual(parseCheckpointName('ckpt-a-step7-rank3-of4.json'), { run: 'a', step: 7, rank: 3, worldSize: 4 });
    assert.equal(parseCheckpointName('ckpt-a-step7-rank4-of4.json'), undefined);
  });

  it('issue 13: a log line that is not {step, epoch, ids} fails naming the file and line', () => {
    assert.deepEqual(parseLog('{"step":1,"epoch":0,"ids":[3,4]}\n', 'log-a-rank0.jsonl'), [line(1, [3, 4])]);
    assert.throws(
      () => parseLog('{"step":1,"epoch":0,"ids":[3]}\n{"step":2,"ids":[4]}\n', 'log-a-rank0.jsonl'),
      /log-a-rank0.jsonl: line 2/,
    );
  });
});
