/**
 * `tapWrite`: write predictions or flags back to MongoDB while the pipeline runs.
 *
 * @module
 */
import type { AnyBulkWriteOperation, Document, UpdateFilter } from 'mongodb';
import { BSON, MongoBulkWriteError } from 'mongodb';
import { setTimeout as sleep } from 'node:timers/promises';
import type { OperatorFunction } from 'rxjs';
import { InvalidArgumentError } from '../../src/errors.js';
import { LoaderStateError } from '../../src/loaderState.js';
import { operate } from '../../src/operate.js';
import { MongoWriteError } from './errors.js';
import { checkInput, openTarget, type MongoCollectionInput, type OpenedTarget } from './target.js';
import { afterSelectionFailure, isRetryable } from './view.js';

/**
 * One update produced from an item by {@link TapWriteOptions.update}.
 * @public
 */
export interface SampleUpdate {
  /** `_id` of the document to update. */
  readonly id: unknown;
  /** A MongoDB update document (`$set`, `$inc`, `$push` ...); the epoch marker is added to its `$set`. */
  readonly update: UpdateFilter<Document>;
}

/**
 * Options of {@link tapWrite}.
 * @public
 */
export interface TapWriteOptions<T> {
  /** The update to apply for an item, or `undefined` to write nothing for it. */
  readonly update: (item: T) => SampleUpdate | undefined;
  /**
   * Name of this writer: the marker field `rxfeed.writes.<name>` records the last epoch it applied
   * to each document, which is what makes the writes idempotent. Default `'default'`.
   */
  readonly name?: string;
  /**
   * Epoch the writes belong to; default the epoch of each item as it passes (set by `epochs`
   * upstream, or the loader's iteration). Give it explicitly when a restarted run counts epochs
   * itself.
   */
  readonly epoch?: number;
  /** Updates per `bulkWrite`; default 500. */
  readonly batchSize?: number;
  /**
   * `bulkWrite`s in flight at once; default 2. Buffered plus in-flight updates are a Flow stage of
   * capacity `batchSize x (maxInFlight + 1)`: when it is full, sources pause until a write ends.
   */
  readonly maxInFlight?: number;
  /**
   * Attempts after the first for a batch lost to the network or a cleared connection pool; default
   * 5, with delays doubling from 50 ms. Safe because every update is idempotent per epoch.
   */
  readonly retries?: number;
}

/**
 * Pass every item through unchanged while writing an update for it back to MongoDB, batched into
 * unordered `bulkWrite`s with backpressure.
 *
 * Idempotent by (sample id, epoch): each update is `updateOne({ _id, <marker>: not >= epoch },
 * { ...update, $set: { <marker>: epoch } })`, so applying the same epoch twice (a resumed run
 * re-reading samples it had already written) changes nothing the second time, even for `$inc`.
 * The marker is `rxfeed.writes.<name>`. Writes are flushed when the source completes (the
 * completion is passed on only after every write is acknowledged) and when the subscriber leaves
 * (`take(n)`, `break`): that final flush is tracked by the Flow, so a loader's `break` waits for
 * it. A failed batch errors the pipeline with a {@link MongoWriteError} naming the document.
 *
 * Loader state: the updates not yet acknowledged (buffered or in flight, at most
 * `batchSize x (maxInFlight + 1)`) are saved in `Loader.state()` as Extended JSON, and a resumed
 * loader writes them first: an item its consumer received before a crash keeps its write,
 * though the item is not read again.
 *
 * @example
 * ```ts
 * import { tapWrite, type MongoTarget } from 'rxfeed/mongodb';
 * import { map, type Observable } from 'rxjs';
 * declare const dataset: Observable<{ _id: string; image: Uint8Array }>;
 * declare function model(doc: { image: Uint8Array }): number;
 * declare const target: MongoTarget;
 * const scored = dataset.pipe(
 *   map((doc) => ({ id: doc._id, score: model(doc) })),
 *   tapWrite(target, { update: (s) => ({ id: s.id, update: { $set: { score: s.score } } }) }),
 * );
 * ```
 *
 * @param target - The collection to write to (a driver `Collection` or `{ uri, db, collection }`).
 * @param options - How to turn an item into an update, and the batching bounds.
 * @returns An operator emitting its input unchanged.
 * @public
 */
