/**
 * Collation: a batch of nested samples becomes one structure of contiguous host tensors.
 *
 * A sample is any mix of objects, tuples, numbers, bigints, booleans, strings, typed arrays,
 * `Uint8Array` bytes, nested JS arrays and already-shaped leaves (`{ data, shape, dtype }`). Collating
 * `B` samples walks them key by key in lockstep and, at each leaf, allocates ONE output array of the
 * right dtype for the whole batch and fills it in place: no per-element intermediate arrays, so the
 * cost stays close to a hand-written loop (see `bench/`).
 *
 * What the `collate` operator, `padToBatch` and the tfjs adapter share lives here: the
 * {@link HostTensor} leaf, its {@link DType}, the {@link PaddedBatch} row layout and the
 * {@link Collated} result type.
 *
 * @module
 */
import { CollateError, InvalidArgumentError } from './errors.js';
import { setField } from './fields.js';

/**
 * Element type of a {@link HostTensor}.
 *
 * `'int64'` is stored in a `BigInt64Array`, `'bool'` in a `Uint8Array` of 0/1, `'string'` in a
 * `string[]` and `'bytes'` in a `Uint8Array[]` (one variable-length byte string per element).
 * @public
 */
export type DType =
  | 'float32'
  | 'float64'
  | 'int8'
  | 'int16'
  | 'int32'
  | 'int64'
  | 'uint8'
  | 'uint16'
  | 'uint32'
  | 'bool'
  | 'string'
  | 'bytes';

/**
 * A {@link DType} whose elements are numbers (or bigints) stored in a typed array.
 * @public
 */
export type NumericDType = Exclude<DType, 'string' | 'bytes'>;

/**
 * The storage behind each {@link DType}.
 * @public
 */
export interface DTypeStorage {
  float32: Float32Array;
  float64: Float64Array;
  int8: Int8Array;
  int16: Int16Array;
  int32: Int32Array;
  int64: BigInt64Array;
  uint8: Uint8Array;
  uint16: Uint16Array;
  uint32: Uint32Array;
  bool: Uint8Array;
  string: string[];
  bytes: Uint8Array[];
}

/**
 * One collated leaf: a row-major array on the host (CPU) with its shape and dtype.
 *
 * `shape[0]` is the batch dimension. `data.length` is the product of `shape`.
 *
 * @example
 * ```ts
 * const labels: HostTensor<'int32'> = { data: Int32Array.of(3, 1), shape: [2], dtype: 'int32' };
 * ```
 * @public
 */
export interface HostTensor<D extends DType = DType> {
  /** The elements, row-major. */
  data: DTypeStorage[D];
  /** Dimensions, batch first. */
  shape: number[];
  /** Element type of `data`. */
  dtype: D;
  /**
   * True length of each row's first inner dimension, set when the leaf was collated with
   * `ragged: 'pad'` (elements at and after `lengths[i]` in row `i` are padding).
   */
  lengths?: Int32Array;
  /** 1 where the sample had this field, 0 where it was filled in; set under `missing: 'mask'`. */
  mask?: Uint8Array;
}

/**
 * A batch of rows made by `padToBatch`: real rows and pad rows, told apart by `mask`.
 *
 * @example
 * ```ts
 * const batch: PaddedBatch<number> = {
 *   rows: [7, 8, 7],
 *   mask: Uint8Array.of(1, 1, 0),
 *   index: Float64Array.of(7, 8, -1),
 * };
 * ```
 * @public
 */
export interface PaddedBatch<T> {
  /** The rows, real ones first; pad rows repeat a real row (or come from `fill`). */
  rows: T[];
  /** 1 for a real row, 0 for a pad row. */
  mask: Uint8Array;
  /** Global sample index of each real row, -1 for pad rows. */
  index: Float64Array;
}

/**
 * What `collate` makes of a {@link PaddedBatch}: the collated rows beside the mask and index.
 * @public
 */
export interface CollatedPaddedBatch<T> {
  /** The rows, collated as a plain batch would be. */
  rows: Collated<T>;
  /** `mask` of the padded batch, shape `[B]`. */
  mask: HostTensor<'bool'>;
  /** `index` of the padded batch, shape `[B]`, -1 for pad rows. */
  index: HostTensor<'float64'>;
}

type Scalar = number | bigint | boolean | string;

type AnyTypedArray =
  | Int8Array
  | Uint8Array
  | Uint8ClampedArray
  | Int16Array
  | Uint16Array
  | Int32Array
  | Uint32Array
  | Float32Array
  | Float64Array
  | BigInt64Array;

/** Already-shaped input leaf: an object with `data`, `shape` and a {@link DType}. */
interface ShapedLeaf {
  readonly data: unknown;
  readonly shape: readonly number[];
  readonly dtype: DType;
}

/** True when nested arrays of `E` bottom out in scalars, i.e. collate to one tensor. */
type IsTensorElement<E> = [E] extends [Scalar]
  ? true
  : [E] extends [readonly (infer F)[]]
    ? IsTensorElement<NonNullable<F>>
    : false;

type CollatedFields<O> = { -readonly [K in keyof O]: Collated<O[K]> };

/**
 * The type `collate` gives a batch of samples of type `T`.
 *
 * Scalars, typed arrays, shaped leaves and nested arrays of scalars become a {@link HostTensor};
 * objects keep their keys and tuples their positions, each collated in turn. Keys that are
 * optional in `T` stay optional: a key no sample of a batch has is absent from that batch.
 * @public
 */
