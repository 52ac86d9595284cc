import { setMaxListeners } from 'node:events';
import type { Observable } from 'rxjs';
import { disposeAll } from '../../src/dispose.js';
import { checkPlacementOptions, resolvePlacement, type Placement, type PlacementOptions } from '../../src/distributed.js';
import { InvalidArgumentError, RxfeedError } from '../../src/errors.js';
import { describe } from '../../src/excerpt.js';
import type { StreamInfo } from '../../src/info.js';
import { isPromiseLike } from '../../src/isPromiseLike.js';
import { produce } from '../../src/operate.js';
import { indexedStart, type IndexedPart } from '../../src/indexedResume.js';
import { CountLedger, Remaining } from '../../src/ledger.js';
import { RankPlan, WorkerShare, type EndOfEpoch, type RankSequence } from '../../src/rankPlan.js';
import { orderOf, sequential, type IndexOrder, type Sampler } from '../../src/sampler.js';
import { checkLayout, type RandomAccess } from './randomAccess.js';

/** Options of {@link fromRandomAccess}. */
export interface FromRandomAccessOptions extends PlacementOptions {
  /** The order of each epoch; default {@link sequential}. See `globalShuffle`, `blockShuffle`. */
  readonly sampler?: Sampler;
  /**
   * Elements per rank per step of the global plan (default 1): step `s` covers positions
   * `[s * G, (s + 1) * G)` of the order, `G = worldSize * batchSize`, and this rank reads its
   * slice of each. Give the batch size the pipeline batches by, so that each batch is one step's
   * slice and `'drop'` leaves only full batches.
   */
  readonly batchSize?: number;
  /**
   * The epoch's last, incomplete step (see `RankPlan`): `'drop'` (default, training),
   * `'pad'` (evaluation, with `padToBatch` downstream) or `'wrap'`.
   */
  readonly endOfEpoch?: EndOfEpoch;
  /** Indices asked of the dataset per read (default 64): the unit a source coalesces into range reads. */
  readonly readSize?: number;
  /** Reads in flight at once (default 4). With `readSize`, bounds what the source holds. */
  readonly readsInFlight?: number;
}

/**
 * Read a {@link RandomAccess} dataset in the order a sampler gives, this rank's share of it.
 *
 * Each subscription reads the epoch of its context (a loader's iteration, `epochs`), so a seeded
 * sampler gives a new order every epoch and the same order for the same epoch anywhere. The
 * ranks split the order by the global plan (see `RankPlan`): every rank reads the same number of
 * steps, and with `endOfEpoch: 'pad'` the stream announces the split `padToBatch` needs to count
 * every element exactly once. A rank's loading workers (a worker pipeline's parts, or
 * `workerIndex`/`numWorkers` given here) take its batches in turn (see `WorkerShare`): one batch
 * from each worker in turn is the rank's own order, whatever the number of workers.
 *
 * Reads ask the dataset for `readSize` indices at a time, up to `readsInFlight` reads ahead of
 * the consumer, answered in order; so the source holds at most `readSize * readsInFlight`
 * elements beyond the one being emitted, and emits only while no stage downstream is full. On
 * unsubscribe the reads in flight are aborted and every element not emitted is disposed. The
 * dataset is not closed: it outlives the loaders that read it.
 *
 * Size: this rank's share (`RankPlan.size`), known at pipe time when the placement is.
 *
 * @example
 * ```ts
 * import { batch, fromRandomAccess, globalShuffle, toLoader } from 'rxfeed';
 * import { tfrecordDataset } from 'rxfeed/tfrecord';
 * declare const files: string[];
 * declare function step(batch: unknown[]): void;
 * const dataset = await tfrecordDataset(files);
 * const train = toLoader(
 *   fromRandomAccess(dataset, { sampler: globalShuffle({ seed: 1 }), batchSize: 32 }).pipe(batch(32)),
 * );
 * for await (const batch of train) step(batch); // a new global shuffle every iteration
 * ```
 *
 * @param dataset - The dataset; it stays open.
 * @param options - See {@link FromRandomAccessOptions}.
 * @returns The elements, cold: each subscription reads one epoch.
 * @throws {@link InvalidArgumentError} when an option or the dataset is malformed.
 * @public
 */
