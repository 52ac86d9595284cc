/**
 * Collation of leaves: the values found at one path in every sample of a batch (a column) become
 * ONE {@link HostTensor} of the right dtype for the whole batch, filled in place, with no
 * per-element intermediate arrays (see `bench/`). Scalars give shape `[B]`; typed arrays, shaped
 * leaves and nested arrays of scalars give `[B, ...]`, padded or checked as the policy says.
 *
 * The walk that finds the columns, and the kinds of values it tells apart, are in `./collate.ts`.
 * Kept whole at about 500 lines: the column fillers share the one dtype-and-shape inference and
 * its error messages, and read best side by side.
 *
 * @module
 * @internal
 */
import type { Policy, Settings } from './collateOptions.js';
import { CollateError, InvalidArgumentError } from './errors.js';
import {
  allocate,
  CONSTRUCTORS,
  dtypeOfTypedArray,
  storageName,
  type AnyTypedArray,
  type DType,
  type HostTensor,
  type NumericDType,
  type NumericStorage,
  type ShapedLeaf,
  type Storage,
} from './tensor.js';

/**
 * What a present value at a node is: a leaf kind, or a container (`'array'` may also be a tensor
 * leaf of nested scalars).
 * @internal
 */
export type Kind = 'number' | 'bigint' | 'boolean' | 'string' | 'typed' | 'bytes' | 'shaped' | 'array' | 'object';

/**
 * `Uint8Array` leaves kept as a `'bytes'` list, shape `[B]`; missing ones share one empty array.
 * @internal
 */
export function collateBytesList(values: readonly unknown[]): HostTensor<'bytes'> {
  const empty = new Uint8Array(0);
  const data = new Array<Uint8Array>(values.length);
  for (let i = 0; i < values.length; i++) data[i] = (values[i] as Uint8Array | null | undefined) ?? empty;
  return { data, shape: [values.length], dtype: 'bytes' };
}

// ---------------------------------------------------------------------------------------------
// Scalar leaves: shape [B].

/**
 * The dtype a leaf of `what` values is stored as under `policy` (`wanted`: `numberDtype` for JS
 * numbers), or a {@link CollateError} when they cannot be stored so.
 * @internal
 */
export function targetDtype(path: string, policy: Policy, wanted: DType | undefined, fallback: DType, what: string): DType {
  const dtype = policy.dtype ?? wanted ?? fallback;
  if ((dtype === 'string') !== (what === 'string') || (dtype === 'bytes' && what !== 'bytes')) {
    throw new CollateError(path, `cannot store ${what} values as dtype '${dtype}'`);
  }
  return dtype;
}

/**
 * Scalars (numbers, bigints, booleans, strings) into one tensor of shape `[B]`.
 * @internal
 */
export function collateScalars(values: readonly unknown[], kind: Kind, path: string, policy: Policy, settings: Settings): HostTensor {
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
  const dtype = targetDtype(path, policy, kind === 'number' ? settings.numberDtype : undefined, fallback, kind) as NumericDType;
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

/**
 * Where a row leaf's elements come from.
 * @internal
 */
export type RowSource = 'typed' | 'nested' | 'shaped';

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
        throw new CollateError(path, `sample ${sample}: shape [${dims.join(', ')}] is not a list of non-negative integers`);
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

/**
 * The dtype the stored elements have in the input (before any conversion), and their JS kind.
 * @internal
 */
export interface ElementType {
  readonly dtype: DType | undefined; // undefined: JS numbers, to infer
  readonly kind: 'number' | 'bigint' | 'boolean' | 'string' | 'bytes';
}

/**
 * What one sample's row leaf holds: the input dtype and JS kind of its elements.
 * @internal
 */
export function elementTypeOf(value: unknown, source: RowSource, path: string, sample: number): ElementType {
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

/**
 * Typed arrays, shaped leaves or nested arrays into one tensor of shape `[B, ...]`.
 * @internal
 */
export function collateRowsOf(values: readonly unknown[], source: RowSource, path: string, policy: Policy, settings: Settings): HostTensor {
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
      throw new CollateError(path, `mixed dtypes: sample ${firstAt} is '${firstType.dtype}', sample ${i} '${type.dtype}'`);
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
        (source === 'typed' && element!.kind === 'number' && values[reference] instanceof Uint8Array ? " (or bytes: 'list')" : ''),
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
    : targetDtype(path, policy, type.kind === 'number' ? settings.numberDtype : undefined, type.dtype ?? 'float64', type.kind);
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

/**
 * Whether elements of `type` go into `dtype` storage by `TypedArray#set` (which converts between
 * numeric element types natively), rather than one by one.
 * @internal
 */
export function copiesBySet(type: ElementType, dtype: DType): boolean {
  if (dtype === 'string' || dtype === 'bytes') return false;
  return (dtype === 'int64') === (type.kind === 'bigint') && (dtype !== 'bool' || type.dtype === 'bool');
}

/**
 * Copy a flat input (typed array, or a shaped leaf's data) into `out` at `offset`, converting.
 * @internal
 */
export function writeFlat(
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
  if (copiesBySet(type, dtype)) {
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
        throw new CollateError(path, `sample ${sample}: element ${where}[${k}] is not an array; the shape is [${dims.join(', ')}]`);
      }
      offset = writeNested(child, dims, depth + 1, out, dtype, offset, kind, infer, state, path, sample, `${where}[${k}]`);
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
