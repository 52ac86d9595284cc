/**
 * Releasing items that a pipeline drops on teardown.
 *
 * When a loop breaks or a pipeline errors, items already pulled but not yet delivered (a loader's
 * queue, a shuffle buffer, a partial batch) are dropped. Where they own resources (tfjs tensors,
 * `using`-style objects) they are disposed here, so a cancelled loop leaks nothing.
 *
 * @module
 */
import { isPlainContainer, mapTree, type TreeStep } from './treeWalk.js';

/**
 * Dispose `value` if it is disposable: `Symbol.dispose`, else a `dispose()` method (tfjs tensors).
 * Arrays (a batch) and plain objects (a sample `{ image, label }`) that are not disposable
 * themselves have what they hold disposed, as `tf.dispose` walks a container; an object is visited
 * once however often it is referred to. Errors from a disposer are swallowed: teardown must go on
 * for the other items.
 * @public
 */
export function disposeItem(value: unknown): void {
  if (typeof value !== 'object' || value === null || holdsNothingDisposable(value)) return;
  const seen = new Set<object>();
  mapTree(
    value,
    (node): TreeStep<undefined> => {
      if (typeof node !== 'object' || node === null || seen.has(node)) return { recurse: false };
      seen.add(node);
      const disposable = node as { [Symbol.dispose]?: () => void; dispose?: () => void };
      try {
        if (typeof disposable[Symbol.dispose] === 'function') disposable[Symbol.dispose]!();
        else if (typeof disposable.dispose === 'function') disposable.dispose();
        else return { recurse: isPlainContainer(node) };
      } catch {
        // A failing disposer must not stop the release of the rest.
      }
      return { recurse: false };
    },
    undefined,
  );
}

/**
 * Dispose every item of `values` (see {@link disposeItem}).
 * @public
 */
export function disposeAll(values: Iterable<unknown>): void {
  for (const value of values) disposeItem(value);
}

/**
 * True for the common sample that cannot hold anything disposable: a plain object or array whose
 * values are primitives and typed arrays. Operators that drop items (`shard`, `batch` with
 * `dropRemainder`) dispose each one, so this keeps them from walking every dropped sample.
 */
function holdsNothingDisposable(node: object): boolean {
  if (!isPlainContainer(node) || typeof (node as { [Symbol.dispose]?: unknown })[Symbol.dispose] === 'function') {
    return false;
  }
  for (const key in node) {
    const field = (node as Record<string, unknown>)[key];
    if (typeof field === 'function') return false; // a `dispose` method, say
    if (typeof field !== 'object' || field === null) continue;
    if (!ArrayBuffer.isView(field) || typeof (field as { [Symbol.dispose]?: unknown })[Symbol.dispose] === 'function') {
      return false;
    }
  }
  return true;
}
