import type { OperatorFunction } from 'rxjs';
import type { PaddedBatch } from '../src/tensor.js';
import { resolvePlacement } from '../src/distributed.js';
import { disposeAll } from '../src/dispose.js';
import { InvalidArgumentError, RxfeedError, UnknownSizeError } from '../src/errors.js';
import { infoOf, streamInfoOf, type SplitInfo, type StreamInfo } from '../src/info.js';
import { operate } from '../src/operate.js';
import { checkConsumed, CountLedger } from '../src/ledger.js';
import { EmittedLog } from '../src/emittedLog.js';
import { describe } from '../src/excerpt.js';
import { LoaderStateError } from '../src/loaderState.js';
import { appendOrigins, OriginList, type Origins } from '../src/origins.js';

/**
 * A rank received more samples than the dataset size said any rank would, so padding it to the
 * agreed batch count would emit a wrong number of batches.
 * @public
 */
export class SizeMismatchError extends RxfeedError {
  /** Samples this rank had received when the mismatch was seen. */
  readonly received: number;
  /** The most samples any rank should receive. */
  readonly expected: number;

  constructor(where: string, received: number, expected: number, detail: string) {
    super(
      'RXFEED_ERR_SIZE_MISMATCH',
      `${where}: this rank received ${received} samples, more than the ${expected} any rank should ` +
        `receive (${detail}); the size given or recorded for the dataset is wrong, or a plain operator ` +
        'between shard and padToBatch (mergeMap, say) emits more items than it receives',
    );
    this.received = received;
    this.expected = expected;
  }
}

/**
 * `padToBatch` owes a rank padded batches but has no row to repeat and no `fill` to make one.
 * @public
 */
export class NoPadTemplateError extends RxfeedError {
  constructor(batches: number) {
    super(
      'RXFEED_ERR_NO_PAD_TEMPLATE',
      `padToBatch: this rank received no sample but owes ${batches} padded batch(es), and no \`fill\` ` +
        'was given to make a pad row without a template',
    );
  }
}

/** Options of {@link padToBatch}. */
export interface PadToBatchOptions<T> {
  /**
   * Number of ranks; default from `WORLD_SIZE` (as torchrun sets it), else 1. Used with `size` when
   * the input carries no split recorded by `shard`.
   */
  readonly worldSize?: number;
  /**
   * The GLOBAL dataset size (before sharding). Needed when the input carries no split from `shard`;
   * then every rank is assumed to get at most `ceil(size / worldSize)` samples, which holds for both
   * contiguous and strided splits by rank.
   */
  readonly size?: number;
  /**
   * The global index of a real row, given the row and its position among the samples THIS rank
   * received (0-based). Default: after `shard`, the index its split gives the row whatever the
   * row is (`start + position` for a contiguous range, `rank + position * worldSize` for a
   * strided split); with no split, `item.index` when the item is an object with a numeric
   * `index`, else the item itself when it is a number, else `position`.
   */
  readonly indexOf?: (item: T, position: number) => number;
  /**
   * Makes a pad row. Called with the first real row of the batch (or, for a batch with none, of
   * the rank) as its template, or with no template when the rank received no sample at all.
   * Without `fill`, pad rows are the template itself (the same object, not a copy).
   */
  readonly fill?: (template?: T) => T;
}

