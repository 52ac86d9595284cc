/**
 * The global plan: which positions of an epoch's order each rank reads.
 *
 * Step `s` of the order covers positions `[s * G, (s + 1) * G)`, `G = worldSize * batchSize`,
 * and rank `r` takes its slice `[s * G + r * batchSize, s * G + (r + 1) * batchSize)`. So every
 * rank reads the same number of steps by construction, whatever the dataset size, and what a rank
 * has read is described by one number (how many of its elements it received). The epoch's tail
 * (fewer than `G` positions) is, by {@link EndOfEpoch}:
 * - `'drop'`: left out, so every rank reads `floor(length / G)` full batches (training; the tail
 *   differs per epoch when the order is shuffled, so nothing is left out for good);
 * - `'pad'`: read where it exists; each rank's slice of the last step holds its real positions
 *   (possibly none), and `padToBatch` fills the rest with masked rows: every position exactly once
 *   (evaluation);
 * - `'wrap'`: completed with the order's first positions, so every rank reads
 *   `ceil(length / G)` full batches and `G * steps - length` positions twice (PyTorch's
 *   `DistributedSampler` with `drop_last=False`).
 *
 * @module
 */
import { InvalidArgumentError } from './errors.js';

/**
 * What happens to the last, incomplete step of an epoch; see {@link RankPlan}.
 * @public
 */
export type EndOfEpoch = 'drop' | 'pad' | 'wrap';

/**
 * One rank's share of one epoch's order.
 *
 * @example
 * ```ts
 * import { RankPlan } from 'rxfeed';
 * const plan = new RankPlan(10, { worldSize: 2, rank: 1, batchSize: 2, endOfEpoch: 'pad' });
 * plan.size;        // 4: positions 2, 3, 6, 7 (and nothing of the last step's 8, 9)
 * plan.position(2); // 6
 * ```
 * @public
 */
export class RankPlan {
  /** The number of positions in the epoch's order. */
  readonly length: number;
  readonly worldSize: number;
  readonly rank: number;
  /** Elements per rank per step. */
  readonly batchSize: number;
  readonly endOfEpoch: EndOfEpoch;
  /** Steps in the epoch, the same on every rank. */
  readonly steps: number;
  /** Elements this rank reads in the epoch. */
  readonly size: number;
  /** The most elements any rank reads in the epoch: `steps * batchSize`. */
  readonly maxRankSize: number;

  /**
   * @param length - Positions in the epoch's order.
   * @param options - `worldSize`, `rank`, `batchSize` (per rank, per step) and `endOfEpoch`.
   * @throws {@link InvalidArgumentError} when a number is out of range.
   */
  constructor(
    length: number,
    options: { readonly worldSize: number; readonly rank: number; readonly batchSize: number; readonly endOfEpoch: EndOfEpoch },
  ) {
    const { worldSize, rank, batchSize, endOfEpoch } = options;
    checkInteger(length, 'RankPlan.length', 0);
    checkInteger(worldSize, 'RankPlan.worldSize', 1);
    checkInteger(batchSize, 'RankPlan.batchSize', 1);
    if (!Number.isSafeInteger(rank) || rank < 0 || rank >= worldSize) {
      throw new InvalidArgumentError('RankPlan.rank', `must be an integer in [0, ${worldSize}), got ${String(rank)}`);
    }
    if (endOfEpoch !== 'drop' && endOfEpoch !== 'pad' && endOfEpoch !== 'wrap') {
      throw new InvalidArgumentError('RankPlan.endOfEpoch', `must be 'drop', 'pad' or 'wrap', got ${String(endOfEpoch)}`);
    }
    this.length = length;
    this.worldSize = worldSize;
    this.rank = rank;
    this.batchSize = batchSize;
    this.endOfEpoch = endOfEpoch;
    const group = worldSize * batchSize;
    this.steps = endOfEpoch === 'drop' ? Math.floor(length / group) : Math.ceil(length / group);
    this.maxRankSize = this.steps * batchSize;
    if (endOfEpoch === 'pad' && this.steps > 0) {
      const inLastStep = length - (this.steps - 1) * group;
      this.size = (this.steps - 1) * batchSize + Math.min(batchSize, Math.max(0, inLastStep - rank * batchSize));
    } else {
      this.size = this.maxRankSize;
    }
  }