export type Collated<T> = [NonNullable<T>] extends [never]
  ? never
  : [NonNullable<T>] extends [Scalar | AnyTypedArray | ShapedLeaf]
    ? HostTensor
    : NonNullable<T> extends readonly (infer E)[]
      ? IsTensorElement<NonNullable<E>> extends true
        ? HostTensor
        : CollatedFields<NonNullable<T>>
      : NonNullable<T> extends object
        ? CollatedFields<NonNullable<T>>
        : HostTensor;

/**
 * What `collate` gives a batch `B`: {@link Collated} rows for `T[]`, or a
 * {@link CollatedPaddedBatch} for a {@link PaddedBatch}.
 * @public
 */
export type CollateResult<B> =
  B extends PaddedBatch<infer T> ? CollatedPaddedBatch<T> : B extends readonly (infer T)[] ? Collated<T> : never;

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

const DTYPES: ReadonlySet<string> = new Set<DType>([
  'float32',
  'float64',
  'int8',
  'int16',
  'int32',
  'int64',
  'uint8',
  'uint16',
  'uint32',
  'bool',
  'string',
  'bytes',
]);

type NumericStorage = DTypeStorage[NumericDType];
type Storage = DTypeStorage[DType];

const CONSTRUCTORS: { readonly [D in NumericDType]: new (length: number) => DTypeStorage[D] } = {
  float32: Float32Array,
  float64: Float64Array,
  int8: Int8Array,
  int16: Int16Array,
  int32: Int32Array,
  int64: BigInt64Array,
  uint8: Uint8Array,
  uint16: Uint16Array,
  uint32: Uint32Array,
  bool: Uint8Array,
};

/** Dtype of a typed array by its constructor; `undefined` for ones rxfeed has no dtype for. */
function dtypeOfTypedArray(value: ArrayBufferView): NumericDType | undefined {
  switch (value.constructor) {
    case Float32Array:
      return 'float32';
    case Float64Array:
      return 'float64';
    case Int8Array:
      return 'int8';
    case Int16Array:
      return 'int16';
    case Int32Array:
      return 'int32';
    case BigInt64Array:
      return 'int64';
    case Uint8Array:
    case Uint8ClampedArray:
      return 'uint8';
    case Uint16Array:
      return 'uint16';
    case Uint32Array:
      return 'uint32';
    default:
      // Subclasses (Node's Buffer) fall through to the instanceof checks.
      if (value instanceof Uint8Array) return 'uint8';
      return undefined;
  }
}

type Kind = 'number' | 'bigint' | 'boolean' | 'string' | 'typed' | 'bytes' | 'shaped' | 'array' | 'object';

const UNSUPPORTED_OBJECTS: readonly (abstract new (...args: never[]) => unknown)[] = [
  Map,
  Set,
  Date,
  RegExp,
  Promise,
  ArrayBuffer,
  DataView,
];

function isShapedLeaf(value: object): value is ShapedLeaf {
  const candidate = value as Partial<ShapedLeaf>;
  return (
    Array.isArray(candidate.shape) &&
    typeof candidate.dtype === 'string' &&
    DTYPES.has(candidate.dtype) &&
    'data' in value
  );
}

/** Kind of a present (non-null) value, or a description of why it cannot be collated. */
function kindOf(value: unknown): Kind | { unsupported: string } {
  switch (typeof value) {
    case 'number':
    case 'bigint':
    case 'boolean':
    case 'string':
      return typeof value as Kind;
    case 'object': {
      const object = value as object;
      const prototype: unknown = Object.getPrototypeOf(object);
      // Fast path for the common case, a plain object: only a shaped leaf needs a closer look.
      if (prototype === Object.prototype || prototype === null) {
        return 'dtype' in object && isShapedLeaf(object) ? 'shaped' : 'object';
      }
      if (Array.isArray(object)) return 'array';
      if (ArrayBuffer.isView(object)) {
        if (object instanceof Uint8Array) return 'bytes'; // Node's Buffer included
        return dtypeOfTypedArray(object) === undefined ? { unsupported: object.constructor.name } : 'typed';
      }
      for (const type of UNSUPPORTED_OBJECTS) {
        if (object instanceof type) return { unsupported: type.name };
      }
      return isShapedLeaf(object) ? 'shaped' : 'object';
    }
    default:
      return { unsupported: typeof value };
  }
}

function describe(kind: Kind): string {
  switch (kind) {
    case 'typed':
      return 'a typed array';
    case 'bytes':
      return 'a Uint8Array';
    case 'shaped':
      return 'a shaped leaf {data, shape, dtype}';
    case 'array':
      return 'an array';
    case 'object':
      return 'an object';
    default:
      return `a ${kind}`;
  }
}

/** The policy in force at one path. */
interface Policy {
  readonly dtype: DType | undefined;
  readonly ragged: RaggedPolicy;
  readonly missing: MissingPolicy;
}

/** Options resolved once per `collate(...)` call. */
interface Settings {
  readonly numberDtype: NumericDType | undefined;
  readonly bytes: 'stack' | 'list';
  readonly padValue: number;
  readonly keys: ReadonlyMap<string, FieldCollateOptions>;
  readonly root: Policy;
  /** Whether any policy is 'skip', so the skip pre-pass is needed. */
  readonly anySkip: boolean;
}

