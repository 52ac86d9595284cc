/**
 * Error classes with stable codes.
 *
 * Every error rxfeed raises is an {@link RxfeedError} with a `code` from the one registry of codes
 * ({@link ERROR_CODES}, the union {@link RxfeedErrorCode}) that never changes between versions, so
 * callers branch on `error.code`, not on messages.
 *
 * Every class is branded with `Symbol.for('rxfeed.error.<ClassName>')`, as undici brands its own,
 * so `instanceof` works across two installed copies of rxfeed (a dependency bringing its own):
 * an error from either copy is an instance of the same-named class and its parents in the other.
 * The brand is set once, in {@link RxfeedError}, so a new class gets it by extending.
 *
 * @module
 */
import type { RxfeedErrorCode } from './errorCodes.js';
import { describe } from './excerpt.js';

export { ERROR_CODES, type RxfeedErrorCode } from './errorCodes.js';

// One global symbol per class name: the registry of `Symbol.for` is shared by every copy of rxfeed
// in the process, where the classes themselves are not.
const brands = new WeakMap<object, symbol>();

function brandOf(errorClass: abstract new (...args: never[]) => unknown): symbol {
  let brand = brands.get(errorClass);
  if (brand === undefined) {
    brand = Symbol.for(`rxfeed.error.${errorClass.name}`);
    brands.set(errorClass, brand);
  }
  return brand;
}

/**
 * Base class of every error rxfeed raises.
 *
 * `instanceof` tests the brand of the class, not its prototype, so it holds across installed copies;
 * the brand follows the class name, so a bundler that renames classes must keep the names of
 * rxfeed's error classes (esbuild `keepNames`, terser `keep_classnames`).
 * @public
 */
export class RxfeedError extends Error {
  /** A stable, machine-readable code such as `RXFEED_ERR_INVALID_ARG`: one of `ERROR_CODES` (exported by `rxfeed`). */
  readonly code: RxfeedErrorCode;

  /**
   * @param code - The error's code, one of {@link ERROR_CODES}.
   * @param message - What went wrong, naming the option, file, offset, object or document.
   * @param options - `cause`: the underlying error.
   */
  constructor(code: RxfeedErrorCode, message: string, options?: ErrorOptions) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
    // Brand each prototype of the chain once, the first time an instance of the class is made: a
    // subclass instance then carries its parents' brands and none of its siblings'.
    for (
      let prototype: object = new.target.prototype;
      prototype !== Error.prototype;
      prototype = Object.getPrototypeOf(prototype) as object
    ) {
      const brand = brandOf((prototype as { constructor: abstract new () => unknown }).constructor);
      if (Object.hasOwn(prototype, brand)) break;
      Object.defineProperty(prototype, brand, { value: true });
    }
  }

  /** Whether `value` is an instance of this class, made by any installed copy of rxfeed. */
  static override [Symbol.hasInstance](value: unknown): boolean {
    return typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[brandOf(this)] === true;
  }
}

/**
 * An option or argument is out of its documented range.
 * @public
 */
export class InvalidArgumentError extends RxfeedError {
  /** The option or argument that was wrong, e.g. `shard.rank`. */
  readonly argument: string;

  constructor(argument: string, message: string) {
    super('RXFEED_ERR_INVALID_ARG', `${argument}: ${message}`);
    this.argument = argument;
  }
}

/**
 * An operator needs the dataset size (e.g. `padToBatch`, contiguous `shard`) and none is known.
 * @public
 */
export class UnknownSizeError extends RxfeedError {
  constructor(operator: string) {
    super(
      'RXFEED_ERR_UNKNOWN_SIZE',
      `${operator} needs the dataset size, and none is known here: pass \`size\`, or read a source ` +
        'that knows its size (see sizeOf). Sizes reach it through rxfeed operators and plain ones ' +
        'such as map; a filter or mergeMap in between changes the count, so give `size` after one.',
    );
  }
}

/**
 * File-level sharding was asked for with fewer files than rank x worker slots.
 * @public
 */
export class TooFewShardsError extends RxfeedError {
  constructor(files: number, slots: number) {
    super(
      'RXFEED_ERR_TOO_FEW_SHARDS',
      `shard: ${files} file(s) cannot be split over ${slots} rank x worker slot(s); some slots ` +
        "would get nothing. Use mode 'element', fewer workers, or more shards.",
    );
  }
}

/**
 * A batch could not be collated: ragged shapes, mixed types or a missing key under policy 'error'.
 * @public
 */
export class CollateError extends RxfeedError {
  /** Path of the offending field inside the sample, e.g. `image.shape` or `labels[2]`. */
  readonly path: string;

  constructor(path: string, message: string) {
    super('RXFEED_ERR_COLLATE', `collate ${path === '' ? '(sample)' : `'${path}'`}: ${message}`);
    this.path = path;
  }
}

/**
 * A task run by `parallelMap` failed; `cause` holds the task's own error. A task on a worker
 * thread fails with the subclass `WorkerTaskError` (`rxfeed/workers`), which names the task and
 * keeps its error's own code.
 * @public
 */
export class TaskError extends RxfeedError {
  /** Position of the failing item in the operator's input (0-based). */
  readonly index: number;

  /**
   * @param index - Position of the failing item.
   * @param cause - The task's own error.
   * @param code - A narrower code for a subclass; default `RXFEED_ERR_TASK`.
   * @param message - A subclass's own message; default `task failed on item <index>: <cause's message>`.
   */
  constructor(index: number, cause: unknown, code: RxfeedErrorCode = 'RXFEED_ERR_TASK', message?: string) {
    super(code, message ?? `task failed on item ${index}: ${reasonOf(cause)}`, { cause });
    this.index = index;
  }
}

/** What a task threw, for a message: its `String()` (a task may throw anything), or a description when that throws. */
function reasonOf(cause: unknown): string {
  if (cause instanceof Error) return cause.message;
  try {
    return String(cause);
  } catch {
    return describe(cause);
  }
}

/**
 * A loader was aborted through its `AbortSignal`; `cause` holds the signal's reason.
 * @public
 */
export class AbortedError extends RxfeedError {
  constructor(cause: unknown) {
    super('RXFEED_ERR_ABORTED', 'the loader was aborted', { cause });
  }
}

/**
 * A look at the first item found none: the pipeline completed without one (`oneBatch`,
 * `Loader.oneBatch`). An empty split, a filter that drops everything, `take(0)`, a shard of a rank
 * that has no samples.
 * @public
 */
export class EmptyPipelineError extends RxfeedError {
  /** The epoch that was read. */
  readonly epoch: number;

  /**
   * @param caller - The function that looked, for the message (`oneBatch`, `Loader.oneBatch`).
   * @param epoch - The epoch that was read.
   */
  constructor(caller: string, epoch: number) {
    super('RXFEED_ERR_EMPTY_LOADER', `${caller}: epoch ${epoch} of the pipeline yields no item`);
    this.epoch = epoch;
  }
}
