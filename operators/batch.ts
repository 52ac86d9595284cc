import type { OperatorFunction } from 'rxjs';
import { disposeAll } from '../src/dispose.js';
import { InvalidArgumentError } from '../src/errors.js';
import type { StreamInfo } from '../src/info.js';
import { operate } from '../src/operate.js';
import { consumeOrigins, OriginList } from '../src/origins.js';

/** The largest batch made at its full size; V8 makes arrays made larger than 100,000 dictionaries. */
const PRESIZED_BATCH_MAX = 16_384;

/** Options of {@link batch}. */
export interface BatchOptions {
  /**
   * Drop the last batch when it has fewer than `size` items (default `false`: emit it short).
   * Dropped items are disposed (see `disposeItem`), as items dropped on teardown are.
   */
  readonly dropRemainder?: boolean;
}

/**
 * Group consecutive items into arrays of `size`.
 *
 * Every batch but the last has exactly `size` items; the last has the rest, or is dropped with
 * `dropRemainder`. Collate the arrays into typed arrays with `collate`.
 *
 * Memory: the partial batch is an absorbing buffer of at most `size - 1` items (a full batch is
 * emitted at once, inside the call that delivered its last item). On teardown (a `break`,
 * `take(n)`, an error) the items of the partial batch are disposed.
 *
 * Size: when the input's size `n` is known, the output's is `ceil(n / size)`, or `floor(n / size)`
 * with `dropRemainder`.
 *
 * @example
 * ```ts
 * import { batch, fromItems } from 'rxfeed';
 * fromItems([1, 2, 3, 4, 5]).pipe(batch(2)); // [1, 2], [3, 4], [5]
 * fromItems([1, 2, 3, 4, 5]).pipe(batch(2, { dropRemainder: true })); // [1, 2], [3, 4]
 * ```
 *
 * @param size - Items per batch, a positive integer.
 * @param options - See {@link BatchOptions}.
 * @returns An operator emitting arrays of items.
 * @throws {@link InvalidArgumentError} when `size` is not a positive integer.
 * @public
 */
export function batch<T>(size: number, options: BatchOptions = {}): OperatorFunction<T, T[]> {
  if (!Number.isSafeInteger(size) || size < 1) {
    throw new InvalidArgumentError('batch.size', `must be a positive integer, got ${String(size)}`);
  }
  const dropRemainder = options.dropRemainder ?? false;
  return (source) =>
    operate<T, T[]>(
      source,
      (op) => {
        // Each batch is made at its full size and filled by index, not grown by push (each
        // growth copies it); up to a bound, as V8 makes a very large one a slow dictionary.
        const fresh = (): T[] => (size <= PRESIZED_BATCH_MAX ? new Array<T>(size) : []);
        let partial = fresh();
        let filled = 0;
        // The batch's items' origins (see Loader.state); undefined once one had none.
        let origins: OriginList | undefined = new OriginList();
        op.subscribe(source, {
          next: (item) => {
            if (origins === undefined) op.takeOrigins('batch');
            else if (!op.takeOriginsInto(origins, 'batch')) origins = undefined;
            partial[filled++] = item;
            if (filled < size) return;
            const full = partial;
            const fullOrigins = origins;
            partial = fresh();
            filled = 0;
            origins = new OriginList();
            op.emit(full, fullOrigins);
          },
          complete: () => {
            const rest = partial;
            rest.length = filled;
            partial = [];
            filled = 0;
            if (rest.length > 0) {
              // A dropped remainder's items count as consumed: a resume does not read them again.
              if (dropRemainder) {
                disposeAll(rest);
                consumeOrigins(origins);
              } else {
                op.emit(rest, origins);
              }
            }
            op.complete();
          },
        });
        op.finalize(() => disposeAll(partial.splice(0, filled)));
      },
      (input) => batchedInfo(input, size, dropRemainder),
    );
}

/**
 * What batching a stream described by `input` gives: `ceil(n / size)` batches, or
 * `floor(n / size)` with `dropRemainder`. Used by `hooks` too.
 * @internal
 */
export function batchedInfo(input: StreamInfo, size: number, dropRemainder: boolean): StreamInfo {
  const count = input.size;
  if (count === undefined) return {};
  return { size: dropRemainder ? Math.floor(count / size) : Math.ceil(count / size) };
}