/** An option value as an error message shows it. */
const shown = (value: unknown): string =>
  typeof value === 'string' ? `'${value}'` : (JSON.stringify(value) ?? typeof value);

function checkDtype(where: string, dtype: unknown, numeric: boolean): void {
  if (dtype === undefined) return;
  if (typeof dtype !== 'string' || !DTYPES.has(dtype) || (numeric && (dtype === 'string' || dtype === 'bytes'))) {
    throw new InvalidArgumentError(where, `unknown ${numeric ? 'numeric ' : ''}dtype ${shown(dtype)}`);
  }
}

function checkChoice(where: string, value: unknown, choices: readonly string[]): void {
  if (value !== undefined && !choices.includes(value as string)) {
    throw new InvalidArgumentError(
      where,
      `must be one of ${choices.map((c) => `'${c}'`).join(', ')}, got ${shown(value)}`,
    );
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

function policyAt(keys: ReadonlyMap<string, FieldCollateOptions>, path: string, inherited: Policy): Policy {
  if (keys.size === 0) return inherited;
  const field = keys.get(path);
  if (field === undefined) return inherited;
  return {
    dtype: field.dtype ?? inherited.dtype,
    ragged: field.ragged ?? inherited.ragged,
    missing: field.missing ?? inherited.missing,
  };
}

const childPath = (path: string, key: string): string => (path === '' ? key : `${path}.${key}`);
const itemPath = (path: string, index: number): string => `${path}[${index}]`;

/**
 * True when `value` looks like a {@link PaddedBatch} (rows with a `Uint8Array` mask and a
 * `Float64Array` index).
 * @public
 */
export function isPaddedBatch(value: unknown): value is PaddedBatch<unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const candidate = value as Partial<PaddedBatch<unknown>>;
  return (
    Array.isArray(candidate.rows) && candidate.mask instanceof Uint8Array && candidate.index instanceof Float64Array
  );
}

/**
 * Collate one batch: `B` samples become one structure of {@link HostTensor}s with shape `[B, ...]`,
 * or a {@link PaddedBatch} becomes `{ rows, mask, index }`.
 *
 * Rules, leaf by leaf:
 * - numbers: `'int32'` when every value is an int32 integer, else `'float64'` (or
 *   {@link CollateOptions.numberDtype}); bigints: `'int64'`; booleans: `'bool'`; strings: `'string'`.
 * - typed arrays: stacked into `[B, length]` of their own dtype (`Uint8ClampedArray` as `'uint8'`);
 *   `Uint8Array` bytes likewise, or kept as a `'bytes'` list (see {@link CollateOptions.bytes}).
 * - nested JS arrays of scalars: extra dimensions, which must be rectangular within and across
 *   samples (only the first may be ragged, under `ragged: 'pad'`). `[]` everywhere gives
 *   `'float64'` (or `numberDtype`) with length 0.
 * - shaped leaves `{ data, shape, dtype }` (a {@link HostTensor} included): stacked into
 *   `[B, ...shape]`; `data.length` must equal the product of `shape`.
 * - objects: collated key by key over the union of the samples' keys; tuples (arrays whose
 *   elements are not scalars, e.g. `[Uint8Array, number]` or arrays of objects): position by
 *   position, a missing position counting as a missing field.
 *
 * Missing fields follow {@link CollateOptions.missing}; a field missing in EVERY sample of the
 * batch (but present as a key) cannot be typed and always throws. Zero-filled and padded rows of
 * `'bytes'` lists share one empty `Uint8Array`.
 *
 * @example
 * ```ts
 * const { image, label } = collateBatch([
 *   { image: new Float32Array([0.1, 0.2]), label: 3 },
 *   { image: new Float32Array([0.3, 0.4]), label: 1 },
 * ]);
 * // image: { data: Float32Array(4), shape: [2, 2], dtype: 'float32' }
 * // label: { data: Int32Array [3, 1], shape: [2], dtype: 'int32' }
 * ```
 *
 * @param batch - The samples (at least one), or a {@link PaddedBatch}.
 * @param options - See {@link CollateOptions}.
 * @returns The collated structure; see {@link Collated}.
 * @throws {@link CollateError} naming the field path and the samples at fault.
 * @public
 */
export function collateBatch<B extends readonly unknown[] | PaddedBatch<unknown>>(
  batch: B,
  options: CollateOptions = {},
): CollateResult<B> {
  return collateWith(batch, resolveCollateOptions(options)) as CollateResult<B>;
}

/**
 * {@link collateBatch} with options already resolved by {@link resolveCollateOptions}.
 * @internal
 */
export function collateWith(batch: readonly unknown[] | PaddedBatch<unknown>, settings: Settings): unknown {
  if (Array.isArray(batch)) return collateRows(batch, settings);
  if (!isPaddedBatch(batch)) {
    throw new CollateError('', 'a batch must be an array of samples or a PaddedBatch {rows, mask, index}');
  }
  let { rows, mask, index } = batch;
  if (mask.length !== rows.length || index.length !== rows.length) {
    throw new CollateError(
      '',
      `PaddedBatch has ${rows.length} rows but mask ${mask.length} and index ${index.length} entries`,
    );
  }
  const keep = settings.anySkip ? rowsToKeep(rows, settings) : undefined;
  if (keep !== undefined) {
    rows = keep.map((i) => rows[i]);
    mask = Uint8Array.from(keep, (i) => mask[i]);
    index = Float64Array.from(keep, (i) => index[i]);
  }
  return {
    rows: collateSamples(rows, settings),
    mask: { data: mask, shape: [mask.length], dtype: 'bool' },
    index: { data: index, shape: [index.length], dtype: 'float64' },
  };
}

function collateRows(samples: readonly unknown[], settings: Settings): unknown {
  const keep = settings.anySkip ? rowsToKeep(samples, settings) : undefined;
  return collateSamples(keep === undefined ? samples : keep.map((i) => samples[i]), settings);
}

function collateSamples(samples: readonly unknown[], settings: Settings): unknown {
  if (samples.length === 0) throw new CollateError('', 'cannot collate an empty batch');
  return collateNode(samples, '', settings.root, settings);
}

// ---------------------------------------------------------------------------------------------
// 'skip': find the samples that miss a field under a 'skip' policy, before collating.

/** Positions of the samples to keep, or `undefined` when none is dropped. */
function rowsToKeep(samples: readonly unknown[], settings: Settings): number[] | undefined {
  const drop = new Set<number>();
  markSkipped(
    samples,
    samples.map((_, i) => i),
    '',
    settings.root,
    settings,
    drop,
  );
  if (drop.size === 0) return undefined;
  const keep: number[] = [];
  for (let i = 0; i < samples.length; i++) if (!drop.has(i)) keep.push(i);
  if (keep.length === 0) {
    throw new CollateError('', `every sample of the batch (${samples.length}) misses a field under missing: 'skip'`);
  }
  return keep;
}

function markSkipped(
  values: readonly unknown[],
  positions: readonly number[],
  path: string,
  inherited: Policy,
  settings: Settings,
  drop: Set<number>,
): void {
  const policy = policyAt(settings.keys, path, inherited);
  const present: unknown[] = [];
  const presentAt: number[] = [];
  for (let k = 0; k < values.length; k++) {
    const value = values[k];
    if (value === undefined || value === null) {
      if (policy.missing === 'skip') drop.add(positions[k]);
    } else {
      present.push(value);
      presentAt.push(positions[k]);
    }
  }
  if (present.length === 0) return;
  const kind = kindOf(present[0]);
  if (kind === 'object') {
    for (const key of unionOfKeys(present)) {
      const inherited = isInherited(key);
      markSkipped(
        present.map((value) => fieldOf(value as Record<string, unknown>, key, inherited)),
        presentAt,
        childPath(path, key),
        policy,
        settings,
        drop,
      );
    }
  } else if (kind === 'array' && !isTensorArray(present)) {
    const length = Math.max(...present.map((value) => (Array.isArray(value) ? value.length : 0)));
    for (let j = 0; j < length; j++) {
      markSkipped(
        present.map((value) => (Array.isArray(value) ? (value as unknown[])[j] : undefined)),
        presentAt,
        itemPath(path, j),
        policy,
        settings,
        drop,
      );
    }
  }
}

// ---------------------------------------------------------------------------------------------
// The walk.

/** Own keys of the objects among `values` (nulls skipped), in first-seen order. */
function unionOfKeys(values: readonly unknown[]): string[] {
  let first: string[] | undefined;
  let keys: Set<string> | undefined;
  for (const value of values) {
    if (value === undefined || value === null) continue;
    const object = value as object;
    if (first === undefined) {
      first = Object.keys(object);
      continue;
    }
    if (keys === undefined && hasKeysInOrder(object, first)) continue;
    keys ??= new Set(first);
    for (const key of Object.keys(object)) keys.add(key);
  }
  return keys === undefined ? (first ?? []) : [...keys];
}

/**
 * Whether `object` enumerates exactly `keys`, in order: the common case of samples built alike.
 * A `for...in` walk allocates nothing, unlike `Object.keys`, which matters at one call per sample.
 */
function hasKeysInOrder(object: object, keys: readonly string[]): boolean {
  let k = 0;
  for (const key in object) {
    if (key !== keys[k]) return false;
    k++;
  }
  return k === keys.length;
}

/** Whether arrays at this node are tensors (bottom out in scalars) rather than tuples. */
function isTensorArray(values: readonly unknown[]): boolean {
  for (const value of values) {
    if (!Array.isArray(value)) continue;
    let current: unknown = value;
    while (Array.isArray(current) && current.length > 0) current = (current as unknown[])[0];
    if (Array.isArray(current)) continue; // an empty array: look at another sample
    const type = typeof current;
    return type === 'number' || type === 'bigint' || type === 'boolean' || type === 'string';
  }
  return true;
}

function collateNode(values: readonly unknown[], path: string, inherited: Policy, settings: Settings): unknown {
  const policy = policyAt(settings.keys, path, inherited);
  let kind: Kind | undefined;
  let first = -1;
  let firstMissing = -1;
  for (let i = 0; i < values.length; i++) {
    const value = values[i];
    if (value === undefined || value === null) {
      if (firstMissing < 0) firstMissing = i;
      continue;
    }
    const k = kindOf(value);
    if (typeof k === 'object') {
      throw new CollateError(path, `sample ${i} holds a ${k.unsupported}, which cannot be collated`);
    }
    if (kind === undefined) {
      kind = k;
      first = i;
    } else if (k !== kind) {
      throw new CollateError(path, `mixed types: sample ${first} holds ${describe(kind)}, sample ${i} ${describe(k)}`);
    }
  }
  if (kind === undefined) {
    throw new CollateError(
      path,
      `missing in every sample of the batch (${values.length}): nothing to infer its type from`,
    );
  }
  if (firstMissing >= 0 && (policy.missing === 'error' || policy.missing === 'skip')) {
    // 'skip' reaches here only for a field whose policy differs between the pre-pass and now,
    // which cannot happen; report it as a missing field rather than emit a wrong batch.
    throw new CollateError(
      path,
      `missing in sample ${firstMissing} (present in sample ${first}); ` +
        "set missing: 'zero' | 'mask' | 'skip' to allow it",
    );
  }
  switch (kind) {
    case 'object':
      return collateObject(values, path, policy, settings);
    case 'array':
      return isTensorArray(values)
        ? withMask(collateRowsOf(values, 'nested', path, policy, settings), values, policy)
        : collateTuple(values, path, policy, settings);
    case 'bytes':
      if (policy.dtype === 'bytes' || (policy.dtype === undefined && settings.bytes === 'list')) {
        return withMask(collateBytesList(values), values, policy);
      }
      return withMask(collateRowsOf(values, 'typed', path, policy, settings), values, policy);
    case 'typed':
      return withMask(collateRowsOf(values, 'typed', path, policy, settings), values, policy);
    case 'shaped':
      return withMask(collateRowsOf(values, 'shaped', path, policy, settings), values, policy);
    default:
      return withMask(collateScalars(values, kind, path, policy, settings), values, policy);
  }
}

function withMask(tensor: HostTensor, values: readonly unknown[], policy: Policy): HostTensor {
  if (policy.missing !== 'mask') return tensor;
  const mask = new Uint8Array(values.length);
  for (let i = 0; i < values.length; i++) mask[i] = values[i] === undefined || values[i] === null ? 0 : 1;
  tensor.mask = mask;
  return tensor;
}

function collateObject(
  values: readonly unknown[],
  path: string,
  policy: Policy,
  settings: Settings,
): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const column = new Array<unknown>(values.length);
  for (const key of unionOfKeys(values)) {
    const inherited = isInherited(key);
    for (let i = 0; i < values.length; i++) {
      const value = values[i] as Record<string, unknown> | null | undefined;
      column[i] = value === undefined || value === null ? undefined : fieldOf(value, key, inherited);
    }
    setField(out, key, collateNode(column, childPath(path, key), policy, settings));
  }
  return out;
}

