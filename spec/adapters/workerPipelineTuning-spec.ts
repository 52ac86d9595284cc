import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  CreditTuner,
  LOWER_AFTER_PER_CREDIT,
  nextThreads,
  START_CREDITS,
  type ThreadTrial,
} from '../../src/adapters/workerPipelineTuning.js';

/**
 * The counts `nextThreads` reads with over `epochs` epochs when each count's throughput is
 * `curve(count)`; every count is checked to lie within the budget.
 */
function climb(curve: (threads: number) => number, budget: number, epochs: number): number[] {
  const trials: ThreadTrial[] = [];
  const chosen: number[] = [];
  for (let epoch = 0; epoch < epochs; epoch++) {
    const threads = nextThreads(trials, budget);
    assert.ok(Number.isSafeInteger(threads) && threads >= 1 && threads <= budget, `epoch ${epoch}: ${threads} threads`);
    chosen.push(threads);
    trials.push({ threads, itemsPerSecond: curve(threads) });
  }
  return chosen;
}

/** A curve with one peak at `peak`, each step away from it 20% slower (well past the tolerance). */
const peaked =
  (peak: number) =>
  (threads: number): number =>
    1000 / (1 + 0.2 * Math.abs(threads - peak));

describe("workerPipeline threads: 'auto', the epoch hill-climb (issue 15)", () => {
  it('issue 15: starts at the budget, halves the wider gap around the best count, then keeps the peak', () => {
    // 16 -> 8 (better) -> 4 (better) -> 2 (worse) -> 6 (as good: 4 stays, fewer) -> 3 (worse) -> 5 (the peak) -> 5 ...
    assert.deepEqual(climb(peaked(5), 16, 10), [16, 8, 4, 2, 6, 3, 5, 5, 5, 5]);
  });

  it('issue 15: converges to the peak of every one-peaked curve, for budgets 1 to 32, within 2 log2(budget) + 3 epochs', () => {
    for (let budget = 1; budget <= 32; budget++) {
      const settleBy = 2 * Math.ceil(Math.log2(budget)) + 3;
      for (let peak = 1; peak <= budget; peak++) {
        const chosen = climb(peaked(peak), budget, settleBy + 3);
        assert.deepEqual(chosen.slice(settleBy), [peak, peak, peak], `budget ${budget}, peak ${peak}: ${chosen.join(' ')}`);
      }
    }
  });

  it('issue 15: when more threads stop helping (a consumer-bound loop), it settles on the fewest within 5% of the best', () => {
    // 10 items/s per thread up to 30 items/s; 4 threads measure 3% better, within the noise allowed.
    const plateau = (threads: number): number => (threads === 4 ? 30.9 : Math.min(threads * 10, 30));
    const chosen = climb(plateau, 8, 12);
    assert.deepEqual(chosen.slice(-3), [3, 3, 3]);
  });

  it('issue 15: the latest measurement of a count replaces the earlier one, so a slower best is left for a neighbour', () => {
    const trials: ThreadTrial[] = [
      { threads: 4, itemsPerSecond: 100 },
      { threads: 3, itemsPerSecond: 90 },
      { threads: 5, itemsPerSecond: 80 },
      { threads: 2, itemsPerSecond: 50 },
      { threads: 6, itemsPerSecond: 40 },
    ];
    assert.equal(nextThreads(trials, 8), 4);
    assert.equal(nextThreads([...trials, { threads: 4, itemsPerSecond: 70 }], 8), 3);
  });

  it('issue 15: a count measured beyond a smaller budget is ignored; nothing measured starts at the budget', () => {
    assert.equal(nextThreads([], 6), 6);
    assert.equal(nextThreads([{ threads: 12, itemsPerSecond: 1e9 }], 6), 6);
    assert.equal(nextThreads([{ threads: 1, itemsPerSecond: 10 }], 1), 1);
  });
});

describe("workerPipeline credits: 'auto', the live rule of a part (issue 15)", () => {
  it('issue 15: starts at 2 and gains one per wait of the consumer once it handed on as many items as its credits, never above the max', () => {
    const tuner = new CreditTuner(4);
    assert.equal(tuner.credits, START_CREDITS);
    let waits = 0;
    assert.equal(tuner.waited(++waits), false, 'no item handed on since the start');
    const seen: number[] = [];
    for (let round = 0; round < 5; round++) {
      for (let i = 0; i < tuner.credits; i++) tuner.handed(waits);
      tuner.waited(++waits);
      seen.push(tuner.credits);
    }
    assert.deepEqual(seen, [3, 4, 4, 4, 4]);
  });

  it('issue 15: gives a credit back after 4 items per credit without any wait of the consumer, never below 1', () => {
    const tuner = new CreditTuner(8);
    const changes: number[] = [];
    for (let item = 1; item <= 40; item++) if (tuner.handed(0)) changes.push(item);
    // 2 credits: lowered at item 8; then 1 credit, the least.
    assert.deepEqual(changes, [LOWER_AFTER_PER_CREDIT * START_CREDITS]);
    assert.equal(tuner.credits, 1);
  });

  it('issue 15: a window in which the consumer waited on any part keeps the credits', () => {
    const tuner = new CreditTuner(8);
    let waits = 0;
    for (let item = 1; item <= 7; item++) tuner.handed(waits);
    waits++; // the consumer waited on another part
    assert.equal(tuner.handed(waits), false);
    assert.equal(tuner.credits, START_CREDITS);
    // A new window starts: 8 more items without a wait lower it.
    for (let item = 1; item < 8; item++) assert.equal(tuner.handed(waits), false);
    assert.equal(tuner.handed(waits), true);
    assert.equal(tuner.credits, 1);
  });

  it('issue 15: a max below the start caps the start', () => {
    assert.equal(new CreditTuner(1).credits, 1);
  });
});
