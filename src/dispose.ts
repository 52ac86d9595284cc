/**
 * Releasing items that a pipeline drops on teardown.
 *
 * When a loop breaks or a pipeline errors, items already pulled but not yet delivered (a loader's
 * queue, a shuffle buffer, a partial batch) are dropped. Where they own resources (tfjs tensors,
 * `using`-style objects) they are disposed here, so a cancelled loop leaks nothing.
 *
 * @module
 */

/**
 * Dispose `value` if it is disposable: `Symbol.dispose`, else a `dispose()` method (tfjs tensors);
 * an array (a batch) has each of its elements disposed. Errors from a disposer are swallowed:
 * teardown must go on for the other items.
 * @public
 */
export function disposeItem(value: unknown): void {
  if (typeof value !== 'object' || value === null) return;
  if (Array.isArray(value)) {
    for (const element of value) disposeItem(element);
    return;
  }
  try {
    const disposable = value as { [Symbol.dispose]?: () => void; dispose?: () => void };
    if (typeof disposable[Symbol.dispose] === 'function') disposable[Symbol.dispose]!();
    else if (typeof disposable.dispose === 'function') disposable.dispose();
  } catch {
    // A failing disposer must not stop the release of the rest.
  }
}

/**
 * Dispose every item of `values` (see {@link disposeItem}).
 * @public
 */
export function disposeAll(values: Iterable<unknown>): void {
  for (const value of values) disposeItem(value);
}
