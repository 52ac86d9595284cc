import { Observable, type OperatorFunction } from 'rxjs';
import type { PaddedBatch } from '../src/tensor.js';
import { currentContext, subscribeWithin } from '../src/context.js';
import { resolvePlacement } from '../src/distributed.js';
import { disposeAll } from '../src/dispose.js';
import { InvalidArgumentError, RxfeedError, UnknownSizeError } from '../src/errors.js';
import { infoOf, withInfo } from '../src/info.js';

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
        `receive (${detail}); the size given or recorded for the dataset is wrong`,
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
   * The global index of a real row. Default: `item.index` when the item is an object with a
   * numeric `index`, else the item itself when it is a number, else `position`: the row's
   * position among the samples THIS rank received (0-based), which is not global across ranks.
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
 * With none of these it throws {@link UnknownSizeError} as soon as it is applied to its input.
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
 * @example
 * ```ts
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
export function padToBatch<T>(
  batchSize: number,
  options: PadToBatchOptions<T> = {},
): OperatorFunction<T, PaddedBatch<T>> {
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
  const indexOf = options.indexOf ?? defaultIndexOf;

  return (source) => {
    const { maxRankSize, detail } = maxRankSizeOf(source, size, worldSize);
    const batches = Math.ceil(maxRankSize / batchSize);
    const padded = new Observable<PaddedBatch<T>>((subscriber) => {
      const context = currentContext();
      let rows: T[] = [];
      let index = new Float64Array(batchSize);
      let received = 0;
      let emitted = 0;
      let template: { row: T } | undefined; // the rank's first row
      let cancelPark: (() => void) | undefined;

      const padRow = (batchTemplate: { row: T } | undefined): T => {
        const base = batchTemplate ?? template;
        if (base === undefined) {
          if (fill === undefined) throw new NoPadTemplateError(batches - emitted);
          return fill();
        }
        return fill === undefined ? base.row : fill(base.row);
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
        rows = [];
        index = new Float64Array(batchSize);
        emitted++;
        subscriber.next(out);
      };

      /** At the end: the partial batch, then the all-pad batches this rank still owes. */
      const drain = (): void => {
        cancelPark = undefined;
        try {
          if (rows.length > 0) emitBatch();
          while (emitted < batches && !subscriber.closed) {
            // Owed batches are produced here, not pulled: respect the gauge as a source would.
            if (context.flow.saturated()) {
              cancelPark = context.flow.whenReady(drain);
              return;
            }
            emitBatch();
          }
        } catch (error) {
          subscriber.error(error);
          return;
        }
        subscriber.complete();
      };

      const upstream = subscribeWithin(
        context,
        source,
        {
          next: (item) => {
            if (received >= maxRankSize) {
              disposeAll([item]);
              subscriber.error(new SizeMismatchError('padToBatch', received + 1, maxRankSize, detail));
              return;
            }
            let at: number;
            try {
              at = indexOf(item, received);
            } catch (error) {
              disposeAll([item]);
              subscriber.error(error);
              return;
            }
            received++;
            template ??= { row: item };
            index[rows.length] = at;
            rows.push(item);
            if (rows.length === batchSize) emitBatch(); // a full batch: no pad rows, nothing can throw
          },
          error: (error: unknown) => subscriber.error(error),
          complete: drain,
        },
        subscriber,
      );
      return () => {
        upstream.unsubscribe();
        cancelPark?.();
        const dropped = rows;
        rows = [];
        disposeAll(dropped);
      };
    });
    return withInfo(padded, { size: batches });
  };
}

function defaultIndexOf(item: unknown, position: number): number {
  if (typeof item === 'number') return item;
  if (typeof item === 'object' && item !== null && typeof (item as { index?: unknown }).index === 'number') {
    return (item as { index: number }).index;
  }
  return position;
}

/** The most samples any rank receives, and how it was found (for error messages). */
function maxRankSizeOf(
  source: Observable<unknown>,
  size: number | undefined,
  worldSizeOption: number | undefined,
): { maxRankSize: number; detail: string } {
  const { split, size: ownSize } = infoOf(source);
  if (split !== undefined) {
    if (size !== undefined && size !== split.globalSize) {
      throw new InvalidArgumentError(
        'padToBatch.size',
        `${size} contradicts the dataset size ${split.globalSize} recorded by shard`,
      );
    }
    if (worldSizeOption !== undefined && worldSizeOption !== split.worldSize) {
      throw new InvalidArgumentError(
        'padToBatch.worldSize',
        `${worldSizeOption} contradicts the world size ${split.worldSize} recorded by shard`,
      );
    }
    return {
      maxRankSize: split.maxRankSize,
      detail: `split by shard: ${split.globalSize} samples over ${split.worldSize} rank(s)`,
    };
  }
  const worldSize = worldSizeOption ?? resolvePlacement({}, 'padToBatch').worldSize;
  if (size !== undefined) {
    return {
      maxRankSize: Math.ceil(size / worldSize),
      detail: `size ${size} over ${worldSize} rank(s)`,
    };
  }
  if (worldSize === 1 && ownSize !== undefined) {
    return { maxRankSize: ownSize, detail: `the input's size ${ownSize} on a single rank` };
  }
  throw new UnknownSizeError('padToBatch');
}
