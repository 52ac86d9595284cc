/**
 * The staging ring's bookkeeping, on a simulated WebGPU device: no WebGPU implementation can run on
 * the CI machines (no GPU; Dawn needs Vulkan), so this device keeps WebGPU's mapping rules
 * (a buffer's mapped range is readable only while mapped; `mapAsync` and `onSubmittedWorkDone`
 * settle later) and executes copies on submit. The real device is exercised by
 * bench/webgpu-upload.ts on a GPU machine.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { WebGpuStagingRing, type GpuBufferLike, type GpuDeviceLike } from '../../src/adapters/webgpuUpload.js';

class SimulatedBuffer implements GpuBufferLike {
  readonly bytes: Uint8Array;
  mapped: boolean;
  destroyed = false;
  constructor(
    readonly size: number,
    readonly usage: number,
    mapped: boolean,
  ) {
    this.bytes = new Uint8Array(size);
    this.mapped = mapped;
  }
  async mapAsync(): Promise<void> {
    await new Promise((resolve) => setTimeout(resolve, 1));
    if (this.destroyed) throw new Error('mapAsync on a destroyed buffer');
    if (this.mapped) throw new Error('mapAsync on a mapped buffer');
    this.mapped = true;
  }
  getMappedRange(offset = 0, size = this.size - offset): ArrayBuffer {
    if (!this.mapped || this.destroyed) throw new Error('getMappedRange on an unmapped buffer');
    assert.equal(offset, 0);
    assert.ok(size <= this.size);
    return this.bytes.buffer as ArrayBuffer;
  }
  unmap(): void {
    this.mapped = false;
  }
  destroy(): void {
    this.destroyed = true;
  }
}

class SimulatedDevice implements GpuDeviceLike {
  readonly buffers: SimulatedBuffer[] = [];
  pendingWork = 0;
  createBuffer(descriptor: { size: number; usage: number; mappedAtCreation?: boolean }): SimulatedBuffer {
    assert.equal(descriptor.size % 4, 0, 'buffer sizes are multiples of 4');
    const buffer = new SimulatedBuffer(descriptor.size, descriptor.usage, descriptor.mappedAtCreation ?? false);
    this.buffers.push(buffer);
    return buffer;
  }
  createCommandEncoder(): ReturnType<GpuDeviceLike['createCommandEncoder']> {
    const copies: (() => void)[] = [];
    return {
      copyBufferToBuffer: (source, sourceOffset, destination, destinationOffset, size) => {
        const from = source as SimulatedBuffer;
        const to = destination as SimulatedBuffer;
        assert.equal(from.mapped, false, 'a mapped buffer cannot be copied from');
        copies.push(() => to.bytes.set(from.bytes.subarray(sourceOffset, sourceOffset + size), destinationOffset));
      },
      finish: () => copies,
    };
  }
  readonly queue = {
    submit: (commands: unknown[]): void => {
      for (const copies of commands as (() => void)[][]) for (const copy of copies) copy();
      this.pendingWork++;
    },
    onSubmittedWorkDone: async (): Promise<void> => {
      await new Promise((resolve) => setTimeout(resolve, 2));
      this.pendingWork = 0;
    },
  };
}

const STORAGE = 0x0080;
const MAP_WRITE = 0x0002;

describe('WebGpuStagingRing (simulated device)', () => {
  it('copies the bytes into a storage buffer handed to the adopter, sizes rounded up to 4', async () => {
    const device = new SimulatedDevice();
    const ring = new WebGpuStagingRing(device, 2);
    const seen = await ring.upload(Uint8Array.of(1, 2, 3, 4, 5), (storage) => {
      const buffer = storage as SimulatedBuffer;
      assert.ok(buffer.usage & STORAGE);
      return [...buffer.bytes];
    });
    assert.deepEqual(seen, [1, 2, 3, 4, 5, 0, 0, 0]);
    const staging = device.buffers.find((b) => b.usage & MAP_WRITE)!;
    assert.equal(staging.size, 8);
    await ring.destroy();
  });

  it('many concurrent uploads over 2 slots: each adopter sees its own bytes, slots are reused', async () => {
    const device = new SimulatedDevice();
    const ring = new WebGpuStagingRing(device, 2);
    const uploads = Array.from({ length: 9 }, (_, i) =>
      ring.upload(
        Uint8Array.from({ length: 16 }, (_, j) => i * 16 + j),
        (storage) => [...(storage as SimulatedBuffer).bytes],
      ),
    );
    const results = await Promise.all(uploads);
    results.forEach((bytes, i) =>
      assert.deepEqual(
        bytes,
        Array.from({ length: 16 }, (_, j) => i * 16 + j),
      ),
    );
    assert.equal(device.buffers.length, 4, 'two slots of one staging and one storage buffer each');
    await ring.destroy();
    assert.ok(device.buffers.every((b) => b.destroyed));
  });

  it('issue 10: an upload after destroy fails with a typed error, not a plain Error', async () => {
    const ring = new WebGpuStagingRing(new SimulatedDevice(), 2);
    await ring.destroy();
    await assert.rejects(
      ring.upload(Uint8Array.of(1), () => undefined),
      { code: 'RXFEED_ERR_UPLOAD_RING_DESTROYED' },
    );
  });

  it('a different size replaces the slot buffers, destroying the old ones', async () => {
    const device = new SimulatedDevice();
    const ring = new WebGpuStagingRing(device, 1);
    await ring.upload(new Uint8Array(8), () => undefined);
    await ring.upload(new Uint8Array(32), (storage) => assert.equal(storage.size, 32));
    assert.deepEqual(
      device.buffers.map((b) => [b.size, b.destroyed]),
      [
        [8, true],
        [8, true],
        [32, false],
        [32, false],
      ],
    );
    await ring.destroy();
    await assert.rejects(
      ring.upload(new Uint8Array(4), () => undefined),
      /destroyed/,
    );
  });

  it('an adopter that throws frees the slot for the next upload', async () => {
    const device = new SimulatedDevice();
    const ring = new WebGpuStagingRing(device, 1);
    await assert.rejects(
      ring.upload(new Uint8Array(4), () => {
        throw new Error('tfjs refused the buffer');
      }),
      /tfjs refused the buffer/,
    );
    const seen = await ring.upload(Uint8Array.of(9, 9, 9, 9), (storage) => [...(storage as SimulatedBuffer).bytes]);
    assert.deepEqual(seen, [9, 9, 9, 9]);
    await ring.destroy();
  });
});
