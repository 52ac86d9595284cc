/**
 * The device port: what `toDevice` and the tensor-library adapters (`rxfeed/tfjs`) agree on. An
 * adapter implements {@link DeviceAdapter}; `toDevice` walks each collated batch, hands every
 * {@link HostTensor} leaf to it, and owns the tensors until the batch is emitted.
 *
 * It lives in `src/` so that adapters depend on the core, never on `operators/`.
 *
 * @module
 */
import { RxfeedError } from './errors.js';
import { isPromiseLike } from './isPromiseLike.js';
import { isHostTensor, type HostTensor } from './tensor.js';
import { dottedPath, isPlainContainer, mapTree, type TreeStep } from './treeWalk.js';

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

/** The extras of each tensor made for a leaf that had `lengths` or `mask`. */
const extrasOfTensor = new WeakMap<object, DeviceExtras<unknown>>();

/**
 * The `lengths` / `mask` tensors of a leaf made by {@link toDevice}, when its host tensor had them.
 *
 * @example
 * ```ts
 * import { deviceExtras } from 'rxfeed';
 * import type { Tensor } from '@tensorflow/tfjs-core';
 * declare const batch: { tokens: Tensor }; // emitted by toDevice(tfjsAdapter(tf))
 * const { lengths } = deviceExtras(batch.tokens) ?? {};
 * ```
 *
 * @param tensor - A tensor of a batch emitted by `toDevice`.
 * @returns Its extras, or `undefined`.
 * @public
 */
export function deviceExtras<Tensor>(tensor: Tensor): DeviceExtras<Tensor> | undefined {
  return typeof tensor === 'object' && tensor !== null ? (extrasOfTensor.get(tensor) as DeviceExtras<Tensor> | undefined) : undefined;
}

/**
 * One batch's conversion by {@link convertBatch}.
 * @internal
 */
export interface Conversion<Tensor> {
  state: 'running' | 'done' | 'failed';
  batch: unknown;
  error: unknown;
  /** Dispose what this conversion made, now or (still running) when it finishes. */
  discard(): void;
  readonly tensors: Tensor[];
}

/** Where an asynchronous conversion's tensor will be, in the batch being built. */
class PendingTensor<Tensor> {
  tensor: Tensor | undefined;
}

/**
 * Walk the batch, start every leaf's conversion, and assemble the result when all have settled.
 * `settled` is called once, synchronously when every conversion was synchronous.
 *
 * @param adapter - Makes and disposes the tensors.
 * @param batch - A collated batch: {@link HostTensor} leaves in plain objects and arrays.
 * @param hostPaths - Dotted paths of leaves kept on the host as they are.
 * @param settled - Called once every conversion has settled.
 * @returns The conversion, `'running'` until `settled` is called.
 * @internal
 */
export function convertBatch<Tensor>(
  adapter: DeviceAdapter<Tensor>,
  batch: unknown,
  hostPaths: ReadonlySet<string>,
  settled: () => void,
): Conversion<Tensor> {
  const tensors: Tensor[] = [];
  const waits: PromiseLike<unknown>[] = [];
  // Extras are attached once every tensor of the batch is known.
  const extras: (() => void)[] = [];
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
    conversion.error =
      error instanceof RxfeedError ? error : new DeviceConversionError(path, (error as Error)?.message ?? String(error), { cause: error });
  };

  /** The tensor of `host`, a placeholder while the adapter's promise is pending, or nothing on failure. */
  const make = (host: HostTensor, path: string): Tensor | PendingTensor<Tensor> | undefined => {
    let answer: Tensor | PromiseLike<Tensor>;
    try {
      answer = adapter.toTensor(host, path);
    } catch (error) {
      fail(error, path);
      return undefined;
    }
    if (!isPromiseLike(answer)) {
      tensors.push(answer);
      return answer;
    }
    const pending = new PendingTensor<Tensor>();
    waits.push(
      Promise.resolve(answer).then(
        (tensor) => {
          tensors.push(tensor);
          pending.tensor = tensor;
        },
        (error: unknown) => fail(error, path),
      ),
    );
    return pending;
  };
  const made = (value: unknown): unknown => (value instanceof PendingTensor ? value.tensor : value);

  const leaf = (host: HostTensor, path: string): unknown => {
    if (hostPaths.has(path)) return host;
    const main = make(host, path);
    const lengths =
      host.lengths === undefined
        ? undefined
        : make({ data: host.lengths, shape: [host.lengths.length], dtype: 'int32' }, `${path}.lengths`);
    const mask = host.mask === undefined ? undefined : make({ data: host.mask, shape: [host.mask.length], dtype: 'bool' }, `${path}.mask`);
    if (lengths !== undefined || mask !== undefined) {
      extras.push(() => {
        const tensor = made(main);
        if (typeof tensor !== 'object' || tensor === null) return;
        const attached: { lengths?: Tensor; mask?: Tensor } = {};
        if (lengths !== undefined) attached.lengths = made(lengths) as Tensor;
        if (mask !== undefined) attached.mask = made(mask) as Tensor;
        extrasOfTensor.set(tensor, attached);
      });
    }
    return main;
  };

  const finish = (): void => {
    if (conversion.state === 'running') {
      conversion.state = 'done';
      if (waits.length > 0) {
        // Put the tensors that arrived in place of their placeholders.
        conversion.batch = mapTree(
          conversion.batch,
          (value): TreeStep<undefined> =>
            value instanceof PendingTensor
              ? { recurse: false, value: value.tensor }
              : { recurse: isPlainContainer(value) && !isHostTensor(value), value },
          undefined,
          dottedPath,
        );
      }
      for (const attach of extras) attach();
      markDisposable(conversion.batch, [...tensors], adapter);
    }
    if (conversion.state === 'failed' || discarded) releaseAll();
    settled();
  };

  conversion.batch = mapTree(
    batch,
    (value, path): TreeStep<undefined> => {
      if (conversion.state === 'failed') return { recurse: false };
      if (isHostTensor(value)) return { recurse: false, value: leaf(value, path) };
      return { recurse: isPlainContainer(value), value };
    },
    undefined,
    dottedPath,
  );
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
 * import { batch, collate, toDevice, typedArrayAdapter } from 'rxfeed';
 * import type { Observable } from 'rxjs';
 * declare const samples: Observable<{ image: Float32Array; label: number }>;
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