export function fromRandomAccess<T>(dataset: RandomAccess<T>, options: FromRandomAccessOptions = {}): Observable<T> {
  checkDataset(dataset);
  const { sampler = sequential(), batchSize = 1, endOfEpoch = 'drop', readSize = 64, readsInFlight = 4 } = options;
  checkPlacementOptions(options, 'fromRandomAccess');
  for (const [name, value] of [
    ['batchSize', batchSize],
    ['readSize', readSize],
    ['readsInFlight', readsInFlight],
  ] as const) {
    if (!Number.isSafeInteger(value) || value < 1) {
      throw new InvalidArgumentError(`fromRandomAccess.${name}`, `must be a positive integer, got ${describe(value)}`);
    }
  }
  const planFor = (order: IndexOrder, placement: Placement): RankPlan | WorkerShare => {
    const plan = new RankPlan(order.length, { worldSize: placement.worldSize, rank: placement.rank, batchSize, endOfEpoch });
    return placement.numWorkers === 1 ? plan : new WorkerShare(plan, placement.workerIndex, placement.numWorkers);
  };
  // The pipe-time size, when the placement and the order's length are known without subscribing
  // (an order function's length is known only once called, for an epoch).
  let pipedSize: number | undefined;
  if (typeof sampler !== 'function') {
    try {
      pipedSize = planFor(orderOf(sampler, dataset.size, 0, dataset.layout?.shardEnds), resolvePlacement(options, 'fromRandomAccess')).size;
    } catch {
      pipedSize = undefined; // the subscription reports what is wrong
    }
  }

  /**
   * What one subscription reads: the rank's plan over the positions not consumed before it (all,
   * unless resumed on another plan), less the plan indices its consumer already received (on a
   * resume), and this worker's share of that. Elements are numbered in the ledger by plan index,
   * so what a rank received does not depend on its number of workers.
   */
  const readingPlan = (order: IndexOrder, placement: Placement, key: string, restored: readonly unknown[], states: number) => {
    const { worldSize, rank, workerIndex, numWorkers } = placement;
    const here = {
      length: order.length,
      sampler: typeof sampler === 'function' ? 'custom' : sampler,
      worldSize,
      rank,
      batchSize,
      endOfEpoch,
    };
    const start = indexedStart(restored, here, key, states);
    const remaining = new Remaining(order.length, start.base); // global positions
    const plan = new RankPlan(remaining.size, { worldSize, rank, batchSize, endOfEpoch });
    const toRead = new Remaining(plan.size, start.consumed); // plan indices
    // The steps left: those of the real elements left, then the plan's steps with no real element
    // of this rank ('pad'; padToBatch counts those received). Not the pad rows of a step whose
    // real elements were all received: that step is done.
    const steps = Math.ceil(toRead.size / batchSize) + (plan.steps - Math.ceil(plan.size / batchSize));
    const rankSequence: RankSequence = {
      worldSize,
      rank,
      batchSize,
      steps,
      size: toRead.size,
      maxRankSize: steps * batchSize,
      position: (j) => plan.position(toRead.at(j)),
    };
    const share = numWorkers === 1 ? undefined : new WorkerShare(rankSequence, workerIndex, numWorkers);
    const seqAt = share === undefined ? (i: number) => toRead.at(i) : (i: number) => toRead.at(share.rankIndex(i));
    const indexOfSeq = (seq: number): number => order.at(remaining.at(plan.position(seq)));
    const descriptor: Omit<IndexedPart, 'consumed'> = { kind: 'indexed', ...here, base: start.base };
    return {
      plan: share ?? rankSequence,
      ledger: new CountLedger(key, descriptor, start.consumed),
      seqAt,
      indexOfSeq,
      indexAt: (k: number) => indexOfSeq(seqAt(k)),
      remainder: restored.length > 0,
    };
  };

  return produce<T>(
    (op) => {
      const { context } = op;
      const order = orderOf(sampler, dataset.size, context.epoch, dataset.layout?.shardEnds);
      const placement = context.splitPlacement(options, 'fromRandomAccess');
      const key = context.tracker.keyFor('fromRandomAccess', context.epoch);
      const reading = readingPlan(order, placement, key, context.tracker.restored(key), context.tracker.restoring.length);
      const { plan, ledger } = reading;
      context.tracker.register(key, ledger);
      op.context.announce(announcement(order, plan, reading.indexAt, reading.remainder));
      const abort = new AbortController();
      // Each read in flight may listen to it: up to `readsInFlight` listeners, not a leak.
      setMaxListeners(readsInFlight + 10, abort.signal);
      // Reads in flight and answered, in order; `current` is the answer being emitted.
      const reads: ReadSlot<T>[] = [];
      let current: readonly T[] = [];
      let currentSeqs: readonly number[] = [];
      let emitted = 0;
      let nextToRead = 0;

      const startRead = (): void => {
        const count = Math.min(readSize, plan.size - nextToRead);
        const indices = new Array<number>(count);
        const seqs = new Array<number>(count);
        for (let offset = 0; offset < count; offset++) {
          const seq = reading.seqAt(nextToRead + offset);
          seqs[offset] = seq;
          indices[offset] = reading.indexOfSeq(seq);
        }
        nextToRead += count;
        const slot: ReadSlot<T> = { seqs };
        reads.push(slot);
        const answer = dataset.read(indices, abort.signal);
        if (!isPromiseLike(answer)) {
          slot.elements = checkAnswer(answer, count);
          return;
        }
        Promise.resolve(answer).then(
          op.guard((elements: readonly T[]) => {
            if (op.closed) {
              disposeAll(elements);
              return;
            }
            slot.elements = checkAnswer(elements, count);
            pump.run();
          }),
          (error: unknown) => op.fail(error),
        );
      };

      const pump = op.pump(() => {
        while (!op.closed) {
          if (emitted < current.length) {
            if (!pump.ready()) return;
            const seq = currentSeqs[emitted]!;
            op.emitFrom(current[emitted++]!, ledger, seq);
            continue;
          }
          while (reads.length < readsInFlight && nextToRead < plan.size) startRead();
          const head = reads[0];
          if (head === undefined) {
            op.complete();
            return;
          }
          if (head.elements === undefined) return; // its answer runs the pump
          reads.shift();
          current = head.elements;
          currentSeqs = head.seqs;
          emitted = 0;
        }
      });

      op.finalize(() => {
        abort.abort();
        disposeAll(current.slice(emitted));
        current = [];
        for (const read of reads.splice(0)) if (read.elements !== undefined) disposeAll(read.elements);
      });
      pump.run();
    },
    { size: pipedSize },
  );
}

