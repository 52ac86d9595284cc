/**
 * Collation: a batch of nested samples becomes one structure of contiguous host tensors.
 *
 * A sample is any mix of objects, tuples, numbers, bigints, booleans, strings, typed arrays,
 * `Uint8Array` bytes, nested JS arrays and already-shaped leaves (`{ data, shape, dtype }`). Collating
 * `B` samples walks them key by key in lockstep (`zipTrees` of `./treeWalk.ts`) and, at each leaf,
 * allocates ONE output array of the right dtype for the whole batch and fills it in place
 * (`./collateLeaves.ts`): no per-element intermediate arrays, so the cost stays close to a
 * hand-written loop (see `bench/`).
 *
 * This file holds the walk and the {@link Collated} result type; the tensor vocabulary it shares
 * with `padToBatch`, `toDevice` and the adapters is in `./tensor.ts`, the options in
 * `./collateOptions.ts`.
 *
 * @module
 */
import { collateBytesList, collateRowsOf, collateScalars, type Kind } from './collateLeaves.js';
import { policyAt, resolveCollateOptions, type CollateOptions, type Policy, type Settings } from './collateOptions.js';
import { CollateError } from './errors.js';
import {
  isPaddedBatch,
  isShapedLeaf,
  dtypeOfTypedArray,
  type AnyTypedArray,
  type HostTensor,
  type PaddedBatch,
  type ShapedLeaf,
} from './tensor.js';
import { zipTrees, type TreeStep } from './treeWalk.js';

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

/** True when nested arrays of `E` bottom out in scalars, i.e. collate to one tensor. */
type IsTensorElement<E> = [E] extends [Scalar] ? true : [E] extends [readonly (infer F)[]] ? IsTensorElement<NonNullable<F>> : false;

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

const UNSUPPORTED_OBJECTS: readonly (abstract new (...args: never[]) => unknown)[] = [
  Map,
  Set,
  Date,
  RegExp,
  Promise,
  ArrayBuffer,
  DataView,
];

/**
 * Kind of a present (non-null) value, or a description of why it cannot be collated.
 * @internal
 */
