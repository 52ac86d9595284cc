/**
 * The fuzz worker: a child process that runs one target's cases, one at a time, sent by the
 * parent (`harness.ts`) over IPC. It runs in a process of its own so that a native abort (the
 * libjpeg-turbo binding allocating from an unchecked header), a synchronous infinite loop or an
 * out-of-memory kill is seen by the parent as one failing case, which fast-check then shrinks.
 *
 * Usage (by the harness only): `node worker.js <target>`.
 */
import { RxfeedError } from '../../src/errors.js';
import { REFUSED, startMeter, stopMeter } from './meter.js';
import type { FuzzTarget } from './targets/target.js';

/** How a case ended, as the worker sees it (the parent adds `hang` and `crash`). */
export interface WorkerOutcome {
  readonly kind: 'ok' | 'typed' | 'untyped' | 'invariant' | 'over-allocation';
  /** The RxfeedError's code, for `typed`. */
  readonly code?: string;
  /** The error's class and a bounded excerpt of its message, for anything but `ok`. */
  readonly error?: string;
  /** Largest single allocation seen, in bytes. */
  readonly largest: number;
  /** Bytes of the input (the allocation bound's unit). */
  readonly inputBytes: number;
}

/** A message from the parent. */
export type WorkerRequest = { readonly id: number; readonly input: unknown } | { readonly close: true };

const name = process.argv[2]!;
const target = ((await import(`./targets/${name}.js`)) as { target: FuzzTarget }).target;
await target.setup?.();

/** Rejections no one awaited, from the case that is running: a failure of that case. */
let stray: unknown[] = [];
process.on('unhandledRejection', (reason) => stray.push(reason));

function describe(error: unknown): string {
  const text = error instanceof Error ? `${error.constructor.name}: ${error.message}` : `non-Error thrown: ${String(error)}`;
  return text.length > 300 ? `${text.slice(0, 300)}...` : text;
}

function isRefusal(error: unknown): boolean {
  for (let cause = error, depth = 0; cause instanceof Error && depth < 8; cause = cause.cause, depth++) {
    if (cause.message.startsWith(REFUSED)) return true;
  }
  return false;
}

async function runCase(input: unknown): Promise<WorkerOutcome> {
  stray = [];
  const inputBytes = target.inputBytes(input);
  startMeter();
  let thrown: { error: unknown } | undefined;
  try {
    await target.run(input);
  } catch (error) {
    thrown = { error };
  }
  // Let a rejection made at the very end reach its handler before the case is judged.
  await new Promise((resolve) => setImmediate(resolve));
  const { largest, refused } = stopMeter();
  if (refused > 0 || (thrown !== undefined && isRefusal(thrown.error))) {
    return { kind: 'over-allocation', error: `asked for ${refused} bytes at once`, largest: Math.max(largest, refused), inputBytes };
  }
  if (stray.length > 0) return { kind: 'untyped', error: `unhandled rejection: ${describe(stray[0])}`, largest, inputBytes };
  if (thrown === undefined) return { kind: 'ok', largest, inputBytes };
  const { error } = thrown;
  if (error instanceof Error && error.name === 'FuzzInvariantError')
    return { kind: 'invariant', error: describe(error), largest, inputBytes };
  if (error instanceof RxfeedError && /^RXFEED_ERR_[A-Z0-9_]+$/.test(error.code)) {
    return { kind: 'typed', code: error.code, error: describe(error), largest, inputBytes };
  }
  return { kind: 'untyped', error: describe(error), largest, inputBytes };
}

process.on('message', (message: WorkerRequest) => {
  if ('close' in message) {
    void Promise.resolve(target.teardown?.()).finally(() => process.exit(0));
    return;
  }
  void runCase(message.input).then((outcome) => {
    const retire = target.poisoned?.() === true;
    process.send!({ id: message.id, outcome, retire }, () => {
      if (retire) process.exit(0);
    });
  });
});
// The parent going away ends the worker.
process.on('disconnect', () => process.exit(0));
process.send!({ ready: true });
