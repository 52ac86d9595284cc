/**
 * TensorFlow.js for `toDevice` (`rxfeed/tfjs`): collated host tensors become `tf.Tensor`s on the
 * user's backend (cpu, wasm, webgl, webgpu, or tfjs-node / tfjs-node-gpu when installed).
 *
 * The tfjs module is a parameter, never imported here: tfjs packages are optional peers, and the
 * tensors must come from the same tfjs instance (and backend registry) the model uses.
 *
 * dtypes: tfjs has float32, int32, bool and string. float64 becomes float32 (finite values beyond
 * float32's range fail), small integer types become int32 (or float32 when asked), uint32 and int64
 * become int32 when every value fits (else a {@link DeviceConversionError} names the leaf, the
 * element and the value), bytes become string tensors of `Uint8Array`s.
 *
 * @module rxfeed/tfjs
 */
import type * as tfc from '@tensorflow/tfjs-core';
import { DeviceConversionError, type DeviceAdapter } from '../device.js';
import { InvalidArgumentError } from '../errors.js';
import type { DType, HostTensor } from '../tensor.js';
import { WebGpuStagingRing, type GpuDeviceLike, type WebGpuUploadOptions } from './webgpuUpload.js';

export type { WebGpuUploadOptions } from './webgpuUpload.js';
export { toTfDataset, type TfBatch, type TfDataset, type TfDatasetModule, type ToTfDatasetOptions } from './tfDataset.js';

/**
 * The parts of a tfjs module the adapter uses: pass `import * as tf from '@tensorflow/tfjs-core'`
 * (or `@tensorflow/tfjs`, `@tensorflow/tfjs-node`).
 * @public
 */
export type TfjsModule = Pick<typeof tfc, 'tensor' | 'getBackend' | 'backend'>;

/**
 * Host dtypes tfjs has no type for, converted to int32 (default) or float32.
 * @public
 */
export type TfjsConvertibleDType = 'int8' | 'int16' | 'uint8' | 'uint16' | 'uint32' | 'int64';

/**
 * Options of {@link tfjsAdapter}.
 * @public
 */
export interface TfjsAdapterOptions {
  /**
   * Target tfjs dtype per host dtype that tfjs lacks; default int32 for each. E.g.
   * `{ uint8: 'float32' }` to feed image bytes straight to float layers.
   */
  readonly dtypes?: Partial<Record<TfjsConvertibleDType, 'int32' | 'float32'>>;
  /**
   * The staging-buffer upload path on tfjs-backend-webgpu (see {@link WebGpuUploadOptions}):
   * `'auto'` (default) uses it when the active backend is webgpu; `'off'` always uses
   * `tf.tensor(typedArray)`. Feature-detected: other backends ignore it.
   */
  readonly webgpu?: 'auto' | 'off' | WebGpuUploadOptions;
  /**
   * Told once, when the first tensor is made, which backend and upload path the adapter uses,
   * as one line: e.g. `console.log` prints `tfjsAdapter: backend cpu, tf.tensor uploads`.
   */
  readonly log?: (line: string) => void;
}

/**
 * A {@link DeviceAdapter} that also frees its WebGPU staging buffers.
 * @public
 */
export interface TfjsAdapter extends DeviceAdapter<tfc.Tensor>, AsyncDisposable {
  /** Whether the WebGPU staging path is in use (known after the first tensor). */
  readonly usesWebGpuStaging: boolean;
  /**
   * The tfjs backend the tensors were made on (`tf.getBackend()` at the first tensor, e.g. `cpu`,
   * `wasm`, `webgpu`); `undefined` before the first tensor. `name` reads `tfjs(<backend>)` then.
   */
  readonly backend: string | undefined;
}

const FLOAT32_MAX = 3.4028234663852886e38;
const INT32_MIN = -0x8000_0000;
const INT32_MAX = 0x7fff_ffff;
const FLOAT32_EXACT = 2 ** 24;

