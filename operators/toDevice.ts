import type { OperatorFunction } from 'rxjs';
import type { HostTensor } from '../src/collate.js';
import { InvalidArgumentError, RxfeedError } from '../src/errors.js';
import { isPromiseLike } from '../src/isPromiseLike.js';
import { operate } from '../src/operate.js';

/**
 * Turns host tensors into device tensors: the seam between rxfeed and a tensor library.
 *
 * `rxfeed/tfjs` has `tfjsAdapter(tf)`; {@link typedArrayAdapter} keeps the data on the host.
 * @public
 */
export interface DeviceAdapter<Tensor> {
  /** Shown in errors, e.g. `tfjs(cpu)`. */
  readonly name: string;
  /**
   * Make a tensor of `host` (a collated leaf). May answer with a promise (asynchronous GPU
   * uploads). Called on the thread that subscribed, i.e. the main thread.
   * @param host - The leaf; its `lengths` and `mask`, when set, are converted by separate calls.
   * @param path - Where the leaf sits in the batch, e.g. `image` or `rows.label`, for errors.
   */
  toTensor(host: HostTensor, path: string): Tensor | PromiseLike<Tensor>;
  /** Release a tensor this adapter made. */
  dispose(tensor: Tensor): void;
}

/**
 * A batch after {@link toDevice}: every {@link HostTensor} leaf replaced by a device tensor;
 * other values (and leaves kept on the host with `host`) unchanged.
 * @public
 */
export type DeviceBatch<C, Tensor> = C extends HostTensor
  ? Tensor
  : C extends readonly unknown[]
    ? { -readonly [K in keyof C]: DeviceBatch<C[K], Tensor> }
    : C extends object
      ? { -readonly [K in keyof C]: DeviceBatch<C[K], Tensor> }
      : C;

/**
 * The `lengths` and `mask` of a leaf collated with `ragged: 'pad'` or `missing: 'mask'`, as device
 * tensors (they belong to the batch and are disposed with it).
 * @public
 */
export interface DeviceExtras<Tensor> {
  readonly lengths?: Tensor;
  readonly mask?: Tensor;
}

/**
 * A leaf could not be turned into a tensor (e.g. an int64 value outside int32's range).
 * @public
 */
export class DeviceConversionError extends RxfeedError {
  /** Path of the leaf in the batch, e.g. `label` or `rows.image`. */
  readonly path: string;

  constructor(path: string, message: string, options?: ErrorOptions) {
    super('RXFEED_ERR_DEVICE_CONVERSION', `toDevice '${path}': ${message}`, options);
    this.path = path;
  }
}

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

const extrasOfTensor = new WeakMap<object, DeviceExtras<unknown>>();

/**
 * The `lengths` / `mask` tensors of a leaf made by {@link toDevice}, when its host tensor had them.
 *
 * @example
 * ```ts
 * const { lengths } = deviceExtras(batch.tokens) ?? {};
 * ```
 *
 * @param tensor - A tensor of a batch emitted by `toDevice`.
 * @returns Its extras, or `undefined`.
 * @public
 */