/** Whether a plain object lacking `key` would still answer it from `Object.prototype` (`toString`, `__proto__`). */
const isInherited = (key: string): boolean => key in Object.prototype;

/**
 * The sample's own field `key`, `undefined` when it has none. Keys are data: a sample without a
 * `toString` or `__proto__` field misses it, whatever `Object.prototype` holds under that name.
 * `inherited` (from {@link isInherited}) keeps the own-property test off the common keys.
 */
function fieldOf(value: Record<string, unknown>, key: string, inherited: boolean): unknown {
  return inherited && !Object.hasOwn(value, key) ? undefined : value[key];
}

function collateTuple(values: readonly unknown[], path: string, policy: Policy, settings: Settings): unknown[] {
  let length = 0;
  for (const value of values) if (Array.isArray(value)) length = Math.max(length, value.length);
  const out = new Array<unknown>(length);
  const column = new Array<unknown>(values.length);
  for (let j = 0; j < length; j++) {
    for (let i = 0; i < values.length; i++) {
      const value = values[i];
      column[i] = Array.isArray(value) ? (value as unknown[])[j] : undefined;
    }
    out[j] = collateNode(column, itemPath(path, j), policy, settings);
  }
  return out;
}

function collateBytesList(values: readonly unknown[]): HostTensor<'bytes'> {
  const empty = new Uint8Array(0);
  const data = new Array<Uint8Array>(values.length);
  for (let i = 0; i < values.length; i++) data[i] = (values[i] as Uint8Array | null | undefined) ?? empty;
  return { data, shape: [values.length], dtype: 'bytes' };
}