export function tapWrite<T>(target: MongoCollectionInput, options: TapWriteOptions<T>): OperatorFunction<T, T> {
  checkInput(target, 'tapWrite target');
  if (typeof options !== 'object' || options === null || typeof options.update !== 'function') {
    throw new InvalidArgumentError('tapWrite.update', 'must be a function from an item to an update');
  }
  const batchSize = options.batchSize ?? 500;
  const maxInFlight = options.maxInFlight ?? 2;
  const name = options.name ?? 'default';
  const retries = options.retries ?? 5;
  if (!Number.isSafeInteger(retries) || retries < 0) {
    throw new InvalidArgumentError('tapWrite.retries', `must be a non-negative integer, got ${retries}`);
  }
  if (!Number.isSafeInteger(batchSize) || batchSize < 1) {
    throw new InvalidArgumentError('tapWrite.batchSize', `must be a positive integer, got ${batchSize}`);
  }
  if (!Number.isSafeInteger(maxInFlight) || maxInFlight < 1) {
    throw new InvalidArgumentError('tapWrite.maxInFlight', `must be a positive integer, got ${maxInFlight}`);
  }
  if (!/^[A-Za-z0-9_-]+$/.test(name)) {
    throw new InvalidArgumentError('tapWrite.name', `'${name}' must be letters, digits, '_' or '-'`);
  }
  const marker = `rxfeed.writes.${name}`;
  return (source) =>
    operate<T, T>(source, (op) => {
      const { context } = op;
      const flow = context.flow;
      let opened: OpenedTarget | undefined;
      let buffered: AnyBulkWriteOperation<Document>[] = [];
      let inFlightOps = 0;
      const inFlight = new Map<Promise<void>, AnyBulkWriteOperation<Document>[]>();
      let failed = false;
      let sourceDone = false;
      const stage = op.register({
        name: 'tapWrite',
        capacity: batchSize * (maxInFlight + 1),
        occupancy: () => buffered.length + inFlightOps,
      });

      const fail = (error: unknown): void => {
        if (op.closed) return;
        failed = true;
        op.fail(error);
      };

      const send = (): void => {
        if (buffered.length === 0) return;
        const operations = buffered;
        buffered = [];
        try {
          opened ??= openTarget(target);
        } catch (error) {
          // A rejected connection string: the batch can never be written.
          fail(error);
          return;
        }
        inFlightOps += operations.length;
        const namespace = opened.namespace;
        const write = writeWithRetries(opened, operations, retries)
          .then(
            () => undefined,
            (error: unknown) => {
              throw new MongoWriteError(namespace, failedId(error, operations), error);
            },
          )
          .finally(() => {
            inFlightOps -= operations.length;
            inFlight.delete(write);
            stage.left(operations.length);
          });
        inFlight.set(write, operations);
        write.then(
          op.guard(() => {
            // After teardown nothing more is sent: the teardown flushed (or, after a failure,
            // dropped) what was buffered, and released the target once those writes settle.
            if (op.closed) return;
            if (sourceDone) completeWhenIdle();
            else pump();
          }),
          fail,
        );
      };

      /** Send full batches while there is room in flight. */
      const pump = (): void => {
        while (buffered.length >= batchSize && inFlight.size < maxInFlight) {
          const rest = buffered.splice(batchSize);
          send();
          buffered = rest;
        }
      };

      const completeWhenIdle = (): void => {
        if (op.closed) return;
        if (buffered.length > 0 && inFlight.size < maxInFlight) send();
        if (buffered.length === 0 && inFlight.size === 0) op.complete();
      };

      // Loader state: the updates not yet acknowledged, written again first by a resumed loader.
      const { tracker } = context;
      const key = tracker.keyFor('tapWrite', context.epoch);
      const [saved] = tracker.register(key, {
        save: () => ({ kind: 'tapWrite', pending: BSON.EJSON.serialize([...[...inFlight.values()].flat(), ...buffered]) }),
      });
      if (saved !== undefined) {
        buffered = restoredUpdates(saved, key, batchSize * (maxInFlight + 1));
        stage.entered(buffered.length);
        if (buffered.length > 0) send();
      }

      op.subscribe(source, {
        next: (item) => {
          let change: SampleUpdate | undefined;
          try {
            change = options.update(item);
          } catch (error) {
            fail(error); // as a failed write: what is buffered is not sent
            return;
          }
          if (change !== undefined) {
            // The epoch of this item: `epochs` upstream advances it as the items of each epoch pass.
            buffered.push(idempotentUpdate(change, marker, options.epoch ?? context.epoch));
            stage.entered();
            pump();
          }
          op.next(item);
        },
        error: fail,
        complete: () => {
          sourceDone = true;
          completeWhenIdle();
        },
      });

      op.finalize(() => {
        // Leaving early: what was buffered still gets written, and the release waits for all of it.
        if (!failed) {
          while (buffered.length > 0) {
            const rest = buffered.splice(batchSize);
            send();
            buffered = rest;
          }
        }
        const pending = [...inFlight.keys()];
        const held = opened;
        opened = undefined;
        if (pending.length === 0 && held === undefined) return;
        flow.trackRelease(Promise.allSettled(pending).then(() => held?.release()));
      });
    });
}

