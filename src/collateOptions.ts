/**
 * Collate's options: their types, and their validation once per `collate(options)` call into the
 * {@link Settings} the collation reads, so collating a batch does no option checks.
 *
 * @module
 */
import { InvalidArgumentError } from './errors.js';
import { isDType, type DType, type NumericDType } from './tensor.js';

/**
 * What to do when the first inner dimension of a leaf differs between samples: `'error'` throws a
 * {@link CollateError} naming both samples, `'pad'` pads to the batch maximum and sets `lengths`.
 * @public
 */
export type RaggedPolicy = 'error' | 'pad';

/**
 * What to do when a field is `undefined`, `null` or absent in some samples of a batch.
 *
 * - `'error'`: throw a {@link CollateError} naming the field and the sample position.
 * - `'zero'`: fill zeros of the dtype and shape the other samples have (AIStore's ZeroDict); an
 *   empty string for strings, an empty `Uint8Array` for bytes.
 * - `'mask'`: as `'zero'`, and every leaf under that policy carries `mask` (1 = present).
 * - `'skip'`: drop the samples that miss the field, so the batch shrinks (a `PaddedBatch` keeps its
 *   `mask` and `index` aligned with the rows that remain).
 * @public
 */
export type MissingPolicy = 'error' | 'zero' | 'mask' | 'skip';

/**
 * Options for one field (and everything below it) in {@link CollateOptions.keys}.
 * @public
 */
export interface FieldCollateOptions {
  /**
   * Output dtype. Numeric leaves are converted (booleans as 0/1, fractions truncated only where the
   * target type truncates); `'bytes'` keeps `Uint8Array` leaves as a list; `'string'` only accepts
   * strings.
   */
  readonly dtype?: DType;
  /** Overrides {@link CollateOptions.ragged} here. */
  readonly ragged?: RaggedPolicy;
  /** Overrides {@link CollateOptions.missing} here. */
  readonly missing?: MissingPolicy;
}

/**
 * Options of {@link collateBatch} and the `collate` operator.
 * @public
 */
export interface CollateOptions {
  /**
   * Dtype for JS numbers. By default a leaf is `'int32'` when every value in the batch is an int32
   * integer and `'float64'` otherwise, which can differ from batch to batch: set this for a stable
   * dtype.
   */
  readonly numberDtype?: NumericDType;
  /**
   * `Uint8Array` leaves: `'stack'` (default) stacks them as a `'uint8'` tensor `[B, length]` (ragged
   * lengths follow {@link CollateOptions.ragged}); `'list'` keeps them as a `'bytes'` tensor `[B]`
   * holding the same `Uint8Array`s, not copied, whatever their lengths.
   */
  readonly bytes?: 'stack' | 'list';
  /** Default `'error'`; see {@link RaggedPolicy}. */
  readonly ragged?: RaggedPolicy;
  /** Value written into padding under `ragged: 'pad'` (default 0; strings pad with `''`). */
  readonly padValue?: number;
  /** Default `'error'`; see {@link MissingPolicy}. */
  readonly missing?: MissingPolicy;
  /**
   * Per-field overrides, by path: `'image'`, `'meta.lang'`, `'pair[1]'` (tuple position). An
   * entry applies to the field and everything below it; a deeper entry wins.
   */
  readonly keys?: Readonly<Record<string, FieldCollateOptions>>;
}

/**
 * The policy in force at one path.
 * @internal
 */
export interface Policy {
  readonly dtype: DType | undefined;
  readonly ragged: RaggedPolicy;
  readonly missing: MissingPolicy;
}

/**
 * Options resolved once per `collate(...)` call.
 * @internal
 */
export interface Settings {
  readonly numberDtype: NumericDType | undefined;
  readonly bytes: 'stack' | 'list';
  readonly padValue: number;
  readonly keys: ReadonlyMap<string, FieldCollateOptions>;
  readonly root: Policy;
  /** Whether any policy is 'skip', so the skip pre-pass is needed. */
  readonly anySkip: boolean;
}

/** An option value as an error message shows it. */
const shown = (value: unknown): string => (typeof value === 'string' ? `'${value}'` : (JSON.stringify(value) ?? typeof value));

function checkDtype(where: string, dtype: unknown, numeric: boolean): void {
  if (dtype === undefined) return;
  if (!isDType(dtype) || (numeric && (dtype === 'string' || dtype === 'bytes'))) {
    throw new InvalidArgumentError(where, `unknown ${numeric ? 'numeric ' : ''}dtype ${shown(dtype)}`);
  }
}

function checkChoice(where: string, value: unknown, choices: readonly string[]): void {
  if (value !== undefined && !choices.includes(value as string)) {
    throw new InvalidArgumentError(where, `must be one of ${choices.map((c) => `'${c}'`).join(', ')}, got ${shown(value)}`);
  }
}

const RAGGED: readonly RaggedPolicy[] = ['error', 'pad'];
const MISSING: readonly MissingPolicy[] = ['error', 'zero', 'mask', 'skip'];

/**
 * Validate `options` once, so collating each batch does no option checks.
 * @internal
 */
export function resolveCollateOptions(options: CollateOptions = {}): Settings {
  checkDtype('collate.numberDtype', options.numberDtype, true);
  checkChoice('collate.bytes', options.bytes, ['stack', 'list']);
  checkChoice('collate.ragged', options.ragged, RAGGED);
  checkChoice('collate.missing', options.missing, MISSING);
  const padValue = options.padValue ?? 0;
  if (typeof padValue !== 'number' || Number.isNaN(padValue)) {
    throw new InvalidArgumentError('collate.padValue', `must be a number, got ${String(padValue)}`);
  }
  const keys = new Map<string, FieldCollateOptions>();
  let anySkip = options.missing === 'skip';
  for (const [path, field] of Object.entries(options.keys ?? {})) {
    checkDtype(`collate.keys['${path}'].dtype`, field.dtype, false);
    checkChoice(`collate.keys['${path}'].ragged`, field.ragged, RAGGED);
    checkChoice(`collate.keys['${path}'].missing`, field.missing, MISSING);
    if (field.missing === 'skip') anySkip = true;
    keys.set(path, field);
  }
  const base: Policy = { dtype: undefined, ragged: options.ragged ?? 'error', missing: options.missing ?? 'error' };
  return {
    numberDtype: options.numberDtype,
    bytes: options.bytes ?? 'stack',
    padValue,
    keys,
    root: policyAt(keys, '', base),
    anySkip,
  };
}

/**
 * The policy at `path`: the entry of `keys` for it, over the policy inherited from its parent.
 * @internal
 */
export function policyAt(keys: ReadonlyMap<string, FieldCollateOptions>, path: string, inherited: Policy): Policy {
  if (keys.size === 0) return inherited;
  const field = keys.get(path);
  if (field === undefined) return inherited;
  return {
    dtype: field.dtype ?? inherited.dtype,
    ragged: field.ragged ?? inherited.ragged,
    missing: field.missing ?? inherited.missing,
  };
}