/**
 * For evaluation: make every rank emit the same number of full batches, marking pad rows.
 *
 * Every rank emits exactly `ceil(maxRankSize / batchSize)` batches of exactly `batchSize` rows,
 * where `maxRankSize` is the most samples any rank receives. Real rows come first, with `mask` 1
 * and their global `index`; the last batches are filled with pad rows (`mask` 0, `index` -1). A
 * metric summed over ranks with the mask as weight thus counts every real sample exactly once,
 * while every rank runs the same number of steps (so collective operations do not hang).
 *
 * Where `maxRankSize` comes from, in order:
 * 1. the split `shard` records on its output (`infoOf(source).split`);
 * 2. `size` (the global dataset size N) and `worldSize`: `ceil(N / worldSize)`;
 * 3. with `worldSize` 1, the input's own size, when known.
 * The split and sizes are what the input recorded when piped or, when it is subscribed, what the
 * nearest rxfeed stage upstream announces, so plain RxJS operators such as `map` may sit between
 * `shard` and `padToBatch`. One that drops items (`filter`) leaves the batch count right (every rank
 * still emits the same number) but shifts the global indices of the rows after a dropped one; one
 * that adds items (`mergeMap`) fails with {@link SizeMismatchError}.
 * With none of these the stream fails with {@link UnknownSizeError} when it is subscribed.
 *
 * If a rank receives more than `maxRankSize` samples, the stream fails with a
 * {@link SizeMismatchError} at the first sample too many, before any batch with a wrong count is
 * emitted. If a rank receives no sample at all but owes batches, pad rows come from `fill()`; without
 * `fill` the stream fails with a {@link NoPadTemplateError}.
 *
 * Memory: the batch being built is an absorbing buffer of at most `batchSize - 1` rows, plus a
 * reference to the rank's first row (the template for all-pad batches). On teardown the rows of the
 * batch being built are disposed (see `disposeItem`). All-pad batches owed at the end are emitted
 * only while no stage downstream is full.
 *
 * Size: the output's size is the number of batches.
 *
 * Loader state: the all-pad batches a rank received are saved with its state, so a rank resumed
 * on the same plan emits only the batches it still owes and runs the same steps as the others. A
 * rank resumed with none of its real rows left has no template: give `fill`.
 *
 * @example
 * ```ts
 * import { collate, fromItems, padToBatch, shard } from 'rxfeed';
 * declare const validation: { image: Float32Array; label: number }[];
 * const evaluation = fromItems(validation).pipe(
 *   shard(),                          // records the split
 *   padToBatch(64),
 *   collate(),                        // { rows, mask, index }
 * );
 * ```
 *
 * @param batchSize - Rows per batch, a positive integer.
 * @param options - See {@link PadToBatchOptions}.
 * @returns An operator emitting {@link PaddedBatch}es.
 * @throws {@link InvalidArgumentError} when `batchSize`, `size` or `worldSize` is out of range or
 * contradicts the recorded split; {@link UnknownSizeError} when no size is known.
 * @public
 */
