import type { OperatorFunction } from 'rxjs';
import { convertBatch, type Conversion, type DeviceAdapter, type DeviceBatch } from '../src/device.js';
import { InvalidArgumentError } from '../src/errors.js';
import { operate } from '../src/operate.js';
import type { Origins } from '../src/origins.js';

/** Options of {@link toDevice}. */
export interface ToDeviceOptions {
  /**
   * Batches being converted or converted and waiting for their turn, at most; mandatory. This is
   * the stage's capacity in the Flow gauge. With a synchronous adapter (tfjs on cpu or wasm) a batch
   * leaves the stage as soon as it arrives, so ready batches wait in the loader's `prefetch`; with
   * an asynchronous one (WebGPU staging uploads) up to `prefetch` uploads overlap.
   */
  readonly prefetch: number;
  /**
   * Dotted paths of leaves to keep on the host as they are (e.g. `['index', 'rows.key']`): a
   * sample index in float64 would lose precision past 2^24 as a float32 tensor. {@link DeviceBatch}
   * cannot see these paths, so it still types such a leaf as a tensor: read it as a `HostTensor`.
   */
  readonly host?: readonly string[];
}

/**
 * Turn collated batches into device tensors, on the main thread, keeping up to `prefetch`
 * conversions in flight.
 *
 * **Tensor ownership** (as in tfjs-data): once a batch is emitted, its tensors belong to the
 * consumer, who must dispose them (`tf.dispose(batch)`, or `batch[Symbol.dispose]()`, which also
 * releases `lengths`/`mask` extras). Each emitted object and array carries a non-enumerable
 * `Symbol.dispose`, so the loader disposes batches it drops on `break`. Tensors made but not yet
 * emitted (a conversion finishing after unsubscribe, the rest of a batch whose conversion failed,
 * batches waiting behind a slower one) are disposed here, on unsubscribe, error and completion.
 *
 * Which backend the tensors went to is the adapter's to say: `tfjsAdapter(tf).backend` (and its
 * `log` option) names the tfjs backend used, and whether WebGPU staging uploads were.
 *
 * @example
 * ```ts
 * import * as tf from '@tensorflow/tfjs-core';
 * import '@tensorflow/tfjs-backend-cpu';
 * import { batch, collate, fromItems, toDevice, toLoader } from 'rxfeed';
 * import { tfjsAdapter } from 'rxfeed/tfjs';
 * declare function step(image: tf.Tensor, label: tf.Tensor): Promise<void>;
 *
 * const samples = fromItems([{ image: new Float32Array(4), label: 1 }]);
 * const batches = samples.pipe(batch(32), collate(), toDevice(tfjsAdapter(tf, { log: console.log }), { prefetch: 2 }));
 * for await (const { image, label } of toLoader(batches)) {
 *   await step(image, label);
 *   tf.dispose([image, label]);
 * }
 * ```
 *
 * @param adapter - The tensor library: `tfjsAdapter(tf)` from `rxfeed/tfjs`, or {@link typedArrayAdapter}.
 * @param options - See {@link ToDeviceOptions}; `prefetch` is mandatory.
 * @returns An operator emitting each batch with its host tensors replaced by device tensors.
 * @throws `InvalidArgumentError` (`RXFEED_ERR_INVALID_ARG`) when `prefetch` is not a positive integer.
 * @public
 */
export function toDevice<C, Tensor>(adapter: DeviceAdapter<Tensor>, options: ToDeviceOptions): OperatorFunction<C, DeviceBatch<C, Tensor>> {
  const prefetch = options?.prefetch;
  if (!Number.isSafeInteger(prefetch) || prefetch < 1) {
    throw new InvalidArgumentError('toDevice.prefetch', `must be a positive integer, got ${prefetch}`);
  }
  const hostPaths = new Set(options.host ?? []);
  return (source) =>
    operate<C, DeviceBatch<C, Tensor>>(source, (op) => {
      // Conversions in input order; each settles to a batch, or to an error.
      const pending: Conversion<Tensor>[] = [];
      const pendingOrigins: Origins[] = [];
      let completed = false;
      const stage = op.register({ name: 'toDevice', capacity: prefetch, occupancy: () => pending.length, parallelism: prefetch });
      const { flow } = op.context;

      const drain = (): void => {
        while (!op.closed && pending.length > 0 && pending[0]!.state !== 'running') {
          const head = pending.shift()!;
          const origins = pendingOrigins.shift();
          stage.left();
          if (head.state === 'failed') {
            op.fail(head.error);
            return;
          }
          op.emit(head.batch as DeviceBatch<C, Tensor>, origins);
        }
        if (completed && pending.length === 0) op.complete();
      };

      op.subscribe(source, {
        next: (batch) => {
          stage.entered();
          const origins = op.takeOrigins('toDevice');
          let queued = false; // a synchronous conversion settles before it is queued
          const started = flow.mark();
          const conversion = convertBatch(
            adapter,
            batch,
            hostPaths,
            // Settles in a promise callback: guarded, so a throw downstream ends the stream.
            op.guard(() => {
              stage.workedSince(started);
              if (!queued) return;
              if (op.closed) conversion.discard();
              else drain();
            }),
          );
          queued = true;
          pending.push(conversion);
          pendingOrigins.push(origins);
          drain();
        },
        complete: () => {
          completed = true;
          drain();
        },
      });

      op.finalize(() => {
        pendingOrigins.length = 0;
        for (const conversion of pending.splice(0)) conversion.discard();
      });
    });
}
