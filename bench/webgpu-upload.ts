/**
 * Host-to-GPU upload throughput through `toDevice` on tfjs-backend-webgpu: the default path
 * (`tf.tensor(typedArray)`) against rxfeed's staging-buffer ring, one batch at a time and pipelined
 * (`toDevice(..., { prefetch })` keeping several uploads in flight while the GPU reduces earlier
 * batches). A GPU-machine script: CI never runs it.
 *
 * Needs, besides this project's build: the npm packages `webgpu@0.6.2` (Dawn's Node bindings) and
 * `@tensorflow/tfjs-backend-webgpu@4.22` in node_modules, the Vulkan loader and GL dispatch
 * libraries (libvulkan1, libglvnd0, libegl1, libgl1 ...), and
 * `VK_DRIVER_FILES=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json` (see ../shared/GPU.md for the
 * recipe verified on the lent H100). Exits with status 2 and a message when no WebGPU adapter is
 * found.
 *
 * Run: `node dist/bench/webgpu-upload.js` (about a minute). Prints GB/s per path and tensor size
 * (1, 4, 16, 64 MiB of float32); the goal is >= 6 GB/s pipelined, against about 0.8 GB/s for
 * tfjs's default upload.
 */
import * as tf from '@tensorflow/tfjs-core';
import { lastValueFrom, reduce } from 'rxjs';
import { toDevice } from '../operators/toDevice.js';
import { tfjsAdapter } from '../src/adapters/tfjs.js';
import type { HostTensor } from '../src/tensor.js';
import { fromItems } from '../src/index.js';

const MIB = 1024 * 1024;
const SIZES_MIB = [1, 4, 16, 64];
/** Bytes moved per measurement (per size), so that small tensors get enough iterations. */
const BYTES_PER_RUN = 1024 * MIB;
const DISTINCT_ARRAYS = 4;

interface WebGpuModule {
  create(flags: string[]): { requestAdapter(): Promise<unknown> };
  globals: Record<string, unknown>;
}

async function setUpWebGpu(): Promise<void> {
  // Specifiers in variables: neither package is a dependency of rxfeed, so nothing resolves them at
  // compile time.
  const webgpuName = 'webgpu';
  const backendName = '@tensorflow/tfjs-backend-webgpu';
  let webgpu: WebGpuModule;
  try {
    webgpu = (await import(webgpuName)) as WebGpuModule;
    // Only resolved here: the backend registers itself at import only if navigator.gpu exists.
    import.meta.resolve(backendName);
  } catch (error) {
    console.error(
      `webgpu-upload: ${(error as Error).message}; install webgpu@0.6.2 and @tensorflow/tfjs-backend-webgpu@4.22 (see ../shared/GPU.md)`,
    );
    process.exit(2);
  }
  Object.assign(globalThis, webgpu.globals);
  const gpu = webgpu.create([]);
  // Node 20 has no `navigator`; newer ones have a read-only one: define `gpu` either way.
  const navigator = ((globalThis as { navigator?: object }).navigator ?? {}) as object;
  Object.defineProperty(navigator, 'gpu', { value: gpu, configurable: true });
  if ((globalThis as { navigator?: object }).navigator === undefined) {
    Object.defineProperty(globalThis, 'navigator', { value: navigator, configurable: true });
  }
  if ((await gpu.requestAdapter()) == null) {
    console.error('webgpu-upload: no WebGPU adapter (is VK_DRIVER_FILES set and the Vulkan loader installed?)');
    process.exit(2);
  }
  await import(backendName);
  if (!(await tf.setBackend('webgpu'))) {
    console.error('webgpu-upload: tf.setBackend("webgpu") failed');
    process.exit(2);
  }
  await tf.ready();
}

function arraysOf(elements: number): Float32Array[] {
  return Array.from({ length: DISTINCT_ARRAYS }, (_, k) => {
    const array = new Float32Array(elements);
    // Small integers: float32 sums of them are exact, so the check below can be strict.
    for (let i = 0; i < elements; i++) array[i] = (i + k) % 4;
    return array;
  });
}

function expectedSum(array: Float32Array): number {
  let sum = 0;
  for (let i = 0; i < array.length; i++) sum += array[i]!;
  return sum;
}

interface Row {
  readonly path: string;
  readonly sizeMiB: number;
  readonly gbPerSecond: number;
}
const rows: Row[] = [];

function record(path: string, sizeMiB: number, bytes: number, seconds: number): void {
  const gbPerSecond = bytes / seconds / 1e9;
  rows.push({ path, sizeMiB, gbPerSecond });
  console.error(`  ${path}, ${sizeMiB} MiB: ${gbPerSecond.toFixed(2)} GB/s`);
}

