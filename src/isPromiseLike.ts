/**
 * True for anything with a `then` method: how rxfeed tells an asynchronous answer (a pull, a task
 * result, a decode) from a synchronous one without requiring a native Promise.
 * @internal
 */
export function isPromiseLike<T = unknown>(value: unknown): value is PromiseLike<T> {
  return typeof (value as PromiseLike<T> | null)?.then === 'function';
}
