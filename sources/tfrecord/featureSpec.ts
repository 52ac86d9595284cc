/**
 * Feature specs: what `tf.io.parse_single_example` and `parse_single_sequence_example` do with a
 * `FixedLenFeature` / `VarLenFeature` map, for decoded Examples.
 *
 * @module
 */
import { InvalidArgumentError } from '../../src/errors.js';
import { describe } from '../../src/excerpt.js';
import { setField } from '../../src/fields.js';
import { FeatureError } from './errors.js';
import type { Example, ExampleDecodeOptions, FeatureValue, Int64Mode, SequenceExample } from './example.js';

/**
 * The type of a spec'd feature. `int64` reads an `int64_list`, `float32` a `float_list`, `bytes`
 * and `string` a `bytes_list` (`string` decodes each value as UTF-8).
 * @public
 */
export type FeatureDtype = 'int64' | 'float32' | 'bytes' | 'string';

/**
 * A default for a missing fixed-length feature: one value (repeated to fill the shape) or every
 * value, row-major.
 * @public
 */
export type FeatureDefault =
  number | bigint | string | Uint8Array | readonly (number | bigint | string | Uint8Array)[] | ArrayLike<number> | ArrayLike<bigint>;

/**
 * A feature with exactly `product(shape)` values in every record, like `tf.io.FixedLenFeature`.
 * @public
 */
export interface FixedLenFeature {
  readonly kind: 'fixed';
  readonly dtype: FeatureDtype;
  /** Static shape; its product is the number of values required. `[]` is a scalar (one value). */
  readonly shape: readonly number[];
  /** Used when the feature is absent; without it an absent feature is an error. */
  readonly default?: FeatureDefault;
}

/**
 * A feature with any number of values, like `tf.io.VarLenFeature`; absent means empty.
 * @public
 */
export interface VarLenFeature {
  readonly kind: 'var';
  readonly dtype: FeatureDtype;
}

/**
 * Features to parse by name. Features of a record not named here are ignored, as TensorFlow does.
 * @public
 */
export type FeatureSpec = Readonly<Record<string, FixedLenFeature | VarLenFeature>>;

/**
 * The value a parsed feature of dtype `D` has: int64 -> the int64 mode's typed array, float32 ->
 * `Float32Array`, bytes -> `Uint8Array[]`, string -> `string[]`. Fixed-length values are flat
 * (row-major) with `product(shape)` entries.
 * @public
 */
export type ParsedValue<D extends FeatureDtype> = D extends 'int64'
  ? BigInt64Array | Float64Array | Int32Array
  : D extends 'float32'
    ? Float32Array
    : D extends 'bytes'
      ? Uint8Array[]
      : string[];

/**
 * An Example parsed with spec `S`.
 * @public
 */
export type ParsedExample<S extends FeatureSpec> = { -readonly [K in keyof S]: ParsedValue<S[K]['dtype']> };

/**
 * A SequenceExample parsed with a {@link SequenceFeatureSpec}.
 * @public
 */
export interface ParsedSequenceExample<C extends FeatureSpec, Q extends FeatureSpec> {
  readonly context: ParsedExample<C>;
  /**
   * Each feature list: for a fixed-length spec, the steps stacked into one flat array of
   * `steps x product(shape)` values; for a var-length spec, one array per step.
   */
  readonly sequence: { -readonly [K in keyof Q]: Q[K] extends FixedLenFeature ? ParsedValue<Q[K]['dtype']> : ParsedValue<Q[K]['dtype']>[] };
  /** Number of steps of each feature list. */
  readonly lengths: { -readonly [K in keyof Q]: number };
}

/**
 * Specs of a SequenceExample's context and feature lists, like the two dicts of
 * `tf.io.parse_single_sequence_example`.
 * @public
 */
export interface SequenceFeatureSpec<C extends FeatureSpec = FeatureSpec, Q extends FeatureSpec = FeatureSpec> {
  readonly context?: C;
  /** A fixed-length feature list must be present; a var-length one may be absent (no steps). */
  readonly sequence?: Q;
}

/**
 * A fixed-length feature spec, as `tf.io.FixedLenFeature(shape, dtype, default_value)`.
 *
 * @example
 * ```ts
 * import { fixedLenFeature } from 'rxfeed/tfrecord';
 * const spec = { label: fixedLenFeature('int64', []), pixels: fixedLenFeature('float32', [28, 28]) };
 * ```
 *
 * @param dtype - The feature type.
 * @param shape - The static shape (`[]` for one value).
 * @param defaultValue - Used when the feature is absent.
 * @returns The spec.
 * @public
 */