export function deviceExtras<Tensor>(tensor: Tensor): DeviceExtras<Tensor> | undefined {
  return typeof tensor === 'object' && tensor !== null
    ? (extrasOfTensor.get(tensor) as DeviceExtras<Tensor> | undefined)
    : undefined;
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
 * @example
 * ```ts
 * import * as tf from '@tensorflow/tfjs-core';
 * import '@tensorflow/tfjs-backend-cpu';
 * import { tfjsAdapter } from 'rxfeed/tfjs';
 * const batches = samples.pipe(batch(32), collate(), toDevice(tfjsAdapter(tf), { prefetch: 2 }));
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
export function toDevice<C, Tensor>(
  adapter: DeviceAdapter<Tensor>,
  options: ToDeviceOptions,
): OperatorFunction<C, DeviceBatch<C, Tensor>> {
  const prefetch = options?.prefetch;
  if (!Number.isSafeInteger(prefetch) || prefetch < 1) {
    throw new InvalidArgumentError('toDevice.prefetch', `must be a positive integer, got ${prefetch}`);
  }
  const hostPaths = new Set(options.host ?? []);
  return (source) =>
    operate<C, DeviceBatch<C, Tensor>>(source, (op) => {
      // Conversions in input order; each settles to a batch, or to an error.
      const pending: Conversion<Tensor>[] = [];
      let completed = false;
      const stage = op.register({ name: 'toDevice', capacity: prefetch, occupancy: () => pending.length });

      const drain = (): void => {
        while (!op.closed && pending.length > 0 && pending[0]!.state !== 'running') {
          const head = pending.shift()!;
          stage.left();
          if (head.state === 'failed') {
            op.fail(head.error);
            return;
          }
          op.next(head.batch as DeviceBatch<C, Tensor>);
        }
        if (completed && pending.length === 0) op.complete();
      };

      op.subscribe(source, {
        next: (batch) => {
          stage.entered();
          let queued = false; // a synchronous conversion settles before it is queued
          const conversion = convertBatch(
            adapter,
            batch,
            hostPaths,
            // Settles in a promise callback: guarded, so a throw downstream ends the stream.
            op.guard(() => {
              if (!queued) return;
              if (op.closed) conversion.discard();
              else drain();
            }),
          );
          queued = true;
          pending.push(conversion);
          drain();
        },
        complete: () => {
          completed = true;
          drain();
        },
      });

      op.finalize(() => {
        for (const conversion of pending.splice(0)) conversion.discard();
      });
    });
}

interface Conversion<Tensor> {
  state: 'running' | 'done' | 'failed';
  batch: unknown;
  error: unknown;
  /** Dispose what this conversion made, now or (still running) when it finishes. */
  discard(): void;
  readonly tensors: Tensor[];
}

function isHostTensor(value: unknown): value is HostTensor {
  if (typeof value !== 'object' || value === null) return false;
  const leaf = value as Partial<HostTensor>;
  return (
    Array.isArray(leaf.shape) &&
    typeof leaf.dtype === 'string' &&
    (ArrayBuffer.isView(leaf.data) || Array.isArray(leaf.data))
  );
}

function isPlainContainer(value: unknown): value is Record<string, unknown> | unknown[] {
  if (typeof value !== 'object' || value === null) return false;
  if (Array.isArray(value)) return true;
  const prototype: unknown = Object.getPrototypeOf(value);
  return prototype === Object.prototype || prototype === null;
}

/**
 * Walk the batch, start every leaf's conversion, and assemble the result when all have settled.
 * `settled` is called once, synchronously when every conversion was synchronous.
 */
function convertBatch<Tensor>(
  adapter: DeviceAdapter<Tensor>,
  batch: unknown,
  hostPaths: ReadonlySet<string>,
  settled: () => void,
): Conversion<Tensor> {
  const tensors: Tensor[] = [];
  const waits: PromiseLike<unknown>[] = [];
  let discarded = false;
  const conversion: Conversion<Tensor> = {
    state: 'running',
    batch: undefined,
    error: undefined,
    tensors,
    discard() {
      discarded = true;
      if (conversion.state !== 'running') releaseAll();
    },
  };
  const releaseAll = (): void => {
    for (const tensor of tensors.splice(0)) {
      try {
        adapter.dispose(tensor);
      } catch {
        // Teardown goes on for the other tensors.
      }
    }
  };
  const fail = (error: unknown, path: string): void => {
    if (conversion.state === 'failed') return;
    conversion.state = 'failed';
    conversion.error = error instanceof RxfeedError ? error : new DeviceConversionError(path, (error as Error)?.message ?? String(error), { cause: error });
  };

  // A slot is filled with the tensor when its conversion settles.
  const make = (host: HostTensor, path: string, assign: (tensor: Tensor) => void): void => {
    let answer: Tensor | PromiseLike<Tensor>;
    try {
      answer = adapter.toTensor(host, path);
    } catch (error) {
      fail(error, path);
      return;
    }
    if (isPromiseLike(answer)) {
      waits.push(
        Promise.resolve(answer).then(
          (tensor) => {
            tensors.push(tensor);
            assign(tensor);
          },
          (error: unknown) => fail(error, path),
        ),
      );
    } else {
      tensors.push(answer);
      assign(answer);
    }
  };

  const leaf = (host: HostTensor, path: string, assign: (value: unknown) => void): void => {
    if (hostPaths.has(path)) {
      assign(host);
      return;
    }
    const extras: { lengths?: Tensor; mask?: Tensor } = {};
    let main: Tensor | undefined;
    const attach = (): void => {
      if (main !== undefined && typeof main === 'object' && (extras.lengths !== undefined || extras.mask !== undefined)) {
        extrasOfTensor.set(main as object, extras);
      }
    };
    make(host, path, (tensor) => {
      main = tensor;
      assign(tensor);
      attach();
    });
    if (host.lengths !== undefined) {
      const lengths: HostTensor = { data: host.lengths, shape: [host.lengths.length], dtype: 'int32' };
      make(lengths, `${path}.lengths`, (tensor) => {
        extras.lengths = tensor;
        attach();
      });
    }
    if (host.mask !== undefined) {
      const mask: HostTensor = { data: host.mask, shape: [host.mask.length], dtype: 'bool' };
      make(mask, `${path}.mask`, (tensor) => {
        extras.mask = tensor;
        attach();
      });
    }
  };

  const walk = (value: unknown, path: string, assign: (value: unknown) => void): void => {
    if (conversion.state === 'failed') return;
    if (isHostTensor(value)) {
      leaf(value, path, assign);
      return;
    }
    if (!isPlainContainer(value)) {
      assign(value);
      return;
    }
    const out: Record<string, unknown> | unknown[] = Array.isArray(value) ? new Array<unknown>(value.length) : {};
    for (const [key, item] of Object.entries(value)) {
      walk(item, path === '' ? key : `${path}.${key}`, (converted) => {
        (out as Record<string, unknown>)[key] = converted;
      });
    }
    assign(out);
  };

  const finish = (): void => {
    if (conversion.state === 'running') {
      conversion.state = 'done';
      markDisposable(conversion.batch, [...tensors], adapter);
    }
    if (conversion.state === 'failed' || discarded) releaseAll();
    settled();
  };

  walk(batch, '', (out) => {
    conversion.batch = out;
  });
  if (waits.length === 0) finish();
  else void Promise.all(waits).then(finish);
  return conversion;
}


/**
 * Give the emitted batch a non-enumerable `Symbol.dispose` releasing every tensor it holds, so
 * the loader's teardown (`disposeItem`) and `using` release it. A bare tensor keeps its own.
 */
function markDisposable<Tensor>(batch: unknown, tensors: readonly Tensor[], adapter: DeviceAdapter<Tensor>): void {
  if (!isPlainContainer(batch)) return;
  Object.defineProperty(batch, Symbol.dispose, {
    value: () => {
      for (const tensor of tensors) {
        try {
          adapter.dispose(tensor);
        } catch {
          // Keep releasing the rest.
        }
      }
    },
    enumerable: false,
    configurable: true,
  });
}

/**
 * A host tensor as {@link typedArrayAdapter} hands it on: its data, shape and dtype.
 * @public
 */
export interface TypedArrayTensor {
  readonly data: HostTensor['data'];
  readonly shape: readonly number[];
  readonly dtype: HostTensor['dtype'];
}

/**
 * An adapter that keeps data on the host as `{ data, shape, dtype }` (the typed array itself, no
 * copy): for runtimes that take typed arrays (onnxruntime-node, a custom WebGPU path), or to test a
 * pipeline without a tensor library. Disposal is a no-op.
 *
 * @example
 * ```ts
 * const batches = samples.pipe(batch(8), collate(), toDevice(typedArrayAdapter(), { prefetch: 1 }));
 * ```
 *
 * @returns The adapter.
 * @public
 */
export function typedArrayAdapter(): DeviceAdapter<TypedArrayTensor> {
  return {
    name: 'typed-array',
    toTensor: (host) => ({ data: host.data, shape: [...host.shape], dtype: host.dtype }),
    dispose: () => undefined,
  };
}