/** A read in flight or answered: the ledger numbers of its elements, and the elements once answered. */
interface ReadSlot<T> {
  readonly seqs: readonly number[];
  elements?: readonly T[];
}

/** What the subscription announces: this rank's size and, for `padToBatch`, its split. */
function announcement(order: IndexOrder, plan: RankSequence | WorkerShare, indexAt: (k: number) => number, remainder: boolean): StreamInfo {
  return {
    size: plan.size,
    split: {
      globalSize: order.length,
      worldSize: plan.worldSize,
      rank: plan.rank,
      maxRankSize: plan.maxRankSize,
      firstIndex: plan.size > 0 ? indexAt(0) : 0,
      stride: 1,
      indexAt,
      ...(remainder ? { remainder } : {}),
    },
  };
}

function checkAnswer<T>(elements: readonly T[], count: number): readonly T[] {
  if (!Array.isArray(elements) || elements.length !== count) {
    throw new RxfeedError(
      'RXFEED_ERR_RANDOM_ACCESS',
      `fromRandomAccess: a read of ${count} indices answered ${Array.isArray(elements) ? `${elements.length} elements` : describe(elements)}`,
    );
  }
  return elements;
}

function checkDataset(dataset: RandomAccess<unknown>): void {
  if (typeof dataset !== 'object' || dataset === null || typeof dataset.read !== 'function' || typeof dataset.close !== 'function') {
    throw new InvalidArgumentError('fromRandomAccess.dataset', `expected a RandomAccess (size, read, close), got ${describe(dataset)}`);
  }
  if (!Number.isSafeInteger(dataset.size) || dataset.size < 0) {
    throw new InvalidArgumentError('fromRandomAccess.dataset.size', `must be a non-negative integer, got ${describe(dataset.size)}`);
  }
  if (dataset.layout !== undefined) checkLayout(dataset.layout, dataset.size, 'fromRandomAccess.dataset');
}