export function fixedLenFeature<D extends FeatureDtype>(
  dtype: D,
  shape: readonly number[],
  defaultValue?: FeatureDefault,
): FixedLenFeature & { readonly dtype: D } {
  return defaultValue === undefined ? { kind: 'fixed', dtype, shape } : { kind: 'fixed', dtype, shape, default: defaultValue };
}

/**
 * A var-length feature spec, as `tf.io.VarLenFeature(dtype)`.
 *
 * @example
 * ```ts
 * import { varLenFeature } from 'rxfeed/tfrecord';
 * const spec = { tokens: varLenFeature('int64') };
 * ```
 *
 * @param dtype - The feature type.
 * @returns The spec.
 * @public
 */
export function varLenFeature<D extends FeatureDtype>(dtype: D): VarLenFeature & { readonly dtype: D } {
  return { kind: 'var', dtype };
}

/** The most values a fixed-length feature may hold (2^31 - 1): its default is allocated whole. */
const MAX_FIXED_VALUES = 2 ** 31 - 1;

const checked = new WeakSet<object>();

/** Whether `value` may stand for one element of a default of `dtype`. */
function fitsDtype(value: unknown, dtype: FeatureDtype): boolean {
  switch (dtype) {
    case 'int64':
      return typeof value === 'bigint' ? BigInt.asIntN(64, value) === value : Number.isSafeInteger(value);
    case 'float32':
      return typeof value === 'number';
    case 'bytes':
      return typeof value === 'string' || value instanceof Uint8Array;
    case 'string':
      if (typeof value === 'string') return true;
      if (!(value instanceof Uint8Array)) return false;
      try {
        utf8.decode(value);
        return true;
      } catch {
        return false;
      }
  }
}

/**
 * Checks a spec once, before any record is read (a spec already checked is remembered).
 * @throws `InvalidArgumentError` naming the feature and what is wrong with its spec.
 * @internal
 */
export function validateSpec(spec: FeatureSpec, where: string): void {
  if (typeof spec !== 'object' || spec === null)
    throw new InvalidArgumentError(where, `must be an object of feature specs, got ${describe(spec)}`);
  if (checked.has(spec)) return;
  for (const [name, feature] of Object.entries(spec)) {
    const at = `${where}.${name}`;
    if (typeof feature !== 'object' || feature === null)
      throw new InvalidArgumentError(at, `must be a feature spec, got ${describe(feature)}`);
    if (feature.kind !== 'fixed' && feature.kind !== 'var') {
      throw new InvalidArgumentError(at, `kind must be 'fixed' or 'var'`);
    }
    if (!['int64', 'float32', 'bytes', 'string'].includes(feature.dtype)) {
      throw new InvalidArgumentError(at, `dtype must be int64, float32, bytes or string, got ${describe(feature.dtype)}`);
    }
    if (feature.kind === 'fixed') {
      if (!Array.isArray(feature.shape) || !feature.shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
        throw new InvalidArgumentError(at, `shape must be an array of non-negative integers`);
      }
      const count = sizeOf(feature.shape);
      if (count > MAX_FIXED_VALUES)
        throw new InvalidArgumentError(at, `shape [${feature.shape.join(', ')}] holds more than ${MAX_FIXED_VALUES} values`);
      if (feature.default !== undefined) {
        const values = defaultValues(feature.default, at);
        if (values.length !== 1 && values.length !== count) {
          throw new InvalidArgumentError(at, `default has ${values.length} values; shape needs 1 or ${count}`);
        }
        const wrong = values.findIndex((value) => !fitsDtype(value, feature.dtype));
        if (wrong >= 0)
          throw new InvalidArgumentError(at, `default value ${wrong} (${describe(values[wrong])}) is not a valid ${feature.dtype}`);
      }
    }
  }
  checked.add(spec);
}

function sizeOf(shape: readonly number[]): number {
  return shape.reduce((product, d) => product * d, 1);
}

function defaultValues(value: FeatureDefault, at = 'default'): readonly unknown[] {
  if (typeof value !== 'object' || value === null || value instanceof Uint8Array) return [value];
  const { length } = value as ArrayLike<unknown>;
  if (!Number.isSafeInteger(length) || length < 0 || length > MAX_FIXED_VALUES) {
    throw new InvalidArgumentError(at, 'default must be one value or an array of values');
  }
  return Array.from(value as ArrayLike<unknown>);
}

/** Sets `out[name]` as an own data property, so that a feature named `__proto__` stays data. */
function kindOf(value: FeatureValue): string {
  if (value === null) return 'an empty feature';
  if (value instanceof Float32Array) return 'a float_list';
  if (Array.isArray(value)) return 'a bytes_list';
  return 'an int64_list';
}

