/**
 * The module every worker thread of a {@link WorkerExecutor} loads: it imports the task module a
 * request names, calls the export, and moves the result's buffers back to the main thread.
 *
 * Errors are returned as data, not thrown: `postMessage` clones an `Error` to its message and
 * stack only, and rxfeed's errors carry a stable `code` the main thread should still see.
 *
 * @module
 * @internal
 */
import { move, transferableSymbol, valueSymbol } from 'piscina';
import { prepareTransfer } from './transfer.js';

/** What the main thread posts: one task export, run on a batch of items. @internal */
export interface WorkerRequest {
  readonly module: string;
  readonly exportName: string;
  readonly seed: number;
  readonly options: unknown;
  /** Move the results' buffers back instead of cloning them. */
  readonly transfer: boolean;
  readonly items: readonly { readonly value: unknown; readonly index: number; readonly epoch: number }[];
}

/** An error thrown by a task, as plain data. @internal */
export interface RemoteError {
  readonly name: string;
  readonly message: string;
  readonly code?: string;
  readonly stack?: string;
}

/** What a worker answers. @internal */
export type WorkerResponse = { readonly ok: true; readonly value: unknown } | { readonly ok: false; readonly error: RemoteError };

type TaskExport = (value: unknown, context: object) => unknown;

// One import per module and export per thread; modules are cached by the loader anyway.
const tasks = new Map<string, Promise<TaskExport>>();

function load(module: string, exportName: string): Promise<TaskExport> {
  const key = `${module}#${exportName}`;
  let task = tasks.get(key);
  if (task === undefined) {
    task = import(module).then((namespace: Record<string, unknown>) => {
      const found = namespace[exportName];
      if (typeof found !== 'function') {
        throw Object.assign(new Error(`${module} has no function export '${exportName}'`), {
          code: 'RXFEED_ERR_INVALID_ARG',
        });
      }
      return found as TaskExport;
    });
    // A failed import is not cached: the next request retries it and reports the same error.
    task.catch(() => tasks.delete(key));
    tasks.set(key, task);
  }
  return task;
}

function toRemote(error: unknown): RemoteError {
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

/**
 * Run a request's items in this worker thread; answers one {@link WorkerResponse} per item, in order.
 * The items start at once, so asynchronous tasks overlap; synchronous ones run one after another.
 * @internal
 */
export default async function runTask(request: WorkerRequest): Promise<unknown> {
  let task: TaskExport;
  try {
    task = await load(request.module, request.exportName);
  } catch (error) {
    const failed: WorkerResponse = { ok: false, error: toRemote(error) };
    return request.items.map(() => failed);
  }
  const responses = await Promise.all(
    request.items.map(async ({ value, index, epoch }): Promise<WorkerResponse> => {
      try {
        const context = { index, epoch, seed: request.seed, options: request.options };
        return { ok: true, value: await task(value, context) };
      } catch (error) {
        return { ok: false, error: toRemote(error) };
      }
    }),
  );
  if (!request.transfer) return responses;
  const { value, transferList } = prepareTransfer(responses);
  if (transferList.length === 0) return value;
  return move({ [transferableSymbol]: transferList, [valueSymbol]: value });
}