/**
 * Make collated batches into tfjs tensors with `toDevice(tfjsAdapter(tf), { prefetch })`.
 *
 * @example
 * ```ts
 * import * as tf from '@tensorflow/tfjs-core';
 * import '@tensorflow/tfjs-backend-cpu';
 * import { toDevice } from 'rxfeed';
 * import { tfjsAdapter } from 'rxfeed/tfjs';
 * const adapter = tfjsAdapter(tf, { dtypes: { uint8: 'float32' }, log: console.log });
 * const device = toDevice(adapter, { prefetch: 2 }); // pipe collated batches through it
 * ```
 *
 * On tfjs-backend-webgpu, tensors of 64 KiB and more go through a ring of mapped staging buffers
 * (`webgpu` option); on every other backend through `tf.tensor`. `adapter.backend` and the `log`
 * line say which was used.
 *
 * @param tf - The user's tfjs module, with a backend registered and set.
 * @param options - See {@link TfjsAdapterOptions}.
 * @returns The adapter; `await using` it (or call `Symbol.asyncDispose`) frees WebGPU staging buffers.
 * @public
 */
export function tfjsAdapter(tf: TfjsModule, options: TfjsAdapterOptions = {}): TfjsAdapter {
  const targets = options.dtypes ?? {};
  for (const [dtype, target] of Object.entries(targets)) {
    if (target !== 'int32' && target !== 'float32') {
      throw new InvalidArgumentError(`tfjsAdapter.dtypes.${dtype}`, `must be 'int32' or 'float32', got '${String(target)}'`);
    }
  }
  const webgpu = options.webgpu ?? 'auto';
  const uploadOptions: WebGpuUploadOptions = typeof webgpu === 'object' ? webgpu : {};
  const ringSize = uploadOptions.ringSize ?? 2;
  const minBytes = uploadOptions.minBytes ?? 65536;
  if (!Number.isSafeInteger(ringSize) || ringSize < 1) {
    throw new InvalidArgumentError('tfjsAdapter.webgpu.ringSize', `must be a positive integer, got ${ringSize}`);
  }
  if (options.log !== undefined && typeof options.log !== 'function') {
    throw new InvalidArgumentError('tfjsAdapter.log', `must be a function taking one line, got ${typeof options.log}`);
  }
  let ring: WebGpuStagingRing | undefined;
  let ringChecked = false;
  let backend: string | undefined;

  const stagingRing = (): WebGpuStagingRing | undefined => {
    if (webgpu === 'off') return undefined;
    if (!ringChecked) {
      ringChecked = true;
      const device = webGpuDevice(tf);
      if (device !== undefined) ring = new WebGpuStagingRing(device, ringSize);
    }
    return ring;
  };

  /** Read the backend once, at the first tensor: the user sets it before feeding batches. */
  const noteBackend = (): void => {
    if (backend !== undefined) return;
    backend = tf.getBackend();
    const staging = stagingRing() !== undefined;
    options.log?.(
      `tfjsAdapter: backend ${backend}, ${staging ? `WebGPU staging uploads (ring of ${ringSize}, from ${minBytes} bytes)` : 'tf.tensor uploads'}`,
    );
  };

  return {
    get name() {
      return backend === undefined ? 'tfjs' : `tfjs(${backend})`;
    },
    get usesWebGpuStaging() {
      return ring !== undefined;
    },
    get backend() {
      return backend;
    },
    toTensor(host: HostTensor, path: string): tfc.Tensor | Promise<tfc.Tensor> {
      noteBackend();
      const { values, dtype } = tfjsValues(host, path, targets);
      const staging = (dtype === 'float32' || dtype === 'int32') && ArrayBuffer.isView(values) ? stagingRing() : undefined;
      if (staging !== undefined && (values as ArrayBufferView).byteLength >= minBytes) {
        const view = values as Float32Array | Int32Array;
        const bytes = new Uint8Array(view.buffer, view.byteOffset, view.byteLength);
        return staging.upload(bytes, (buffer) => {
          // tfjs copies the buffer into its own pool; submit that copy now, so the ring's
          // `onSubmittedWorkDone` covers it before the buffer is written again.
          const tensor = tf.tensor({ buffer: buffer as unknown as GPUBuffer }, host.shape, dtype);
          (tf.backend() as unknown as { submitQueue?: () => void }).submitQueue?.();
          return tensor;
        });
      }
      return tf.tensor(values as tfc.TensorLike, host.shape, dtype);
    },
    dispose(tensor: tfc.Tensor): void {
      tensor.dispose();
    },
    async [Symbol.asyncDispose](): Promise<void> {
      await ring?.destroy();
      ring = undefined;
      ringChecked = false;
      backend = undefined;
    },
  };
}