function emptyInt64Of(mode: Int64Mode): BigInt64Array | Float64Array | Int32Array {
  return mode === 'bigint' ? new BigInt64Array(0) : mode === 'number' ? new Float64Array(0) : new Int32Array(0);
}

function isInt64(value: FeatureValue): value is BigInt64Array | Float64Array | Int32Array {
  return value instanceof BigInt64Array || value instanceof Float64Array || value instanceof Int32Array;
}

const utf8 = new TextDecoder('utf-8', { fatal: true });
const utf8Encoder = new TextEncoder();

/** The feature's values as the dtype asks, or a FeatureError. `null` stands for an empty list. */
function typed(
  name: string,
  value: FeatureValue,
  dtype: FeatureDtype,
  emptyInt64: () => BigInt64Array | Float64Array | Int32Array,
): unknown {
  switch (dtype) {
    case 'int64':
      if (value === null) return emptyInt64();
      if (isInt64(value)) return value;
      break;
    case 'float32':
      if (value === null) return new Float32Array(0);
      if (value instanceof Float32Array) return value;
      break;
    case 'bytes':
      if (value === null) return [];
      if (Array.isArray(value)) return value;
      break;
    case 'string':
      if (value === null) return [];
      if (Array.isArray(value)) {
        return value.map((bytes, i) => {
          try {
            return utf8.decode(bytes);
          } catch {
            throw new FeatureError(name, 'decode', `value ${i} is not valid UTF-8`);
          }
        });
      }
      break;
  }
  throw new FeatureError(name, 'dtype', `expected ${dtype}, found ${kindOf(value)}`);
}

function lengthOf(value: unknown): number {
  return (value as ArrayLike<unknown>).length;
}

/** Builds the default of a fixed feature, in the representation of its dtype. */
function buildDefault(name: string, feature: FixedLenFeature, int64Sample: BigInt64Array | Float64Array | Int32Array): unknown {
  const count = sizeOf(feature.shape);
  const given = defaultValues(feature.default!);
  const at = (i: number): unknown => (given.length === 1 ? given[0] : given[i]);
  switch (feature.dtype) {
    case 'int64': {
      const Ctor = int64Sample.constructor as BigInt64ArrayConstructor | Float64ArrayConstructor | Int32ArrayConstructor;
      const out = new Ctor(count);
      for (let i = 0; i < count; i++) {
        const v = at(i);
        if (out instanceof BigInt64Array) out[i] = BigInt(v as number | bigint);
        else out[i] = Number(v);
      }
      return out;
    }
    case 'float32': {
      const out = new Float32Array(count);
      for (let i = 0; i < count; i++) out[i] = Number(at(i));
      return out;
    }
    case 'bytes':
      return Array.from({ length: count }, (_, i) => {
        const v = at(i);
        return typeof v === 'string' ? utf8Encoder.encode(v) : (v as Uint8Array).slice();
      });
    case 'string':
      return Array.from({ length: count }, (_, i) => {
        const v = at(i);
        return typeof v === 'string' ? v : utf8.decode(v as Uint8Array);
      });
  }
  return name;
}

/**
 * Parses a decoded Example with a spec, as `tf.io.parse_single_example` does: every spec'd
 * feature is checked for its list type and (fixed-length) its number of values; an absent
 * fixed-length feature takes its default or raises.
 *
 * @example
 * ```ts
 * import { decodeExample, fixedLenFeature, parseExample, varLenFeature } from 'rxfeed/tfrecord';
 * declare const record: Uint8Array;
 * const parsed = parseExample(decodeExample(record), {
 *   label: fixedLenFeature('int64', []),
 *   tokens: varLenFeature('int64'),
 * });
 * ```
 *
 * @param example - A decoded Example (see `decodeExample`).
 * @param spec - The features to parse.
 * @param options - The int64 mode the Example was decoded with (for defaults and empty lists).
 * @returns The parsed features, by the spec's names.
 * @throws {@link FeatureError} naming the feature on any mismatch; `InvalidArgumentError` for a
 *   malformed spec.
 * @public
 */