// ---------------------------------------------------------------------------------------------
// Scalar leaves: shape [B].

function targetDtype(path: string, policy: Policy, wanted: DType | undefined, fallback: DType, what: string): DType {
  const dtype = policy.dtype ?? wanted ?? fallback;
  if ((dtype === 'string') !== (what === 'string') || (dtype === 'bytes' && what !== 'bytes')) {
    throw new CollateError(path, `cannot store ${what} values as dtype '${dtype}'`);
  }
  return dtype;
}

function collateScalars(
  values: readonly unknown[],
  kind: Kind,
  path: string,
  policy: Policy,
  settings: Settings,
): HostTensor {
  const n = values.length;
  if (kind === 'string') {
    targetDtype(path, policy, undefined, 'string', 'string');
    const data = new Array<string>(n);
    for (let i = 0; i < n; i++) data[i] = (values[i] as string | null | undefined) ?? '';
    return { data, shape: [n], dtype: 'string' };
  }
  if (kind === 'number') {
    const forced = policy.dtype ?? settings.numberDtype;
    if (forced === undefined) {
      let allInt32 = true;
      for (let i = 0; i < n; i++) {
        const value = values[i] as number | undefined;
        if (value !== undefined && value !== null && (value | 0) !== value) {
          allInt32 = false;
          break;
        }
      }
      const data = allInt32 ? new Int32Array(n) : new Float64Array(n);
      for (let i = 0; i < n; i++) data[i] = (values[i] as number | null | undefined) ?? 0;
      return { data, shape: [n], dtype: allInt32 ? 'int32' : 'float64' };
    }
  }
  const fallback = kind === 'bigint' ? 'int64' : kind === 'boolean' ? 'bool' : 'float64';
  const dtype = targetDtype(
    path,
    policy,
    kind === 'number' ? settings.numberDtype : undefined,
    fallback,
    kind,
  ) as NumericDType;
  const data = new CONSTRUCTORS[dtype](n);
  const write = scalarWriter(data, dtype, kind, path);
  for (let i = 0; i < n; i++) {
    const value = values[i];
    if (value !== undefined && value !== null) write(i, value, i);
  }
  return { data, shape: [n], dtype };
}

