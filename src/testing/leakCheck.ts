/**
 * A test helper for tensor hygiene: run code and assert it left no tfjs tensor behind.
 *
 * @module
 */
import { AssertionError } from 'node:assert';

/**
 * The one thing {@link leakCheck} needs from tfjs: `tf.memory()`.
 * @public
 */
export interface TensorMemoryProbe {
  memory(): { readonly numTensors: number };
}

/**
 * Run `fn` and assert that `tf.memory().numTensors` is back where it started: every tensor made
 * inside was disposed. Wrap a `for await` loop that breaks early, a `take(n)`, or a failing
 * pipeline to prove that `toDevice` and the loader released what they made.
 *
 * @example
 * ```ts
 * import * as tf from '@tensorflow/tfjs-core';
 * import { leakCheck } from 'rxfeed/testing';
 * import { toLoader } from 'rxfeed';
 * import type { Observable } from 'rxjs';
 * declare const pipeline: Observable<tf.Tensor>;
 * await leakCheck(tf, async () => {
 *   for await (const batch of toLoader(pipeline)) {
 *     tf.dispose(batch);
 *     break;
 *   }
 * });
 * ```
 *
 * @param tf - The tfjs module (anything with `memory()`).
 * @param fn - The code to check; may be async.
 * @returns What `fn` returned.
 * @throws `AssertionError` (from `node:assert`) naming the count of leaked tensors. When `fn` throws,
 * its error propagates unchanged (a leak check would only hide it).
 * @public
 */
export async function leakCheck<R>(tf: TensorMemoryProbe, fn: () => R | Promise<R>): Promise<R> {
  const before = tf.memory().numTensors;
  const result = await fn();
  const after = tf.memory().numTensors;
  if (after !== before) {
    throw new AssertionError({
      message: `leakCheck: ${after - before} tensor(s) ${after > before ? 'leaked' : 'disposed too often'} (numTensors ${before} before, ${after} after)`,
      actual: after,
      expected: before,
      operator: 'strictEqual',
    });
  }
  return result;
}