export function parseExample<S extends FeatureSpec>(example: Example, spec: S, options?: ExampleDecodeOptions): ParsedExample<S> {
  validateSpec(spec, 'parseExample.spec');
  if (typeof example !== 'object' || example === null) throw new InvalidArgumentError('parseExample.example', 'must be a decoded Example');
  const out: Record<string, unknown> = {};
  const int64Sample = emptyInt64Of(options?.int64 ?? 'bigint');
  const emptyInt64 = (): BigInt64Array | Float64Array | Int32Array => emptyInt64Of(options?.int64 ?? 'bigint');
  for (const [name, feature] of Object.entries(spec)) {
    const present = Object.prototype.hasOwnProperty.call(example, name);
    if (!present) {
      if (feature.kind === 'var') {
        setField(out, name, typed(name, null, feature.dtype, emptyInt64));
      } else if (feature.default !== undefined) {
        setField(out, name, buildDefault(name, feature, int64Sample));
      } else {
        throw new FeatureError(name, 'missing', 'absent from the record and the spec has no default');
      }
      continue;
    }
    const value = typed(name, example[name]!, feature.dtype, emptyInt64);
    if (feature.kind === 'fixed') {
      const expected = sizeOf(feature.shape);
      if (lengthOf(value) !== expected) {
        throw new FeatureError(name, 'shape', `has ${lengthOf(value)} value(s); shape [${feature.shape.join(', ')}] needs ${expected}`);
      }
    }
    setField(out, name, value);
  }
  return out as ParsedExample<S>;
}

/**
 * Parses a decoded SequenceExample with context and feature-list specs, as
 * `tf.io.parse_single_sequence_example` does. Fixed-length feature lists are stacked into one
 * flat array (`steps x product(shape)` values).
 *
 * @example
 * ```ts
 * import { decodeSequenceExample, fixedLenFeature, parseSequenceExample } from 'rxfeed/tfrecord';
 * declare const record: Uint8Array;
 * const parsed = parseSequenceExample(decodeSequenceExample(record), {
 *   context: { id: fixedLenFeature('int64', []) },
 *   sequence: { frame: fixedLenFeature('float32', [3]) },
 * });
 * ```
 *
 * @param example - A decoded SequenceExample.
 * @param spec - The context and sequence specs.
 * @param options - The int64 mode the SequenceExample was decoded with.
 * @returns Context features, feature lists and their step counts.
 * @throws {@link FeatureError} naming the feature on any mismatch; `InvalidArgumentError` for a
 *   malformed spec.
 * @public
 */
export function parseSequenceExample<C extends FeatureSpec, Q extends FeatureSpec>(
  example: SequenceExample,
  spec: SequenceFeatureSpec<C, Q>,
  options?: ExampleDecodeOptions,
): ParsedSequenceExample<C, Q> {
  if (typeof spec !== 'object' || spec === null) throw new InvalidArgumentError('parseSequenceExample.spec', 'must be an object');
  validateSpec(spec.sequence ?? {}, 'parseSequenceExample.spec.sequence');
  if (typeof example !== 'object' || example === null || typeof example.featureLists !== 'object' || example.featureLists === null) {
    throw new InvalidArgumentError('parseSequenceExample.example', 'must be a decoded SequenceExample');
  }
  const context = parseExample(example.context, spec.context ?? ({} as C), options);
  const sequence: Record<string, unknown> = {};
  const lengths: Record<string, number> = {};
  const emptyInt64 = (): BigInt64Array | Float64Array | Int32Array => emptyInt64Of(options?.int64 ?? 'bigint');
  for (const [name, feature] of Object.entries(spec.sequence ?? {})) {
    const present = Object.prototype.hasOwnProperty.call(example.featureLists, name);
    if (!present && feature.kind === 'fixed') {
      throw new FeatureError(name, 'missing', 'feature list absent from the record');
    }
    const steps = present ? example.featureLists[name]! : [];
    const values = steps.map((step) => typed(name, step, feature.dtype, emptyInt64));
    setField(lengths, name, steps.length);
    if (feature.kind === 'var') {
      setField(sequence, name, values);
      continue;
    }
    const per = sizeOf(feature.shape);
    values.forEach((value, i) => {
      if (lengthOf(value) !== per) {
        throw new FeatureError(
          name,
          'shape',
          `step ${i} has ${lengthOf(value)} value(s); shape [${feature.shape.join(', ')}] needs ${per}`,
        );
      }
    });
    setField(sequence, name, stack(values, feature.dtype, per, emptyInt64));
  }
  return { context, sequence, lengths } as unknown as ParsedSequenceExample<C, Q>;
}

function stack(values: unknown[], dtype: FeatureDtype, per: number, emptyInt64: () => BigInt64Array | Float64Array | Int32Array): unknown {
  if (dtype === 'bytes' || dtype === 'string') return (values as unknown[][]).flat();
  const sample = dtype === 'float32' ? new Float32Array(0) : emptyInt64();
  const Ctor = sample.constructor as Float32ArrayConstructor;
  const out = new Ctor(values.length * per);
  values.forEach((value, i) => out.set(value as Float32Array, i * per));
  return out;
}
