/**
 * Error classes with stable codes.
 *
 * Every error rxfeed raises is an {@link RxfeedError} with a `code` that never changes between
 * versions (`RXFEED_ERR_*`), so callers branch on `error.code`, not on messages. The classes are
 * branded with `Symbol.for` so `instanceof` works across duplicate installs of the package, as
 * undici does.
 *
 * @module
 */

const brand = Symbol.for('rxfeed.error');

/**
 * Base class of every error rxfeed raises.
 * @public
 */
export class RxfeedError extends Error {
  /** A stable, machine-readable code such as `RXFEED_ERR_INVALID_ARG`. */
  readonly code: string;

  constructor(code: string, message: string, options?: ErrorOptions) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
    Object.defineProperty(this, brand, { value: true });
  }

  static override [Symbol.hasInstance](value: unknown): boolean {
    if (typeof value !== 'object' || value === null || !(brand in value)) return false;
    // Subclasses keep the ordinary prototype check, so `instanceof CorruptRecordError` stays precise.
    return this === RxfeedError || Function.prototype[Symbol.hasInstance].call(this, value);
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
      `${operator} needs the dataset size, and none is known here: pass \`size\`, or apply it ` +
        'directly after a source or rxfeed operator that knows its size (see sizeOf).',
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
 * A task run by `parallelMap` failed; `cause` holds the task's own error.
 * @public
 */
export class TaskError extends RxfeedError {
  /** Position of the failing item in the operator's input (0-based). */
  readonly index: number;

  constructor(index: number, cause: unknown) {
    const reason = cause instanceof Error ? cause.message : String(cause);
    super('RXFEED_ERR_TASK', `task failed on item ${index}: ${reason}`, { cause });
    this.index = index;
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