/** A function storing one scalar of `kind` into `data` of `dtype`, converting as documented. */
function scalarWriter(
  data: NumericStorage,
  dtype: NumericDType,
  kind: Kind,
  path: string,
): (offset: number, value: unknown, sample: number) => void {
  if (dtype === 'bool') {
    const out = data as Uint8Array;
    return (offset, value) => {
      out[offset] = value ? 1 : 0;
    };
  }
  if (dtype === 'int64') {
    const out = data as BigInt64Array;
    if (kind === 'bigint') {
      return (offset, value) => {
        out[offset] = value as bigint;
      };
    }
    return (offset, value, sample) => {
      const number = typeof value === 'boolean' ? Number(value) : (value as number);
      if (!Number.isInteger(number)) {
        throw new CollateError(path, `sample ${sample}: ${number} is not an integer, so cannot be stored as int64`);
      }
      out[offset] = BigInt(number);
    };
  }
  const out = data as Exclude<NumericStorage, BigInt64Array>;
  if (kind === 'bigint') {
    return (offset, value) => {
      out[offset] = Number(value);
    };
  }
  return (offset, value) => {
    out[offset] = value as number; // booleans store as 0/1
  };
}

// ---------------------------------------------------------------------------------------------
// Row leaves: typed arrays, shaped leaves and nested arrays, shape [B, ...].

type RowSource = 'typed' | 'nested' | 'shaped';

/** What one present sample contributes to a row leaf. */
interface Row {
  /** The sample's own shape (without the batch dimension). */
  readonly dims: number[];
  /** Where a nested array stopped at an empty array before reaching its full rank. */
  readonly truncated: boolean;
}

function rowOf(value: unknown, source: RowSource, path: string, sample: number): Row {
  if (source === 'typed') return { dims: [(value as AnyTypedArray).length], truncated: false };
  if (source === 'shaped') {
    const leaf = value as ShapedLeaf;
    const dims = [...leaf.shape];
    let size = 1;
    for (const dim of dims) {
      if (!Number.isSafeInteger(dim) || dim < 0) {
        throw new CollateError(
          path,
          `sample ${sample}: shape [${dims.join(', ')}] is not a list of non-negative integers`,
        );
      }
      size *= dim;
    }
    const data = leaf.data as { length?: unknown } | null;
    if (typeof data !== 'object' || data === null || data.length !== size) {
      throw new CollateError(
        path,
        `sample ${sample}: data holds ${String(data?.length)} elements but shape [${dims.join(', ')}] needs ${size}`,
      );
    }
    return { dims, truncated: false };
  }
  const dims: number[] = [];
  let current: unknown = value;
  while (Array.isArray(current)) {
    dims.push(current.length);
    if (current.length === 0) return { dims, truncated: true };
    current = (current as unknown[])[0];
  }
  return { dims, truncated: false };
}

const sameDims = (a: readonly number[], b: readonly number[], from: number): boolean => {
  if (a.length !== b.length) return false;
  for (let k = from; k < a.length; k++) if (a[k] !== b[k]) return false;
  return true;
};

/** The dtype the stored elements have in the input (before any conversion), and their JS kind. */
interface ElementType {
  readonly dtype: DType | undefined; // undefined: JS numbers, to infer
  readonly kind: 'number' | 'bigint' | 'boolean' | 'string' | 'bytes';
}

function elementTypeOf(value: unknown, source: RowSource, path: string, sample: number): ElementType {
  if (source === 'typed') {
    const dtype = dtypeOfTypedArray(value as ArrayBufferView)!;
    return { dtype, kind: dtype === 'int64' ? 'bigint' : 'number' };
  }
  if (source === 'shaped') {
    const { dtype, data } = value as ShapedLeaf;
    const typed = ArrayBuffer.isView(data);
    const ok =
      dtype === 'string' || dtype === 'bytes'
        ? Array.isArray(data)
        : typed && dtypeOfTypedArray(data) === (dtype === 'bool' ? 'uint8' : dtype);
    if (!ok) {
      throw new CollateError(path, `sample ${sample}: data of a '${dtype}' leaf must be ${storageName(dtype)}`);
    }
    const kind = dtype === 'string' ? 'string' : dtype === 'bytes' ? 'bytes' : dtype === 'int64' ? 'bigint' : 'number';
    return { dtype, kind };
  }
  let current: unknown = value;
  while (Array.isArray(current) && current.length > 0) current = (current as unknown[])[0];
  switch (typeof current) {
    case 'bigint':
      return { dtype: 'int64', kind: 'bigint' };
    case 'boolean':
      return { dtype: 'bool', kind: 'boolean' };
    case 'string':
      return { dtype: 'string', kind: 'string' };
    default:
      return { dtype: undefined, kind: 'number' };
  }
}

