import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';
import { concat, lastValueFrom, map, take, throwError, toArray } from 'rxjs';
import { batch } from '../../operators/batch.js';
import { collate } from '../../operators/collate.js';
import { toDevice } from '../../operators/toDevice.js';
import { DeviceConversionError, deviceExtras, typedArrayAdapter, type DeviceAdapter } from '../../src/device.js';
import { tfjsAdapter } from '../../src/adapters/tfjs.js';
import type { HostTensor } from '../../src/tensor.js';
import { InvalidArgumentError } from '../../src/errors.js';
import { Flow } from '../../src/flow.js';
import { bindContext } from '../../src/context.js';
import { fromItems, toLoader } from '../../src/index.js';
import { leakCheck } from '../../src/testing/leakCheck.js';
import { digitSamples } from '../adapters/fixtures/sampleImages.js';

/** A batch with every dtype collate makes. */
function mixedBatch(offset = 0): Record<string, unknown> {
  return {
    image: { data: Uint8Array.from({ length: 2 * 2 * 3 }, (_, i) => (i + offset) % 256), shape: [2, 2, 3], dtype: 'uint8' },
    score: { data: Float64Array.of(0.5 + offset, -1.25), shape: [2], dtype: 'float64' },
    weight: { data: Float32Array.of(1.5, 2.5), shape: [2], dtype: 'float32' },
    id: { data: BigInt64Array.of(BigInt(offset), -7n), shape: [2], dtype: 'int64' },
    flag: { data: Uint8Array.of(1, 0), shape: [2], dtype: 'bool' },
    nested: { label: { data: Int32Array.of(3, offset), shape: [2], dtype: 'int32' } },
    key: { data: ['a', `b${offset}`], shape: [2], dtype: 'string' },
    raw: { data: [Uint8Array.of(1, 2), Uint8Array.of(255)], shape: [2], dtype: 'bytes' },
    note: 'not a tensor',
  };
}

type Batch = Record<string, tf.Tensor> & { nested: { label: tf.Tensor }; note: string };

function checkMixed(out: Batch, offset = 0): void {
  assert.equal(out.image!.dtype, 'int32');
  assert.deepEqual(out.image!.shape, [2, 2, 3]);
  assert.deepEqual(
    [...out.image!.dataSync()],
    Array.from({ length: 12 }, (_, i) => (i + offset) % 256),
  );
  assert.equal(out.score!.dtype, 'float32');
  assert.deepEqual([...out.score!.dataSync()], [0.5 + offset, -1.25]);
  assert.deepEqual([...out.weight!.dataSync()], [1.5, 2.5]);
  assert.equal(out.id!.dtype, 'int32');
  assert.deepEqual([...out.id!.dataSync()], [offset, -7]);
  assert.equal(out.flag!.dtype, 'bool');
  assert.deepEqual([...out.flag!.dataSync()], [1, 0]);
  assert.deepEqual(out.nested.label.arraySync(), [3, offset]);
  assert.equal(out.key!.dtype, 'string');
  assert.deepEqual(out.key!.arraySync(), ['a', `b${offset}`]);
  assert.equal(out.note, 'not a tensor');
}

/** Every tensor leaf of a converted batch. */
function tensorsOf(value: unknown): tf.Tensor[] {
  if (value instanceof tf.Tensor) return [value];
  if (typeof value !== 'object' || value === null) return [];
  return Object.values(value).flatMap(tensorsOf);
}

/** A tfjs adapter whose tensors arrive after a delay, as WebGPU staging uploads do. */
function delayedAdapter(delays: number[]): DeviceAdapter<tf.Tensor> & { made: number } {
  const inner = tfjsAdapter(tf);
  let call = 0;
  const adapter = {
    name: 'delayed-tfjs',
    made: 0,
    toTensor(host: HostTensor, path: string): Promise<tf.Tensor> {
      const delay = delays[call++ % delays.length]!;
      return new Promise((resolve) =>
        setTimeout(() => {
          adapter.made++;
          resolve(inner.toTensor(host, path) as tf.Tensor);
        }, delay),
      );
    },
    dispose: (tensor: tf.Tensor) => tensor.dispose(),
  };
  return adapter;
}

