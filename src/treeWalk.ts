/**
 * The one walk over nested samples and batches, shared by collation, `toDevice`, disposal and
 * image-field decoding, so that what counts as a container, how keys are read and how a path is
 * spelled are decided once.
 *
 * Modelled on tfjs-data's `util/deep_map.ts`: a mapper looks at each node and either gives its
 * result (`recurse: false`) or asks for the node's children to be walked, and the walk builds a
 * container of the same kind (array or plain object) from their results. {@link zipTrees} walks
 * several trees in lockstep (a batch of samples, as `deepZip` does); {@link mapTree} is the walk
 * of one tree.
 *
 * Keys are data: children are read as own enumerable properties only, and written with
 * `setField`, so a sample key named `__proto__` or `toString` is an ordinary field.
 *
 * @module
 * @internal
 */
import { setField } from './fields.js';

/**
 * What a mapper makes of one node.
 * @internal
 */
export interface TreeStep<C> {
  /** Walk the node's children and build a container of the same kind from their results. */
  readonly recurse: boolean;
  /** The node's result when `recurse` is false. */
  readonly value?: unknown;
  /** Handed to the mapper with each child when `recurse` is true (the policy in force below). */
  readonly context?: C;
}

/**
 * Looks at the values found at `path` in each tree (`undefined` where a tree has nothing there).
 * @internal
 */
export type TreeZipper<C> = (values: readonly unknown[], path: string, context: C) => TreeStep<C>;

/**
 * Looks at the value found at `path`.
 * @internal
 */
export type TreeMapper<C> = (value: unknown, path: string, context: C) => TreeStep<C>;

/**
 * Spells the path of a child: `parent` is `''` at the root.
 * @internal
 */
export type PathJoin = (parent: string, key: string | number) => string;

/**
 * `image`, `meta.lang`, `pair[1]`: the paths of `CollateOptions.keys` and collate's errors.
 * @internal
 */
export const keyPath: PathJoin = (parent, key) =>
  typeof key === 'number' ? `${parent}[${key}]` : parent === '' ? key : `${parent}.${key}`;

/**
 * `rows.label`, `pair.1`: the dotted paths of `toDevice`'s `host` option and its errors.
 * @internal
 */
export const dottedPath: PathJoin = (parent, key) => (parent === '' ? String(key) : `${parent}.${key}`);

/**
 * Whether the walk would look inside `value`: arrays and plain objects (no prototype, or
 * `Object.prototype`). Class instances, typed arrays, Maps and tensors are leaves.
 * @internal
 */
export function isPlainContainer(value: unknown): value is Record<string, unknown> | unknown[] {
  if (typeof value !== 'object' || value === null) return false;
  if (Array.isArray(value)) return true;
  const prototype: unknown = Object.getPrototypeOf(value);
  return prototype === Object.prototype || prototype === null;
}

/**
 * Walk `trees` in lockstep. Where the zipper asks to recurse, the children are the positions of
 * the arrays among the values (as many as the longest has) or the union of the objects' own keys
 * (in first-seen order); a tree that lacks a child, or holds a scalar there, gives `undefined`
 * for it. Whether the first present value is an array decides which; a zipper that recurses
 * where the trees mix arrays and objects gets what each holds under the other's keys.
 *
 * @param trees - The trees, e.g. the samples of a batch.
 * @param zipper - Decides each node, given its values, path and the context from its parent.
 * @param context - The root's context.
 * @param join - How child paths are spelled; {@link keyPath} by default.
 * @param path - The path of `trees` themselves: `''` for roots, a field's path to walk a column
 * found by another walk.
 * @returns The root's result.
 * @internal
 */
export function zipTrees<C>(trees: readonly unknown[], zipper: TreeZipper<C>, context: C, join: PathJoin = keyPath, path = ''): unknown {
  return zipNode(trees, path, context, zipper, join);
}

/**
 * Walk one tree: {@link zipTrees} of `[tree]`.
 *
 * @param tree - The tree.
 * @param mapper - Decides each node, given its value, path and the context from its parent.
 * @param context - The root's context.
 * @param join - How child paths are spelled; {@link keyPath} by default.
 * @returns The root's result.
 * @internal
 */
export function mapTree<C>(tree: unknown, mapper: TreeMapper<C>, context: C, join: PathJoin = keyPath): unknown {
  return zipNode([tree], '', context, (values, path, inherited) => mapper(values[0], path, inherited), join);
}

function zipNode<C>(values: readonly unknown[], path: string, context: C, zipper: TreeZipper<C>, join: PathJoin): unknown {
  const step = zipper(values, path, context);
  if (!step.recurse) return step.value;
  const inner = step.context as C;
  let first: unknown;
  for (const value of values) {
    if (value !== undefined && value !== null) {
      first = value;
      break;
    }
  }
  // One column, reused for every child: a child's walk is done with it before the next begins.
  const column = new Array<unknown>(values.length);
  if (Array.isArray(first)) {
    let length = 0;
    for (const value of values) if (Array.isArray(value)) length = Math.max(length, value.length);
    const out = new Array<unknown>(length);
    for (let j = 0; j < length; j++) {
      for (let i = 0; i < values.length; i++) {
        const value = values[i];
        column[i] = Array.isArray(value) ? (value as unknown[])[j] : undefined;
      }
      out[j] = zipNode(column, join(path, j), inner, zipper, join);
    }
    return out;
  }
  const out: Record<string, unknown> = {};
  for (const key of unionOfKeys(values)) {
    const inherited = isInherited(key);
    for (let i = 0; i < values.length; i++) {
      const value = values[i];
      column[i] = typeof value === 'object' && value !== null ? fieldOf(value as Record<string, unknown>, key, inherited) : undefined;
    }
    setField(out, key, zipNode(column, join(path, key), inner, zipper, join));
  }
  return out;
}

/** Own keys of the objects among `values` (nulls skipped), in first-seen order. */
function unionOfKeys(values: readonly unknown[]): string[] {
  let first: string[] | undefined;
  let keys: Set<string> | undefined;
  for (const value of values) {
    if (typeof value !== 'object' || value === null || Array.isArray(value)) continue;
    if (first === undefined) {
      first = Object.keys(value);
      continue;
    }
    if (keys === undefined && hasKeysInOrder(value, first)) continue;
    keys ??= new Set(first);
    for (const key of Object.keys(value)) keys.add(key);
  }
  return keys === undefined ? (first ?? []) : [...keys];
}

/**
 * Whether `object` enumerates exactly `keys`, in order: the common case of samples built alike.
 * A `for...in` walk allocates nothing, unlike `Object.keys`, which matters at one call per sample.
 * @internal
 */
export function hasKeysInOrder(object: object, keys: readonly string[]): boolean {
  let k = 0;
  for (const key in object) {
    if (key !== keys[k]) return false;
    k++;
  }
  return k === keys.length;
}

/**
 * Whether a plain object lacking `key` would still answer it from `Object.prototype` (`toString`, `__proto__`).
 * @internal
 */
export const isInherited = (key: string): boolean => key in Object.prototype;

/**
 * The value's own field `key`, `undefined` when it has none. Keys are data: a sample without a
 * `toString` or `__proto__` field misses it, whatever `Object.prototype` holds under that name.
 * `inherited` (from {@link isInherited}) keeps the own-property test off the common keys.
 * @internal
 */
export function fieldOf(value: Record<string, unknown>, key: string, inherited: boolean): unknown {
  return inherited && !Object.hasOwn(value, key) ? undefined : value[key];
}