  /**
   * The position in the epoch's order of this rank's element `k` (its `k`-th, from 0).
   *
   * @param k - An integer in `[0, size)`; not checked (the hot path).
   */
  position(k: number): number {
    const step = Math.floor(k / this.batchSize);
    const position = step * this.worldSize * this.batchSize + this.rank * this.batchSize + (k - step * this.batchSize);
    return position < this.length ? position : position % this.length;
  }
}

function checkInteger(value: number, argument: string, minimum: number): void {
  if (!Number.isSafeInteger(value) || value < minimum) {
    throw new InvalidArgumentError(argument, `must be an integer >= ${minimum}, got ${String(value)}`);
  }
}

/**
 * One loading worker's part of a rank's plan: the rank's batches `c` with
 * `c % numWorkers === workerIndex`, as PyTorch's DataLoader hands a map-style dataset's batches
 * to its workers. Taking one batch from each worker in turn gives back the rank's own order, so
 * the rank reads the same elements in the same order whatever its number of workers.
 *
 * @example
 * ```ts
 * import { RankPlan, WorkerShare } from 'rxfeed';
 * const plan = new RankPlan(10, { worldSize: 1, rank: 0, batchSize: 2, endOfEpoch: 'pad' });
 * const second = new WorkerShare(plan, 1, 2); // batches 1 and 3: positions 2, 3, 6, 7
 * second.position(2);  // 6
 * ```
 * @public
 */
export class WorkerShare {
  readonly worldSize: number;
  readonly rank: number;
  readonly batchSize: number;
  /** Elements this worker reads in the epoch. */
  readonly size: number;
  /** Elements this worker owes, padding included: its batches times `batchSize`. */
  readonly maxRankSize: number;
  readonly #plan: RankSequence;
  readonly #workerIndex: number;
  readonly #numWorkers: number;

  /**
   * @param plan - The rank's plan (or what remains of it, on resume).
   * @param workerIndex - This worker, in `[0, numWorkers)`.
   * @param numWorkers - The rank's loading workers.
   */
  constructor(plan: RankSequence, workerIndex: number, numWorkers: number) {
    checkInteger(numWorkers, 'WorkerShare.numWorkers', 1);
    if (!Number.isSafeInteger(workerIndex) || workerIndex < 0 || workerIndex >= numWorkers) {
      throw new InvalidArgumentError('WorkerShare.workerIndex', `must be an integer in [0, ${numWorkers}), got ${String(workerIndex)}`);
    }
    this.#plan = plan;
    this.#workerIndex = workerIndex;
    this.#numWorkers = numWorkers;
    this.worldSize = plan.worldSize;
    this.rank = plan.rank;
    this.batchSize = plan.batchSize;
    const batches = plan.steps > workerIndex ? Math.ceil((plan.steps - workerIndex) / numWorkers) : 0;
    this.maxRankSize = batches * plan.batchSize;
    // Only the rank's last batch can be short (an epoch's 'pad' tail): it is this worker's when
    // the worker's turn comes last.
    const ownsLast = batches > 0 && (plan.steps - 1) % numWorkers === workerIndex;
    this.size = ownsLast ? this.maxRankSize - (plan.maxRankSize - plan.size) : this.maxRankSize;
  }

  /**
   * The position in the epoch's order of this worker's element `j`.
   *
   * @param j - An integer in `[0, size)`; not checked (the hot path).
   */
  position(j: number): number {
    return this.#plan.position(this.rankIndex(j));
  }

  /**
   * Which of the rank's elements this worker's element `j` is.
   *
   * @param j - An integer in `[0, size)`; not checked (the hot path).
   */
  rankIndex(j: number): number {
    const batch = Math.floor(j / this.batchSize);
    const inBatch = j - batch * this.batchSize;
    return (batch * this.#numWorkers + this.#workerIndex) * this.batchSize + inBatch;
  }
}

/**
 * What {@link WorkerShare} splits: a rank's elements in batches, as a {@link RankPlan} has them.
 * @public
 */
export type RankSequence = Pick<RankPlan, 'worldSize' | 'rank' | 'batchSize' | 'steps' | 'size' | 'maxRankSize' | 'position'>;