export function kindOf(value: unknown): Kind | { unsupported: string } {
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
 * import { collateBatch } from 'rxfeed';
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
 * How the samples of a batch (at least one, after any `'skip'`) become its collated structure:
 * the general walk ({@link walkSamples}) or a layout planned from an earlier batch
 * (`./collatePlan.ts`).
 * @internal
 */
export type SamplesCollator = (samples: readonly unknown[], settings: Settings) => unknown;

/**
 * {@link collateBatch} with options already resolved by `resolveCollateOptions`.
 * @internal
 */
export function collateWith(
  batch: readonly unknown[] | PaddedBatch<unknown>,
  settings: Settings,
  collateSamples: SamplesCollator = walkSamples,
): unknown {
  if (Array.isArray(batch)) {
    const keep = settings.anySkip ? rowsToKeep(batch, settings) : undefined;
    return collateSamples(nonEmpty(keep === undefined ? batch : keep.map((i) => batch[i])), settings);
  }
  if (!isPaddedBatch(batch)) {
    throw new CollateError('', 'a batch must be an array of samples or a PaddedBatch {rows, mask, index}');
  }
  let { rows, mask, index } = batch;
  if (mask.length !== rows.length || index.length !== rows.length) {
    throw new CollateError('', `PaddedBatch has ${rows.length} rows but mask ${mask.length} and index ${index.length} entries`);
  }
  const keep = settings.anySkip ? rowsToKeep(rows, settings) : undefined;
  if (keep !== undefined) {
    rows = keep.map((i) => rows[i]);
    mask = Uint8Array.from(keep, (i) => mask[i]);
    index = Float64Array.from(keep, (i) => index[i]);
  }
  return {
    rows: collateSamples(nonEmpty(rows), settings),
    mask: { data: mask, shape: [mask.length], dtype: 'bool' },
    index: { data: index, shape: [index.length], dtype: 'float64' },
  };
}

function nonEmpty(samples: readonly unknown[]): readonly unknown[] {
  if (samples.length === 0) throw new CollateError('', 'cannot collate an empty batch');
  return samples;
}

/**
 * The general walk: every node of every sample looked at anew, as {@link collateBatch} documents.
 * @internal
 */
export function walkSamples(samples: readonly unknown[], settings: Settings): unknown {
  return zipTrees(samples, collator(settings), settings.root);
}

// ---------------------------------------------------------------------------------------------
// 'skip': find the samples that miss a field under a 'skip' policy, before collating.

/** Positions of the samples to keep, or `undefined` when none is dropped. */
function rowsToKeep(samples: readonly unknown[], settings: Settings): number[] | undefined {
  const drop = new Set<number>();
  // The same walk as collation's, stopping where it would collate a leaf.
  zipTrees(
    samples,
    (values, path, inherited: Policy): TreeStep<Policy> => {
      const policy = policyAt(settings.keys, path, inherited);
      let first: unknown;
      for (let i = 0; i < values.length; i++) {
        const value = values[i];
        if (value === undefined || value === null) {
          if (policy.missing === 'skip') drop.add(i);
        } else if (first === undefined) {
          first = value;
        }
      }
      const kind = first === undefined ? undefined : kindOf(first);
      return { recurse: kind === 'object' || (kind === 'array' && !isTensorArray(values)), context: policy };
    },
    settings.root,
  );
  if (drop.size === 0) return undefined;
  const keep: number[] = [];
  for (let i = 0; i < samples.length; i++) if (!drop.has(i)) keep.push(i);
  if (keep.length === 0) {
    throw new CollateError('', `every sample of the batch (${samples.length}) misses a field under missing: 'skip'`);
  }
  return keep;
}

// ---------------------------------------------------------------------------------------------
// The walk.

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

/**
 * What collation does at each node of the walk: collate a leaf, or ask for the children.
 * @internal
 */
export function collator(settings: Settings): (values: readonly unknown[], path: string, inherited: Policy) => TreeStep<Policy> {
  return (values, path, inherited) => {
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
      throw new CollateError(path, `missing in every sample of the batch (${values.length}): nothing to infer its type from`);
    }
    if (firstMissing >= 0 && (policy.missing === 'error' || policy.missing === 'skip')) {
      // 'skip' reaches here only for a field whose policy differs between the pre-pass and now,
      // which cannot happen; report it as a missing field rather than emit a wrong batch.
      throw new CollateError(
        path,
        `missing in sample ${firstMissing} (present in sample ${first}); ` + "set missing: 'zero' | 'mask' | 'skip' to allow it",
      );
    }
    let tensor: HostTensor;
    switch (kind) {
      case 'object':
        return { recurse: true, context: policy };
      case 'array':
        if (!isTensorArray(values)) return { recurse: true, context: policy };
        tensor = collateRowsOf(values, 'nested', path, policy, settings);
        break;
      case 'bytes':
        tensor =
          policy.dtype === 'bytes' || (policy.dtype === undefined && settings.bytes === 'list')
            ? collateBytesList(values)
            : collateRowsOf(values, 'typed', path, policy, settings);
        break;
      case 'typed':
        tensor = collateRowsOf(values, 'typed', path, policy, settings);
        break;
      case 'shaped':
        tensor = collateRowsOf(values, 'shaped', path, policy, settings);
        break;
      default:
        tensor = collateScalars(values, kind, path, policy, settings);
    }
    return { recurse: false, value: withMask(tensor, values, policy) };
  };
}

/**
 * `tensor`, with the `mask` of the present `values` under `missing: 'mask'`.
 * @internal
 */
export function withMask(tensor: HostTensor, values: readonly unknown[], policy: Policy): HostTensor {
  if (policy.missing !== 'mask') return tensor;
  const mask = new Uint8Array(values.length);
  for (let i = 0; i < values.length; i++) mask[i] = values[i] === undefined || values[i] === null ? 0 : 1;
  tensor.mask = mask;
  return tensor;
}
