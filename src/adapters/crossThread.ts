/**
 * What crosses a thread boundary besides payloads: code, named by module URL and export (closures
 * cannot cross threads), and errors, as plain data.
 *
 * Errors travel as data because `postMessage` clones an `Error` to its message and stack only,
 * and rxfeed's errors carry a stable `code` the main thread should still see.
 *
 * @module
 * @internal
 */
import { InvalidArgumentError } from '../errors.js';

/** An error thrown in a worker thread, as plain data. @internal */
export interface RemoteError {
  readonly name: string;
  readonly message: string;
  readonly code?: string;
  readonly stack?: string;
}

/** An error as {@link RemoteError} data, its `code` kept. @internal */
export function toRemote(error: unknown): RemoteError {
  if (error instanceof Error) {
    const code = (error as { code?: unknown }).code;
    return {
      name: error.name,
      message: error.message,
      ...(typeof code === 'string' ? { code } : {}),
      ...(error.stack === undefined ? {} : { stack: error.stack }),
    };
  }
  return { name: 'Error', message: String(error) };
}

/** Rebuild a {@link RemoteError} as an `Error` to be a `cause`: its name, message, code and stack. @internal */
export function fromRemote(remote: RemoteError): Error {
  const error = Object.assign(new Error(remote.message), {
    name: remote.name,
    ...(remote.code === undefined ? {} : { code: remote.code }),
  });
  if (remote.stack !== undefined) error.stack = remote.stack;
  return error;
}

// One import per module and export per thread; modules are cached by the loader anyway.
const exports = new Map<string, Promise<unknown>>();

/**
 * The function export `exportName` of the ES module at `module` (a `file:` URL), imported once
 * per thread. A failed import is not cached: the next call retries it and reports the same error.
 *
 * @param where - The option named in the error when the module has no such function export.
 * @internal
 */
export function loadExport<F>(module: string, exportName: string, where: string): Promise<F> {
  const key = `${module}#${exportName}`;
  let found = exports.get(key);
  if (found === undefined) {
    found = import(module).then((namespace: Record<string, unknown>) => {
      const value = namespace[exportName];
      if (typeof value !== 'function') {
        throw new InvalidArgumentError(where, `${module} has no function export '${exportName}'`);
      }
      return value;
    });
    found.catch(() => exports.delete(key));
    exports.set(key, found);
  }
  return found as Promise<F>;
}
