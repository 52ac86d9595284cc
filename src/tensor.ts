/**
 * The tensor vocabulary that `collate`, `padToBatch`, `toDevice` and the adapters share: the
 * {@link HostTensor} leaf, its {@link DType} and storage, the {@link PaddedBatch} row layout, and
 * the guards and constructors that tell and make them.
 *
 * @module
 */

/**
 * Element type of a {@link HostTensor}.
 *
 * `'int64'` is stored in a `BigInt64Array`, `'bool'` in a `Uint8Array` of 0/1, `'string'` in a
 * `string[]` and `'bytes'` in a `Uint8Array[]` (one variable-length byte string per element).
 * @public
 */
export type DType =
  'float32' | 'float64' | 'int8' | 'int16' | 'int32' | 'int64' | 'uint8' | 'uint16' | 'uint32' | 'bool' | 'string' | 'bytes';

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
 * import { type HostTensor } from 'rxfeed';
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
 * import { type PaddedBatch } from 'rxfeed';
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
 * True when `value` looks like a {@link PaddedBatch} (rows with a `Uint8Array` mask and a
 * `Float64Array` index).
 * @public
 */
export function isPaddedBatch(value: unknown): value is PaddedBatch<unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const candidate = value as Partial<PaddedBatch<unknown>>;
  return Array.isArray(candidate.rows) && candidate.mask instanceof Uint8Array && candidate.index instanceof Float64Array;
}

/**
 * True when `value` looks like a {@link HostTensor}: a shape, a dtype name and array storage.
 * @internal
 */
export function isHostTensor(value: unknown): value is HostTensor {
  if (typeof value !== 'object' || value === null) return false;
  const leaf = value as Partial<HostTensor>;
  return Array.isArray(leaf.shape) && typeof leaf.dtype === 'string' && (ArrayBuffer.isView(leaf.data) || Array.isArray(leaf.data));
}

/**
 * The typed arrays a collated leaf may be read from.
 * @internal
 */
export type AnyTypedArray =
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

/**
 * Already-shaped input leaf: an object with `data`, `shape` and a {@link DType}.
 * @internal
 */
export interface ShapedLeaf {
  readonly data: unknown;
  readonly shape: readonly number[];
  readonly dtype: DType;
}

/** Every {@link DType} name, to check untrusted ones. */
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

/**
 * Whether `dtype` names a {@link DType}.
 * @internal
 */
export const isDType = (dtype: unknown): dtype is DType => typeof dtype === 'string' && DTYPES.has(dtype);

/**
 * Storage of a numeric dtype.
 * @internal
 */
export type NumericStorage = DTypeStorage[NumericDType];

/**
 * Storage of any dtype.
 * @internal
 */
export type Storage = DTypeStorage[DType];

/**
 * The typed-array constructor of each numeric dtype.
 * @internal
 */
export const CONSTRUCTORS: { readonly [D in NumericDType]: new (length: number) => DTypeStorage[D] } = {
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

/**
 * Dtype of a typed array by its constructor; `undefined` for ones rxfeed has no dtype for.
 * @internal
 */
export function dtypeOfTypedArray(value: ArrayBufferView): NumericDType | undefined {
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

/**
 * Whether an object is an already-shaped leaf `{ data, shape, dtype }`.
 * @internal
 */
export function isShapedLeaf(value: object): value is ShapedLeaf {
  const candidate = value as Partial<ShapedLeaf>;
  return Array.isArray(candidate.shape) && isDType(candidate.dtype) && 'data' in value;
}

/**
 * `length` zeros of `dtype` (empty strings, or one shared empty `Uint8Array`, for the list dtypes).
 * @internal
 */
export function allocate(dtype: DType, length: number): Storage {
  if (dtype === 'string') return new Array<string>(length).fill('');
  if (dtype === 'bytes') return new Array<Uint8Array>(length).fill(new Uint8Array(0));
  return new CONSTRUCTORS[dtype](length);
}

/**
 * How an error message names the storage of `dtype`.
 * @internal
 */
export function storageName(dtype: DType): string {
  if (dtype === 'string') return 'a string[]';
  if (dtype === 'bytes') return 'a Uint8Array[]';
  return `a ${CONSTRUCTORS[dtype].name}`;
}
