/**
 * The module every worker thread of a {@link WorkerExecutor} loads: it imports the task module a
 * request names, calls the export, and moves the result's buffers back to the main thread.
 *
 * Errors are returned as data, not thrown: `postMessage` clones an `Error` to its message and
 * stack only, and rxfeed's errors carry a stable `code` the main thread should still see.
 *
 * A task can also kill its thread (`process.exit`, running out of memory): then no answer comes
 * back for any item of the message. So that the executor can still name the item that did it,
 * the thread records each item's progress in a `SharedArrayBuffer` the main thread reads after
 * the death (see {@link WorkerRequest.progress}).
 *
 * @module
 * @internal
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { move, transferableSymbol, valueSymbol } from 'piscina';
import { loadExport, toRemote, type RemoteError } from './crossThread.js';
import { prepareTransfer } from './transfer.js';

export type { RemoteError } from './crossThread.js';

/** What the main thread posts: one task export, run on a batch of items. @internal */
export interface WorkerRequest {
  readonly module: string;
  readonly exportName: string;
  readonly seed: number;
  readonly options: unknown;
  /** Move the results' buffers back instead of cloning them. */
  readonly transfer: boolean;
  readonly items: readonly { readonly value: unknown; readonly index: number; readonly epoch: number }[];
  /**
   * Over a `SharedArrayBuffer`, {@link PROGRESS_HEADER} + one cell per item: the thread writes
   * {@link Progress} states into it as it goes, and the main thread reads them when the thread
   * died before answering.
   */
  readonly progress: Int32Array;
}

/**
 * Cells of {@link WorkerRequest.progress}: `[RECEIVED]` is 1 once the thread took the message;
 * `[EXITED]` is 1 + the slot of the item whose code called `process.exit`; item `i`'s state is at
 * `PROGRESS_HEADER + i`.
 * @internal
 */
export const ProgressCell = { Received: 0, Exited: 1 } as const;

/** Cells before the items' states in {@link WorkerRequest.progress}. @internal */
export const PROGRESS_HEADER = 2;

/**
 * An item's state in {@link WorkerRequest.progress}.
 * @internal
 */
export const Progress = {
  /** Not started. */
  Queued: 0,
  /** The task's synchronous part is running: a death now is this item's doing. */
  Running: 1,
  /** The task returned a promise that has not settled: a death now may be this item's doing. */
  Pending: 2,
  /** Answered (a value or an error). */
  Settled: 3,
} as const;

/** What a worker answers. @internal */
export type WorkerResponse = { readonly ok: true; readonly value: unknown } | { readonly ok: false; readonly error: RemoteError };

type TaskExport = (value: unknown, context: object) => unknown;

/** The item whose code is running, through its awaits too, for the exit hook below. */
const current = new AsyncLocalStorage<{ readonly progress: Int32Array; readonly slot: number }>();
let exitWatched = false;

/**
 * `process.exit` in a worker thread runs the thread's 'exit' listeners synchronously, inside the
 * caller's async context: record which item called it, even after an await.
 */
function watchExit(): void {
  if (exitWatched) return;
  exitWatched = true;
  process.on('exit', () => {
    const at = current.getStore();
    if (at !== undefined) Atomics.store(at.progress, ProgressCell.Exited, at.slot + 1);
  });
}

/**
 * Run a request's items in this worker thread; answers one {@link WorkerResponse} per item, in order.
 * The items start at once, so asynchronous tasks overlap; synchronous ones run one after another.
 * @internal
 */
export default async function runTask(request: WorkerRequest): Promise<unknown> {
  watchExit();
  const { progress } = request;
  Atomics.store(progress, ProgressCell.Received, 1);
  let task: TaskExport;
  try {
    task = await loadExport<TaskExport>(request.module, request.exportName, 'workerFn.exportName');
  } catch (error) {
    const failed: WorkerResponse = { ok: false, error: toRemote(error) };
    return request.items.map(() => failed);
  }
  const responses = await Promise.all(
    request.items.map(async ({ value, index, epoch }, slot): Promise<WorkerResponse> => {
      const cell = PROGRESS_HEADER + slot;
      try {
        const context = { index, epoch, seed: request.seed, options: request.options };
        Atomics.store(progress, cell, Progress.Running);
        const answer = current.run({ progress, slot }, () => task(value, context));
        Atomics.store(progress, cell, Progress.Pending);
        return { ok: true, value: await answer };
      } catch (error) {
        return { ok: false, error: toRemote(error) };
      } finally {
        Atomics.store(progress, cell, Progress.Settled);
      }
    }),
  );
  if (!request.transfer) return responses;
  const { value, transferList } = prepareTransfer(responses);
  if (transferList.length === 0) return value;
  return move({ [transferableSymbol]: transferList, [valueSymbol]: value });
}