function storageName(dtype: DType): string {
  if (dtype === 'string') return 'a string[]';
  if (dtype === 'bytes') return 'a Uint8Array[]';
  return `a ${CONSTRUCTORS[dtype].name}`;
}

function allocate(dtype: DType, length: number): Storage {
  if (dtype === 'string') return new Array<string>(length).fill('');
  if (dtype === 'bytes') return new Array<Uint8Array>(length).fill(new Uint8Array(0));
  return new CONSTRUCTORS[dtype](length);
}

function collateRowsOf(
  values: readonly unknown[],
  source: RowSource,
  path: string,
  policy: Policy,
  settings: Settings,
): HostTensor {
  const n = values.length;
  const rows = new Array<Row | undefined>(n);
  let reference = -1; // first present, non-truncated sample: its shape and element type are the rule
  let firstAt = -1;
  let firstType: ElementType | undefined;
  let element: ElementType | undefined;
  for (let i = 0; i < n; i++) {
    const value = values[i];
    if (value === undefined || value === null) continue;
    const row = rowOf(value, source, path, i);
    rows[i] = row;
    const type = elementTypeOf(value, source, path, i);
    if (firstType === undefined) {
      firstAt = i;
      firstType = type;
    } else if (source !== 'nested' && type.dtype !== firstType.dtype) {
      throw new CollateError(
        path,
        `mixed dtypes: sample ${firstAt} is '${firstType.dtype}', sample ${i} '${type.dtype}'`,
      );
    }
    if (reference < 0 && !row.truncated) {
      reference = i;
      element = type;
    }
  }
  if (reference < 0) {
    // Every row is an empty array: nothing says more than the first.
    reference = firstAt;
    element = firstType;
  }
  const refDims = rows[reference]!.dims;
  const rank = refDims.length;
  // Fill the inner dimensions of rows that stopped at an empty array from the reference shape.
  for (let i = 0; i < n; i++) {
    const row = rows[i];
    if (row === undefined || !row.truncated || row.dims.length >= rank) continue;
    rows[i] = { dims: [...row.dims, ...refDims.slice(row.dims.length)], truncated: true };
  }

  // Shape checks: same rank and inner dims everywhere; the first dim may be ragged.
  let longest = reference;
  let ragged = -1;
  for (let i = 0; i < n; i++) {
    const row = rows[i];
    if (row === undefined) continue;
    if (!sameDims(row.dims, refDims, 1)) {
      throw new CollateError(
        path,
        `shapes differ beyond the first dimension: sample ${reference} has [${refDims.join(', ')}], sample ${i} ` +
          `[${row.dims.join(', ')}]; only the first dimension can be padded`,
      );
    }
    if (rank > 0 && row.dims[0] !== refDims[0]) {
      if (ragged < 0) ragged = i;
      if (row.dims[0] > rows[longest]!.dims[0]) longest = i;
    }
  }
  if (ragged >= 0 && policy.ragged === 'error') {
    throw new CollateError(
      path,
      `ragged first dimension: sample ${reference} has length ${refDims[0]}, sample ${ragged} has length ` +
        `${rows[ragged]!.dims[0]}; set ragged: 'pad' to pad to the batch maximum` +
        (source === 'typed' && element!.kind === 'number' && values[reference] instanceof Uint8Array
          ? " (or bytes: 'list')"
          : ''),
    );
  }

  const inner = rank > 0 ? refDims.slice(1) : [];
  const first = rank > 0 ? rows[longest]!.dims[0] : 0;
  let innerSize = 1;
  for (const dim of inner) innerSize *= dim;
  const rowSize = rank > 0 ? first * innerSize : 1;
  const shape = rank > 0 ? [n, first, ...inner] : [n];

  const type = element!;
  const infer = type.dtype === undefined && policy.dtype === undefined && settings.numberDtype === undefined;
  const dtype: DType = infer
    ? 'float64'
    : targetDtype(
        path,
        policy,
        type.kind === 'number' ? settings.numberDtype : undefined,
        type.dtype ?? 'float64',
        type.kind,
      );
  if (type.kind === 'bytes' && dtype !== 'bytes') {
    throw new CollateError(path, `cannot store bytes values as dtype '${dtype}'`);
  }
  const data = allocate(dtype, n * rowSize);
  const padding = policy.ragged === 'pad' && rank > 0;
  const lengths = padding ? new Int32Array(n) : undefined;
  const padValue = settings.padValue;
  if (padding && padValue !== 0 && dtype !== 'string' && dtype !== 'bytes') {
    fillPad(data as NumericStorage, dtype, padValue);
  }

  let allInt32 = true;
  for (let i = 0; i < n; i++) {
    const row = rows[i];
    const offset = i * rowSize;
    if (row === undefined) {
      // A missing sample: zeros of the row's shape (its length stays 0 under 'pad').
      if (padding && padValue !== 0) zeroRow(data, dtype, offset, rowSize);
      continue;
    }
    if (lengths !== undefined) lengths[i] = row.dims[0]!;
    const value = values[i];
    if (source === 'nested') {
      const state = { allInt32: true };
      writeNested(value as unknown[], row.dims, 0, data, dtype, offset, type.kind, infer, state, path, i);
      if (!state.allInt32) allInt32 = false;
    } else {
      const input = source === 'typed' ? (value as AnyTypedArray) : ((value as ShapedLeaf).data as ArrayLike<unknown>);
      writeFlat(input, type, data, dtype, offset, path, i);
    }
  }

  let out: HostTensor = { data, shape, dtype };
  // Inferred int32 needs the padding to be an int32 too, or padded rows would change meaning.
  // With no element at all (every row empty) nothing says int32: keep the documented float64.
  if (infer && allInt32 && data.length > 0 && (!padding || (padValue | 0) === padValue)) {
    out = { data: Int32Array.from(data as Float64Array), shape, dtype: 'int32' };
  }
  if (lengths !== undefined) out.lengths = lengths;
  return out;
}