export function padToBatch<T>(batchSize: number, options: PadToBatchOptions<T> = {}): OperatorFunction<T, PaddedBatch<T>> {
  if (!Number.isSafeInteger(batchSize) || batchSize < 1) {
    throw new InvalidArgumentError('padToBatch.batchSize', `must be a positive integer, got ${String(batchSize)}`);
  }
  const { size, worldSize, fill } = options;
  if (size !== undefined && !(Number.isSafeInteger(size) && size >= 0)) {
    throw new InvalidArgumentError('padToBatch.size', `must be a non-negative integer, got ${String(size)}`);
  }
  if (worldSize !== undefined && !(Number.isSafeInteger(worldSize) && worldSize >= 1)) {
    throw new InvalidArgumentError('padToBatch.worldSize', `must be a positive integer, got ${String(worldSize)}`);
  }
  const { indexOf } = options;

  /** The plan for an input described by `input`, on a rank of `worldSize` (when the input has no split). */
  const planFor = (input: StreamInfo, defaultWorldSize: () => number): Plan => {
    const plan = planOf(input, size, worldSize, defaultWorldSize);
    return { ...plan, batches: Math.ceil(plan.maxRankSize / batchSize) };
  };

  return (source) => {
    // At pipe time, from what the input recorded: a contradiction fails here, at once. An input
    // whose size is known only when it is subscribed (after a plain `map`, say) is planned then.
    let piped: Plan | undefined;
    try {
      piped = planFor(streamInfoOf(infoOf(source)), () => resolvePlacement({}, 'padToBatch').worldSize);
    } catch (error) {
      // Only a contradiction with the recorded split is the caller's at pipe time; an unknown size
      // or a bad RANK/WORLD_SIZE is reported when the stream is subscribed.
      const contradiction = error instanceof InvalidArgumentError && ['padToBatch.size', 'padToBatch.worldSize'].includes(error.argument);
      if (contradiction) throw error;
    }
    return operate<T, PaddedBatch<T>>(
      source,
      (op) => {
        let plan: Plan | undefined;
        let rows: T[] = [];
        // The rows' origins (see Loader.state); pad rows have none. Undefined once a row had none.
        let rowOrigins: OriginList | undefined = new OriginList();
        let index = new Float64Array(batchSize);
        let received = 0;
        let emitted = 0;
        let template: { row: T } | undefined; // the rank's first row

        const planHere = (input: StreamInfo): Plan => planFor(input, () => op.context.placement({}, 'padToBatch').worldSize);
        // Planned from what the upstream announced when it was subscribed, before its first item;
        // planned again here only to raise the error an announcement could not be planned with.
        const planned = (): Plan => (plan ??= planHere(op.input));

        const padRow = (batchTemplate: { row: T } | undefined): T => {
          const base = batchTemplate ?? template;
          if (base === undefined) {
            if (fill === undefined) throw new NoPadTemplateError(planned().batches - emitted);
            return fill();
          }
          return fill === undefined ? base.row : fill(base.row);
        };

        // Loader state: the all-pad batches owed at the end carry no sample, so no source counts
        // them; this ledger does, or a rank resumed after one would emit it again and run one step
        // more than the others. A resume on the same plan (rank, world size, batch size) skips
        // those received; another plan owes its own. It is registered when the rank's real rows
        // have all arrived, as its plan is known then.
        const { tracker } = op.context;
        const key = tracker.keyFor('padToBatch', op.context.epoch);
        let pads: { ledger: CountLedger; before: number; emitted: number } | undefined;
        const padLedger = (): { ledger: CountLedger; before: number; emitted: number } => {
          if (pads !== undefined) return pads;
          const split = planned().split;
          const { worldSize, rank } = split ?? op.context.placement({}, 'padToBatch');
          const descriptor = { kind: 'padBatches', worldSize, rank, batchSize };
          let before = 0;
          for (const saved of tracker.restored(key)) {
            const part = saved as Record<string, unknown> | null;
            if (part?.kind !== 'padBatches' || part.batchSize !== batchSize || part.worldSize !== worldSize || part.rank !== rank) continue;
            const received = checkConsumed(part.consumed, Number.MAX_SAFE_INTEGER, `${key}.consumed`);
            before = received.watermark + received.extras.length;
          }
          pads = { ledger: new CountLedger(key, descriptor, { watermark: before, extras: [] }), before, emitted: 0 };
          tracker.register(key, pads.ledger);
          return pads;
        };

        // Loader state: the rows received before the first one the consumer has not (the rows of its
        // batches in arrival order), so a rank resumed over a split that counts from the start (a
        // strided shard of a streaming source) continues its count: row indices and the batches it
        // owes. A resumed `fromRandomAccess` announces what is left instead (`split.remainder`).
        const rowsKey = tracker.keyFor('padToBatchRows', op.context.epoch);
        const rowLog = new EmittedLog();
        const savedRows = restoredRows(tracker.restored(rowsKey), rowsKey);
        tracker.register(rowsKey, {
          save: () => {
            rowLog.prune();
            return { kind: 'padToBatchRows', received: rowLog.passed };
          },
        });
        let restoredApplied = false;
        /** Continue the saved count, once the plan is known, unless the split counts what is left. */
        const continueRows = (current: Plan): void => {
          if (restoredApplied) return;
          restoredApplied = true;
          if (savedRows === 0 || current.split?.remainder === true) return;
          received = savedRows;
          rowLog.passed = savedRows;
          emitted = Math.ceil(savedRows / batchSize);
        };

        /** Emit the rows gathered so far, topped up with pad rows to a full batch. */
        const emitBatch = (): void => {
          const real = rows.length;
          const batchTemplate = real > 0 ? { row: rows[0] } : undefined;
          const mask = new Uint8Array(batchSize);
          mask.fill(1, 0, real);
          // Pads are made before touching `rows`: if `fill` throws, teardown disposes real rows only.
          const pads: T[] = [];
          for (let k = real; k < batchSize; k++) pads.push(padRow(batchTemplate));
          index.fill(-1, real);
          rows.push(...pads);
          const out: PaddedBatch<T> = { rows, mask, index };
          let origins: Origins = rowOrigins;
          if (real === 0) {
            const pad = padLedger();
            origins = { ledger: pad.ledger, seq: pad.before + pad.emitted++ };
          }
          rows = [];
          rowOrigins = new OriginList();
          index = new Float64Array(batchSize);
          emitted++;
          op.emit(out, origins);
        };

        /** At the end: the partial batch, then the all-pad batches this rank still owes. */
        const drain = op.pump(() => {
          continueRows(planned());
          if (rows.length > 0) emitBatch();
          padLedger();
          // Owed batches are produced here, not pulled: the gauge is respected as a source would.
          while (emitted < planned().batches - padLedger().before) {
            if (!drain.ready()) return;
            emitBatch();
          }
          op.complete();
        });

        op.subscribe(
          source,
          {
            next: (item) => {
              const current = plan ?? planned();
              continueRows(current);
              if (received >= current.maxRankSize) {
                disposeAll([item]);
                throw new SizeMismatchError('padToBatch', received + 1, current.maxRankSize, current.detail);
              }
              let at: number;
              try {
                at = indexOf !== undefined ? indexOf(item, received) : globalIndex(item, received, current.split);
              } catch (error) {
                disposeAll([item]);
                throw error;
              }
              received++;
              const itsOrigins = op.takeOrigins('padToBatch');
              if (rowOrigins !== undefined && !appendOrigins(rowOrigins, itsOrigins)) rowOrigins = undefined;
              rowLog.push(itsOrigins);
              rowLog.prune();
              template ??= { row: item };
              index[rows.length] = at;
              rows.push(item);
              if (rows.length === batchSize) emitBatch(); // a full batch: no pad rows, nothing can throw
            },
            complete: drain.run,
          },
          {
            describe: (input) => {
              plan = undefined;
              try {
                plan = planHere(input);
                return { size: plan.batches };
              } catch {
                return {}; // reported when the stream needs the plan
              }
            },
          },
        );
        // Nothing announced a size and none was given: say so now rather than at the first item.
        if (!op.closed) planned();
        op.finalize(() => {
          const dropped = rows;
          rows = [];
          disposeAll(dropped);
        });
      },
      () => ({ size: piped?.batches }),
    );
  };
}