for (const backend of ['cpu', 'wasm'] as const) {
  describe(`toDevice with tfjs on the ${backend} backend`, () => {
    before(async () => {
      assert.equal(await tf.setBackend(backend), true);
    });

    it('turns every host leaf into a tensor with exact values, shapes and mapped dtypes', async () => {
      await leakCheck(tf, async () => {
        const out = (await lastValueFrom(
          fromItems([mixedBatch(0), mixedBatch(1)]).pipe(toDevice(tfjsAdapter(tf), { prefetch: 2 }), toArray()),
        )) as unknown as Batch[];
        assert.equal(out.length, 2);
        checkMixed(out[0]!, 0);
        checkMixed(out[1]!, 1);
        const raw = await out[0]!.raw!.bytes();
        assert.deepEqual(raw, [Uint8Array.of(1, 2), Uint8Array.of(255)]);
        tf.dispose(out.flatMap(tensorsOf));
      });
    });

    it(`issue 14: the tfjs adapter says it used the ${backend} backend (backend, name and one log line)`, async () => {
      const lines: string[] = [];
      const adapter = tfjsAdapter(tf, { log: (line) => lines.push(line) });
      assert.equal(adapter.backend, undefined);
      assert.equal(adapter.name, 'tfjs');
      await leakCheck(tf, async () => {
        const out = await lastValueFrom(fromItems([mixedBatch(0), mixedBatch(1)]).pipe(toDevice(adapter, { prefetch: 1 }), toArray()));
        tf.dispose(out.flatMap(tensorsOf));
      });
      assert.equal(adapter.backend, backend);
      assert.equal(adapter.name, `tfjs(${backend})`);
      assert.equal(adapter.usesWebGpuStaging, false);
      assert.deepEqual(lines, [`tfjsAdapter: backend ${backend}, tf.tensor uploads`]);
    });

    it('converts real collated batches (WebDataset digits) exactly', async () => {
      const samples = (await digitSamples()).slice(0, 10);
      const { decodeImage } = await import('../../src/adapters/decodeImage.js');
      const decoded = await Promise.all(samples.map(async (s, index) => ({ image: await decodeImage(s.png, { index }), cls: s.cls })));
      await leakCheck(tf, async () => {
        const batches = await lastValueFrom(
          fromItems(decoded).pipe(
            batch(4),
            collate(),
            toDevice(tfjsAdapter(tf, { dtypes: { uint8: 'float32' } }), { prefetch: 2 }),
            toArray(),
          ),
        );
        assert.deepEqual(
          batches.map((b) => b.image.shape),
          [
            [4, 28, 28, 3],
            [4, 28, 28, 3],
            [2, 28, 28, 3],
          ],
        );
        assert.equal(batches[0]!.image.dtype, 'float32');
        const pixels = batches.flatMap((b) => [...b.image.dataSync()]);
        assert.deepEqual(
          pixels,
          decoded.flatMap((d) => [...d.image.data]),
        );
        assert.deepEqual(
          batches.flatMap((b) => [...b.cls.dataSync()]),
          samples.map((s) => s.cls),
        );
        tf.dispose(batches.flatMap(tensorsOf));
      });
    });

    it('leaves no tensor behind after a for-await break (the loader disposes queued batches)', async () => {
      await leakCheck(tf, async () => {
        const pipeline = fromItems(Array.from({ length: 50 }, (_, i) => mixedBatch(i))).pipe(toDevice(tfjsAdapter(tf), { prefetch: 3 }));
        let seen = 0;
        for await (const converted of toLoader(pipeline, { prefetch: 4 })) {
          checkMixed(converted as unknown as Batch, seen);
          tf.dispose(tensorsOf(converted)); // the consumer owns what it received
          if (++seen === 3) break;
        }
        assert.equal(seen, 3);
      });
    });

    it('take(n): only n batches are converted and handed over, nothing leaks', async () => {
      await leakCheck(tf, async () => {
        let pulled = 0;
        const source = fromItems(Array.from({ length: 20 }, (_, i) => i)).pipe(
          map((i) => {
            pulled++;
            return mixedBatch(i);
          }),
        );
        const out = await lastValueFrom(source.pipe(toDevice(tfjsAdapter(tf), { prefetch: 2 }), take(2), toArray()));
        assert.equal(out.length, 2);
        assert.equal(pulled, 2);
        tf.dispose(out.flatMap(tensorsOf));
      });
    });

    it('a leaf out of range fails with the path, and the other tensors of that batch are disposed', async () => {
      await leakCheck(tf, async () => {
        const bad = mixedBatch(0);
        bad['id'] = { data: BigInt64Array.of(1n, 2n ** 40n), shape: [2], dtype: 'int64' };
        const emitted: unknown[] = [];
        await assert.rejects(
          new Promise<void>((resolve, reject) => {
            fromItems([mixedBatch(5), bad, mixedBatch(6)])
              .pipe(toDevice(tfjsAdapter(tf), { prefetch: 2 }))
              .subscribe({ next: (b) => emitted.push(b), error: reject, complete: resolve });
          }),
          (error: unknown) => {
            assert.ok(error instanceof DeviceConversionError);
            assert.equal(error.code, 'RXFEED_ERR_DEVICE_CONVERSION');
            assert.equal(error.path, 'id');
            assert.match(error.message, /int64 element 1 \(1099511627776\) is outside int32's range/);
            return true;
          },
        );
        assert.equal(emitted.length, 1, 'the batch before the bad one was delivered');
        tf.dispose(emitted.flatMap(tensorsOf));
      });
    });

    it('an upstream error ends the stream; batches emitted before it belong to the consumer', async () => {
      await leakCheck(tf, async () => {
        const emitted: unknown[] = [];
        await assert.rejects(
          new Promise<void>((resolve, reject) => {
            concat(
              fromItems([mixedBatch(1), mixedBatch(2)]),
              throwError(() => new Error('disk gone')),
            )
              .pipe(toDevice(tfjsAdapter(tf), { prefetch: 2 }))
              .subscribe({ next: (b) => emitted.push(b), error: reject, complete: resolve });
          }),
          /disk gone/,
        );
        assert.equal(emitted.length, 2);
        tf.dispose(emitted.flatMap(tensorsOf));
      });
    });

    it('asynchronous conversions keep input order and at most `prefetch` batches in the stage', async () => {
      await leakCheck(tf, async () => {
        const adapter = delayedAdapter([15, 1, 8, 3]);
        const flow = new Flow();
        const occupancy = (): number => flow.snapshot().stages.find((stage) => stage.name === 'toDevice')!.occupancy;
        const toTensor = adapter.toTensor.bind(adapter);
        let peak = 0;
        adapter.toTensor = (host, path) => {
          // Counted once this batch has joined the stage (right after this call returns).
          queueMicrotask(() => (peak = Math.max(peak, occupancy())));
          return toTensor(host, path);
        };
        const out = await bindContext({ flow, epoch: 0 }, () =>
          lastValueFrom(
            fromItems(Array.from({ length: 12 }, (_, i) => ({ x: { data: Int32Array.of(i), shape: [1], dtype: 'int32' as const } }))).pipe(
              toDevice(adapter, { prefetch: 3 }),
              toArray(),
            ),
          ),
        );
        assert.equal(peak, 3, 'three uploads overlapped, never more');
        assert.deepEqual(
          out.map((b) => b.x.dataSync()[0]),
          Array.from({ length: 12 }, (_, i) => i),
        );
        tf.dispose(out.flatMap(tensorsOf));
      });
    });

    it('unsubscribing while uploads are in flight disposes the tensors that arrive afterwards', async () => {
      await leakCheck(tf, async () => {
        const adapter = delayedAdapter([20]);
        const subscription = fromItems(Array.from({ length: 5 }, (_, i) => ({ x: { data: Int32Array.of(i), shape: [1], dtype: 'int32' } })))
          .pipe(toDevice(adapter, { prefetch: 3 }))
          .subscribe(() => assert.fail('nothing should be emitted before the unsubscribe'));
        await new Promise((resolve) => setTimeout(resolve, 5));
        subscription.unsubscribe();
        await new Promise((resolve) => setTimeout(resolve, 60));
        assert.ok(adapter.made >= 1, 'conversions were in flight');
      });
    });

    it('keeps `host` paths on the host and exposes lengths and mask as extras, disposed with the batch', async () => {
      await leakCheck(tf, async () => {
        const index: HostTensor = { data: Float64Array.of(2 ** 30 + 1, -1), shape: [2], dtype: 'float64' };
        const tokens: HostTensor = {
          data: Int32Array.of(1, 2, 3, 0),
          shape: [2, 2],
          dtype: 'int32',
          lengths: Int32Array.of(2, 1),
          mask: Uint8Array.of(1, 1),
        };
        const [out] = await lastValueFrom(
          fromItems([{ index, tokens }]).pipe(toDevice(tfjsAdapter(tf), { prefetch: 1, host: ['index'] }), toArray()),
        );
        assert.equal(out!.index, index);
        const extras = deviceExtras(out!.tokens);
        assert.deepEqual([...extras!.lengths!.dataSync()], [2, 1]);
        assert.equal(extras!.mask!.dtype, 'bool');
        assert.deepEqual(Object.keys(out!), ['index', 'tokens']);
        (out as unknown as Disposable)[Symbol.dispose]();
      });
    });
  });
}

describe('toDevice arguments and the typed-array adapter', () => {
  after(async () => {
    await tf.setBackend('cpu');
  });

  it('issue 14: tfjsAdapter.log must be a function', () => {
    assert.throws(
      () => tfjsAdapter(tf, { log: 'console' as never }),
      (error: unknown) => error instanceof InvalidArgumentError && error.argument === 'tfjsAdapter.log',
    );
  });

  it('requires a positive integer prefetch', () => {
    assert.throws(() => toDevice(typedArrayAdapter(), { prefetch: 0 }), InvalidArgumentError);
    assert.throws(() => toDevice(typedArrayAdapter(), {} as { prefetch: number }), InvalidArgumentError);
  });

  it('the typed-array adapter hands on the data itself', async () => {
    const data = Float32Array.of(1, 2);
    const [out] = await lastValueFrom(
      fromItems([{ a: { data, shape: [2], dtype: 'float32' }, b: 3 }]).pipe(toDevice(typedArrayAdapter(), { prefetch: 1 }), toArray()),
    );
    assert.equal(out!.a.data, data);
    assert.deepEqual(out!.a.shape, [2]);
    assert.equal(out!.b, 3);
  });

  it('float64 beyond float32 range and uint32 beyond int32 fail with DeviceConversionError', () => {
    const adapter = tfjsAdapter(tf);
    assert.throws(
      () => adapter.toTensor({ data: Float64Array.of(1e39), shape: [1], dtype: 'float64' }, 'x'),
      /toDevice 'x': float64 element 0 \(1e\+39\) is outside float32's range/,
    );
    assert.throws(() => adapter.toTensor({ data: Uint32Array.of(2 ** 31), shape: [1], dtype: 'uint32' }, 'y'), DeviceConversionError);
    assert.throws(() => tfjsAdapter(tf, { dtypes: { uint8: 'bool' as 'int32' } }), InvalidArgumentError);
  });
});

describe('toDevice walks batches with the shared tree walk (issue 10)', () => {
  it('issue 10: a field named __proto__ stays a field of the converted batch, not its prototype', async () => {
    const batch = JSON.parse('{"__proto__": {"w": 1}, "x": 2}') as Record<string, unknown>;
    const leaf = { data: Float32Array.of(1), shape: [1], dtype: 'float32' };
    Object.defineProperty(batch, '__proto__', { value: { w: leaf }, enumerable: true });
    const [out] = await lastValueFrom(fromItems([batch]).pipe(toDevice(typedArrayAdapter(), { prefetch: 1 }), toArray()));
    const converted = out as Record<string, unknown>;
    assert.equal(Object.getPrototypeOf(converted), Object.prototype);
    assert.deepEqual(Object.keys(converted), ['__proto__', 'x']);
    const field = Object.getOwnPropertyDescriptor(converted, '__proto__')?.value as { w: { data: Float32Array } };
    assert.equal(field.w.data, leaf.data);
  });

  it('issue 10: asynchronous conversions land in place, with host paths and extras, in nested objects and tuples', async () => {
    const adapter: DeviceAdapter<{ readonly path: string }> = {
      name: 'async',
      toTensor: (_host, path) => Promise.resolve({ path }),
      dispose: () => undefined,
    };
    const leaf = (n: number): HostTensor => ({ data: Int32Array.of(n), shape: [1], dtype: 'int32' });
    const padded = { ...leaf(3), lengths: Int32Array.of(1) };
    const kept = leaf(4);
    const [out] = await lastValueFrom(
      fromItems([{ a: leaf(1), pair: [leaf(2), { deep: padded }], keep: kept, n: 5 }]).pipe(
        toDevice(adapter, { prefetch: 1, host: ['keep'] }),
        toArray(),
      ),
    );
    assert.deepEqual(out, { a: { path: 'a' }, pair: [{ path: 'pair.0' }, { deep: { path: 'pair.1.deep' } }], keep: kept, n: 5 });
    assert.equal(out!.keep, kept);
    assert.deepEqual(deviceExtras(out!.pair[1].deep), { lengths: { path: 'pair.1.deep.lengths' } });
  });
});