/** The GPUDevice of tfjs-backend-webgpu when it is the active backend. */
function webGpuDevice(tf: TfjsModule): GpuDeviceLike | undefined {
  if (tf.getBackend() !== 'webgpu') return undefined;
  const device = (tf.backend() as unknown as { device?: Partial<GpuDeviceLike> }).device;
  if (typeof device?.createBuffer !== 'function' || typeof device.createCommandEncoder !== 'function') return undefined;
  return device as GpuDeviceLike;
}

type TfjsDType = 'float32' | 'int32' | 'bool' | 'string';

/** The values and tfjs dtype of a host tensor, converted and range-checked where tfjs differs. */
function tfjsValues(
  host: HostTensor,
  path: string,
  targets: Partial<Record<TfjsConvertibleDType, 'int32' | 'float32'>>,
): { values: unknown; dtype: TfjsDType } {
  const dtype: DType = host.dtype;
  const data = host.data;
  switch (dtype) {
    case 'float32':
    case 'int32':
      return { values: data, dtype };
    case 'bool':
      return { values: data, dtype: 'bool' };
    case 'string':
    case 'bytes':
      return { values: data, dtype: 'string' };
    case 'float64': {
      const source = data as Float64Array;
      for (let i = 0; i < source.length; i++) {
        const value = source[i]!;
        if (Math.abs(value) > FLOAT32_MAX && Number.isFinite(value)) {
          throw new DeviceConversionError(path, `float64 element ${i} (${value}) is outside float32's range`);
        }
      }
      return { values: Float32Array.from(source), dtype: 'float32' };
    }
    case 'int8':
    case 'int16':
    case 'uint8':
    case 'uint16':
    case 'uint32':
    case 'int64':
      return convertInteger(data as ArrayLike<number | bigint>, dtype, targets[dtype] ?? 'int32', path);
    default:
      throw new DeviceConversionError(path, `dtype '${String(dtype)}' has no tfjs equivalent`);
  }
}

function convertInteger(
  source: ArrayLike<number | bigint>,
  dtype: TfjsConvertibleDType,
  target: 'int32' | 'float32',
  path: string,
): { values: Int32Array | Float32Array; dtype: 'int32' | 'float32' } {
  const out = target === 'int32' ? new Int32Array(source.length) : new Float32Array(source.length);
  // Only types wider than the target need a check: int8/int16/uint8/uint16 always fit.
  const checked = dtype === 'uint32' || dtype === 'int64';
  const [low, high] = target === 'int32' ? [INT32_MIN, INT32_MAX] : [-FLOAT32_EXACT, FLOAT32_EXACT];
  for (let i = 0; i < source.length; i++) {
    const value = Number(source[i]!);
    if (checked && (value < low || value > high)) {
      const what = target === 'int32' ? "int32's range" : 'the integers float32 holds exactly (2^24)';
      throw new DeviceConversionError(path, `${dtype} element ${i} (${String(source[i])}) is outside ${what}`);
    }
    out[i] = value;
  }
  return { values: out, dtype: target };
}
