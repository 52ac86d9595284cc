import { setMaxListeners } from 'node:events';
import type { Observable } from 'rxjs';
import { disposeAll } from '../../src/dispose.js';
import { checkPlacementOptions, resolvePlacement, type Placement, type PlacementOptions } from '../../src/distributed.js';
import { InvalidArgumentError, RxfeedError } from '../../src/errors.js';
import { describe } from '../../src/excerpt.js';
import type { StreamInfo } from '../../src/info.js';
import { isPromiseLike } from '../../src/isPromiseLike.js';
import { produce } from '../../src/operate.js';
import { RankPlan, WorkerShare, type EndOfEpoch } from '../../src/rankPlan.js';
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

  return produce<T>(
    (op) => {
      const order = orderOf(sampler, dataset.size, op.context.epoch, dataset.layout?.shardEnds);
      const plan = planFor(order, op.context.splitPlacement(options, 'fromRandomAccess'));
      op.context.announce(announcement(order, plan));
      const abort = new AbortController();
      // Each read in flight may listen to it: up to `readsInFlight` listeners, not a leak.
      setMaxListeners(readsInFlight + 10, abort.signal);
      // Reads in flight and answered, in order; `current` is the answer being emitted.
      const reads: { elements?: readonly T[] }[] = [];
      let current: readonly T[] = [];
      let emitted = 0;
      let nextToRead = 0;

      const startRead = (): void => {
        const count = Math.min(readSize, plan.size - nextToRead);
        const indices = new Array<number>(count);
        for (let offset = 0; offset < count; offset++) indices[offset] = order.at(plan.position(nextToRead + offset));
        nextToRead += count;
        const slot: { elements?: readonly T[] } = {};
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
            op.next(current[emitted++]!);
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

/** What the subscription announces: this rank's size and, for `padToBatch`, its split. */
function announcement(order: IndexOrder, plan: RankPlan | WorkerShare): StreamInfo {
  return {
    size: plan.size,
    split: {
      globalSize: order.length,
      worldSize: plan.worldSize,
      rank: plan.rank,
      maxRankSize: plan.maxRankSize,
      firstIndex: plan.size > 0 ? order.at(plan.position(0)) : 0,
      stride: 1,
      indexAt: (k) => order.at(plan.position(k)),
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