function fillPad(data: NumericStorage, dtype: NumericDType, padValue: number): void {
  if (dtype === 'int64') {
    if (!Number.isInteger(padValue)) {
      throw new InvalidArgumentError('collate.padValue', `${padValue} cannot pad an int64 leaf`);
    }
    (data as BigInt64Array).fill(BigInt(padValue));
  } else if (dtype === 'bool') {
    (data as Uint8Array).fill(padValue ? 1 : 0);
  } else {
    (data as Exclude<NumericStorage, BigInt64Array>).fill(padValue);
  }
}

function zeroRow(data: Storage, dtype: DType, offset: number, size: number): void {
  if (dtype === 'string') (data as string[]).fill('', offset, offset + size);
  else if (dtype === 'bytes') (data as Uint8Array[]).fill(new Uint8Array(0), offset, offset + size);
  else if (dtype === 'int64') (data as BigInt64Array).fill(0n, offset, offset + size);
  else (data as Exclude<NumericStorage, BigInt64Array>).fill(0, offset, offset + size);
}

/** Copy a flat input (typed array, or a shaped leaf's data) into `out` at `offset`, converting. */
function writeFlat(
  input: ArrayLike<unknown>,
  type: ElementType,
  out: Storage,
  dtype: DType,
  offset: number,
  path: string,
  sample: number,
): void {
  if (dtype === 'string' || dtype === 'bytes') {
    const target = out as unknown[];
    for (let k = 0; k < input.length; k++) target[offset + k] = input[k];
    return;
  }
  const sameFamily = (dtype === 'int64') === (type.kind === 'bigint');
  if (sameFamily && (dtype !== 'bool' || type.dtype === 'bool')) {
    // TypedArray#set converts between numeric element types natively.
    (out as Float64Array).set(input as Float64Array, offset);
    return;
  }
  const write = scalarWriter(out as NumericStorage, dtype, type.kind, path);
  for (let k = 0; k < input.length; k++) write(offset + k, input[k], sample);
}

/** Write one sample's nested arrays row-major, checking rectangularity and element types. */
function writeNested(
  value: readonly unknown[],
  dims: readonly number[],
  depth: number,
  out: Storage,
  dtype: DType,
  offset: number,
  kind: ElementType['kind'],
  infer: boolean,
  state: { allInt32: boolean },
  path: string,
  sample: number,
  where = '',
): number {
  const expected = dims[depth];
  if (value.length !== expected) {
    throw new CollateError(
      path,
      `sample ${sample}: not rectangular: ${where === '' ? 'the array' : `element ${where}`} has length ` +
        `${value.length} where [${dims.join(', ')}] needs ${expected}`,
    );
  }
  if (depth < dims.length - 1) {
    for (let k = 0; k < expected; k++) {
      const child = value[k];
      if (!Array.isArray(child)) {
        throw new CollateError(
          path,
          `sample ${sample}: element ${where}[${k}] is not an array; the shape is [${dims.join(', ')}]`,
        );
      }
      offset = writeNested(
        child,
        dims,
        depth + 1,
        out,
        dtype,
        offset,
        kind,
        infer,
        state,
        path,
        sample,
        `${where}[${k}]`,
      );
    }
    return offset;
  }
  const badElement = (k: number): never => {
    const element = value[k];
    throw new CollateError(
      path,
      `sample ${sample}: element ${where}[${k}] is ${Array.isArray(element) ? 'an array' : typeof element} ` +
        `where the shape [${dims.join(', ')}] needs a ${kind}`,
    );
  };
  if (kind === 'number' && dtype !== 'int64' && dtype !== 'bool') {
    // The hot path: numbers into a number typed array.
    const target = out as Exclude<NumericStorage, BigInt64Array>;
    let allInt32 = state.allInt32;
    for (let k = 0; k < expected; k++) {
      const element = value[k];
      if (typeof element !== 'number') badElement(k);
      if (infer && allInt32 && ((element as number) | 0) !== element) allInt32 = false;
      target[offset + k] = element as number;
    }
    state.allInt32 = allInt32;
    return offset + expected;
  }
  if (kind === 'string') {
    const target = out as string[];
    for (let k = 0; k < expected; k++) {
      const element = value[k];
      if (typeof element !== 'string') badElement(k);
      target[offset + k] = element as string;
    }
    return offset + expected;
  }
  const write = scalarWriter(out as NumericStorage, dtype as NumericDType, kind, path);
  for (let k = 0; k < expected; k++) {
    const element = value[k];
    if (typeof element !== kind) badElement(k);
    write(offset + k, element, sample);
  }
  return offset + expected;
}
