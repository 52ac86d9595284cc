/**
 * Host-to-GPU uploads for tfjs-backend-webgpu through a ring of mapped staging buffers.
 *
 * `tf.tensor(typedArray)` on the webgpu backend reached about 0.8 GB/s on an H100 (Dawn from Node,
 * see GPU.md), because every upload goes through `queue.writeBuffer` and a fresh staging copy.
 * Writing into buffers that are already mapped (`MAP_WRITE`), unmapping, and copying them on the GPU
 * into a storage buffer ran at 6 to 12 GB/s; tfjs then takes that storage buffer as a tensor
 * (`tf.tensor({ buffer }, shape, dtype)`, copied on the GPU into its own pool, so the ring's
 * buffers are reused and never owned by a tensor).
 *
 * Each ring slot holds one staging and one storage buffer. A slot is reused once the GPU has done
 * the work that read it (`onSubmittedWorkDone`) and it is mapped again, so with `ringSize` slots up
 * to `ringSize` uploads overlap with the host's next copy-in. Memory held: `ringSize` x 2 x the
 * largest tensor uploaded so far.
 *
 * Only the WebGPU API itself is used, through the minimal structural types below, so nothing here
 * needs `@webgpu/types` or the backend package at compile time.
 *
 * @module
 * @internal
 */
import { RxfeedError } from '../errors.js';

/** The parts of a `GPUBuffer` used here. @internal */
export interface GpuBufferLike {
  readonly size: number;
  readonly usage: number;
  mapAsync(mode: number, offset?: number, size?: number): Promise<void>;
  getMappedRange(offset?: number, size?: number): ArrayBuffer;
  unmap(): void;
  destroy(): void;
}

/** The parts of a `GPUDevice` used here. @internal */
export interface GpuDeviceLike {
  createBuffer(descriptor: { size: number; usage: number; mappedAtCreation?: boolean; label?: string }): GpuBufferLike;
  createCommandEncoder(): {
    copyBufferToBuffer(
      source: GpuBufferLike,
      sourceOffset: number,
      destination: GpuBufferLike,
      destinationOffset: number,
      size: number,
    ): void;
    finish(): unknown;
  };
  readonly queue: { submit(buffers: unknown[]): void; onSubmittedWorkDone(): Promise<void> };
}

// WebGPU's constants (GPUBufferUsage, GPUMapMode), spelled out: Node has no such globals unless
// the `webgpu` package installed them.
const MAP_WRITE = 0x0002;
const COPY_SRC = 0x0004;
const COPY_DST = 0x0008;
const STORAGE = 0x0080;
const MAP_MODE_WRITE = 0x0002;

interface Slot {
  staging: GpuBufferLike | undefined;
  storage: GpuBufferLike | undefined;
  /** The slot's staging buffer is mapped and its storage buffer no longer read by the GPU. */
  ready: Promise<void>;
}

/**
 * Options of the WebGPU staging upload path of `tfjsAdapter`.
 * @public
 */
export interface WebGpuUploadOptions {
  /** Staging slots, i.e. uploads that can be in flight at once; default 2. */
  readonly ringSize?: number;
  /** Tensors smaller than this many bytes use `tf.tensor(typedArray)`; default 65536. */
  readonly minBytes?: number;
}

/**
 * A ring of staging buffers feeding GPU storage buffers. Not thread-safe; one per backend.
 * @internal
 */
export class WebGpuStagingRing {
  readonly #device: GpuDeviceLike;
  readonly #slots: Slot[];
  #next = 0;
  #destroyed = false;

  constructor(device: GpuDeviceLike, ringSize = 2) {
    this.#device = device;
    this.#slots = Array.from({ length: ringSize }, () => ({ staging: undefined, storage: undefined, ready: Promise.resolve() }));
  }

  /**
   * Copy `bytes` into the next slot's staging buffer and onto the GPU, then call `adopt` with the
   * storage buffer holding them (it must consume the buffer synchronously, e.g. tfjs copying it
   * into its own pool); the slot is reused once that GPU work is done.
   */
  async upload<T>(bytes: Uint8Array, adopt: (storage: GpuBufferLike) => T): Promise<T> {
    if (this.#destroyed) throw new RxfeedError('RXFEED_ERR_UPLOAD_RING_DESTROYED', 'the WebGPU staging ring was destroyed');
    const slot = this.#slots[this.#next]!;
    this.#next = (this.#next + 1) % this.#slots.length;
    // Claim the slot before awaiting: a later upload landing on this slot waits for `ready`, which
    // resolves only once this upload's GPU work is done and the staging buffer is mapped again.
    const previous = slot.ready;
    let markReady!: () => void;
    slot.ready = new Promise((resolve) => (markReady = resolve));
    try {
      await previous;
      const size = align4(bytes.byteLength);
      this.#ensureSize(slot, size);
      const staging = slot.staging!;
      const storage = slot.storage!;
      new Uint8Array(staging.getMappedRange(0, size), 0, bytes.byteLength).set(bytes);
      staging.unmap();
      const encoder = this.#device.createCommandEncoder();
      encoder.copyBufferToBuffer(staging, 0, storage, 0, size);
      this.#device.queue.submit([encoder.finish()]);
      const result = adopt(storage);
      // Reusable once the GPU has read both buffers (our copy, and the adopter's copy of storage).
      this.#device.queue
        .onSubmittedWorkDone()
        .then(() => staging.mapAsync(MAP_MODE_WRITE, 0, size))
        .catch(() => this.#drop(slot)) // a lost device: the next use recreates the buffers
        .finally(markReady);
      return result;
    } catch (error) {
      this.#drop(slot);
      markReady();
      throw error;
    }
  }

  #drop(slot: Slot): void {
    slot.staging?.destroy();
    slot.storage?.destroy();
    slot.staging = undefined;
    slot.storage = undefined;
  }

  #ensureSize(slot: Slot, size: number): void {
    if (slot.staging !== undefined && slot.staging.size === size && slot.storage !== undefined) return;
    // Exact sizes: tfjs copies a storage buffer whole, so a larger one would waste GPU memory.
    this.#drop(slot);
    slot.staging = this.#device.createBuffer({ size, usage: MAP_WRITE | COPY_SRC, mappedAtCreation: true, label: 'rxfeed-staging' });
    slot.storage = this.#device.createBuffer({ size, usage: STORAGE | COPY_SRC | COPY_DST, label: 'rxfeed-upload' });
  }

  /** Wait for uploads in flight, then free every buffer. */
  async destroy(): Promise<void> {
    this.#destroyed = true;
    await Promise.all(this.#slots.map((slot) => slot.ready));
    for (const slot of this.#slots) this.#drop(slot);
  }
}

function align4(n: number): number {
  return Math.max(4, Math.ceil(n / 4) * 4);
}