/** Upload, reduce, read back: one tensor at a time (no overlap), like GPU.md's first row. */
async function oneAtATime(path: string, sizeMiB: number, arrays: Float32Array[], webgpu: 'off' | 'auto'): Promise<void> {
  const adapter = tfjsAdapter(tf, { webgpu: webgpu === 'off' ? 'off' : { ringSize: 2, minBytes: 0 } });
  const iterations = Math.max(4, Math.round(BYTES_PER_RUN / (sizeMiB * MIB)));
  const shape = [arrays[0]!.length];
  // Warm-up, and a check that the values arrived intact.
  for (const array of arrays) {
    const tensor = await adapter.toTensor({ data: array, shape, dtype: 'float32' }, 'x');
    const sum = tf.sum(tensor);
    const got = (await sum.data())[0]!;
    if (got !== expectedSum(array)) throw new Error(`${path}: sum ${got}, expected ${expectedSum(array)}`);
    tf.dispose([tensor, sum]);
  }
  const start = performance.now();
  for (let i = 0; i < iterations; i++) {
    const tensor = await adapter.toTensor({ data: arrays[i % arrays.length]!, shape, dtype: 'float32' }, 'x');
    const sum = tf.sum(tensor);
    await sum.data();
    tf.dispose([tensor, sum]);
  }
  record(path, sizeMiB, iterations * sizeMiB * MIB, (performance.now() - start) / 1000);
  await adapter[Symbol.asyncDispose]();
}

/** A stream of batches through toDevice with `prefetch` uploads in flight; the GPU reduces each. */
async function pipelined(path: string, sizeMiB: number, arrays: Float32Array[], webgpu: 'off' | 'auto', prefetch: number): Promise<void> {
  const adapter = tfjsAdapter(tf, { webgpu: webgpu === 'off' ? 'off' : { ringSize: prefetch, minBytes: 0 } });
  const iterations = Math.max(8, Math.round(BYTES_PER_RUN / (sizeMiB * MIB)));
  const shape = [arrays[0]!.length];
  const batches = (n: number): { x: HostTensor<'float32'> }[] =>
    Array.from({ length: n }, (_, i) => ({ x: { data: arrays[i % arrays.length]!, shape, dtype: 'float32' } }));
  const run = (n: number): Promise<tf.Tensor> =>
    lastValueFrom(
      fromItems(batches(n)).pipe(
        toDevice(adapter, { prefetch }),
        // Reduce on the GPU without reading back, so uploads overlap with compute; keep a running
        // total (a scalar tensor) to read once at the end.
        reduce<{ x: tf.Tensor }, tf.Tensor>((total, { x }) => {
          const next = tf.tidy(() => tf.add(total, tf.sum(x)));
          tf.dispose([total, x]);
          return next;
        }, tf.scalar(0)),
      ),
    );
  const warm = await run(DISTINCT_ARRAYS);
  const want = arrays.reduce((total, array) => total + expectedSum(array), 0);
  const got = (await warm.data())[0]!;
  if (got !== want) throw new Error(`${path}: pipelined sum ${got}, expected ${want}`);
  warm.dispose();
  const start = performance.now();
  const total = await run(iterations);
  await total.data();
  record(path, sizeMiB, iterations * sizeMiB * MIB, (performance.now() - start) / 1000);
  total.dispose();
  await adapter[Symbol.asyncDispose]();
}

async function main(): Promise<void> {
  await setUpWebGpu();
  const tensorsAtStart = tf.memory().numTensors;
  for (const sizeMiB of SIZES_MIB) {
    const arrays = arraysOf((sizeMiB * MIB) / 4);
    console.error(`${sizeMiB} MiB:`);
    await oneAtATime('tf.tensor(typedArray), one at a time', sizeMiB, arrays, 'off');
    await oneAtATime('staging ring, one at a time', sizeMiB, arrays, 'auto');
    await pipelined('tf.tensor(typedArray), toDevice prefetch 4', sizeMiB, arrays, 'off', 4);
    for (const prefetch of [2, 4]) {
      await pipelined(`staging ring, toDevice prefetch ${prefetch}`, sizeMiB, arrays, 'auto', prefetch);
    }
  }
  const leaked = tf.memory().numTensors - tensorsAtStart;

  const paths = [...new Set(rows.map((row) => row.path))];
  console.log('\nHost-to-GPU upload through toDevice on tfjs-backend-webgpu (GB/s, float32 tensors)');
  console.log(`| path | ${SIZES_MIB.map((size) => `${size} MiB`).join(' | ')} |`);
  console.log(`|---|${SIZES_MIB.map(() => '---').join('|')}|`);
  for (const path of paths) {
    const cells = SIZES_MIB.map((size) => rows.find((row) => row.path === path && row.sizeMiB === size)?.gbPerSecond.toFixed(2) ?? '-');
    console.log(`| ${path} | ${cells.join(' | ')} |`);
  }
  const best = Math.max(...rows.filter((row) => row.path.startsWith('staging ring, toDevice')).map((row) => row.gbPerSecond));
  console.log(`\nbest pipelined staging-ring rate: ${best.toFixed(2)} GB/s (goal >= 6): ${best >= 6 ? 'met' : 'NOT met'}`);
  console.log(`tensors leaked: ${leaked}`);
  if (leaked !== 0) process.exitCode = 1;
}

await main();