/** How many batches a rank owes and how its rows get their global index. */
interface Plan {
  /** The most samples any rank receives. */
  readonly maxRankSize: number;
  /** How `maxRankSize` was found, for error messages. */
  readonly detail: string;
  /** The split recorded by `shard`, which gives global indices. */
  readonly split: SplitInfo | undefined;
  readonly batches: number;
}

/**
 * The global index of the row at `position` of this rank's stream: from the split `shard`
 * recorded, whatever the row is; without one, the row's own `index`, the row itself when it is a
 * number, or else its position.
 */
function globalIndex(item: unknown, position: number, split: SplitInfo | undefined): number {
  if (split?.indexAt !== undefined) return split.indexAt(position);
  if (split !== undefined) return split.firstIndex + position * split.stride;
  if (typeof item === 'number') return item;
  if (typeof item === 'object' && item !== null && typeof (item as { index?: unknown }).index === 'number') {
    return (item as { index: number }).index;
  }
  return position;
}

/** The most samples any rank receives, and how it was found (for error messages). */
function planOf(
  input: StreamInfo,
  size: number | undefined,
  worldSizeOption: number | undefined,
  defaultWorldSize: () => number,
): Omit<Plan, 'batches'> {
  const { split, size: ownSize } = input;
  if (split !== undefined) {
    if (size !== undefined && split.globalSize !== undefined && size !== split.globalSize) {
      throw new InvalidArgumentError('padToBatch.size', `${size} contradicts the dataset size ${split.globalSize} recorded by shard`);
    }
    if (worldSizeOption !== undefined && worldSizeOption !== split.worldSize) {
      throw new InvalidArgumentError(
        'padToBatch.worldSize',
        `${worldSizeOption} contradicts the world size ${split.worldSize} recorded by shard`,
      );
    }
    const globalSize = split.globalSize ?? size;
    if (split.maxRankSize !== undefined || globalSize !== undefined) {
      return {
        maxRankSize: split.maxRankSize ?? Math.ceil(globalSize! / split.worldSize),
        detail: `split by shard: ${globalSize} samples over ${split.worldSize} rank(s)`,
        split,
      };
    }
    throw new UnknownSizeError('padToBatch');
  }
  const worldSize = worldSizeOption ?? defaultWorldSize();
  if (size !== undefined) {
    return { maxRankSize: Math.ceil(size / worldSize), detail: `size ${size} over ${worldSize} rank(s)`, split };
  }
  if (worldSize === 1 && ownSize !== undefined) {
    return { maxRankSize: ownSize, detail: `the input's size ${ownSize} on a single rank`, split };
  }
  throw new UnknownSizeError('padToBatch');
}

/** The rows a saved `padToBatch` part counted as received (0 when none was saved), checked. */
function restoredRows(saved: readonly unknown[], key: string): number {
  if (saved.length === 0) return 0;
  const part = saved[0] as { kind?: unknown; received?: unknown } | null;
  if (
    typeof part !== 'object' ||
    part === null ||
    part.kind !== 'padToBatchRows' ||
    !Number.isSafeInteger(part.received) ||
    (part.received as number) < 0
  ) {
    throw new LoaderStateError('RXFEED_ERR_STATE_INVALID', `${key}: expected a padToBatch's row count, got ${describe(saved[0])}`, key);
  }
  return part.received as number;
}