/** One unordered bulkWrite, again on a retryable failure (the marker makes a replay a no-op). */
async function writeWithRetries(opened: OpenedTarget, operations: AnyBulkWriteOperation<Document>[], retries: number): Promise<void> {
  let previous: unknown;
  for (let attempt = 1; ; attempt++) {
    try {
      await afterSelectionFailure(opened.collection, previous, () => opened.collection.bulkWrite(operations, { ordered: false }));
      return;
    } catch (error) {
      previous = error;
      if (attempt > retries || !isRetryable(error)) throw error;
      await sleep(Math.min(50 * 2 ** (attempt - 1), 2_000));
    }
  }
}

/** The update guarded by the epoch marker: a document already marked with this epoch is skipped. */
function idempotentUpdate(change: SampleUpdate, marker: string, epoch: number): AnyBulkWriteOperation<Document> {
  const update = { ...change.update } as Document;
  const set = (update.$set ?? {}) as Document;
  update.$set = { ...set, [marker]: epoch };
  return {
    updateOne: {
      filter: { _id: change.id, [marker]: { $not: { $gte: epoch } } } as Document,
      update,
    },
  };
}

function failedId(error: unknown, operations: readonly AnyBulkWriteOperation<Document>[]): unknown {
  if (error instanceof MongoBulkWriteError) {
    const first = error.writeErrors;
    const list = Array.isArray(first) ? first : [first];
    const index = list[0]?.index;
    if (typeof index === 'number') {
      const operation = operations[index];
      if (operation !== undefined && 'updateOne' in operation) return (operation.updateOne.filter as Document)._id;
    }
  }
  return undefined;
}

/** The updates a saved part held, checked: a list of `updateOne`s, at most `limit`. */
function restoredUpdates(saved: unknown, key: string, limit: number): AnyBulkWriteOperation<Document>[] {
  const part = saved as { kind?: unknown; pending?: unknown } | null;
  const invalid = (why: string): never => {
    throw new LoaderStateError('RXFEED_ERR_STATE_INVALID', `${key}: ${why}`, key);
  };
  if (typeof part !== 'object' || part === null || part.kind !== 'tapWrite') invalid("not a tapWrite's part");
  if (!Array.isArray(part!.pending) || part!.pending.length > limit) invalid(`pending is not a list of at most ${limit} updates`);
  let updates: unknown;
  try {
    updates = BSON.EJSON.deserialize(part!.pending as Document[]);
  } catch {
    invalid('pending is not Extended JSON');
  }
  for (const update of updates as unknown[]) {
    const one = (update as { updateOne?: { filter?: unknown; update?: unknown } } | null)?.updateOne;
    if (typeof one !== 'object' || one === null || typeof one.filter !== 'object' || typeof one.update !== 'object') {
      invalid('pending holds something other than updateOne operations');
    }
  }
  return updates as AnyBulkWriteOperation<Document>[];
}
