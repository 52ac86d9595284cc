import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { lastValueFrom, toArray, type Observable } from 'rxjs';
import { TestScheduler } from 'rxjs/testing';
import { batch } from '../../operators/batch.js';
import { collate } from '../../operators/collate.js';
import type { HostTensor, PaddedBatch } from '../../src/tensor.js';
import { CollateError, fromItems, InvalidArgumentError, sizeOf, withInfo } from '../../src/index.js';

const testScheduler = () => new TestScheduler((actual, expected) => assert.deepEqual(actual, expected));

describe('collate', () => {
  it('collates each batch inside the call that delivered it', () => {
    testScheduler().run(({ cold, expectObservable, expectSubscriptions }) => {
      const source = cold<{ x: number; y: string }[]>('-a--b|', {
        a: [
          { x: 1, y: 'p' },
          { x: 2, y: 'q' },
        ],
        b: [{ x: 0.5, y: 'r' }],
      });
      expectObservable(source.pipe(collate())).toBe('-a--b|', {
        a: {
          x: { data: Int32Array.of(1, 2), shape: [2], dtype: 'int32' },
          y: { data: ['p', 'q'], shape: [2], dtype: 'string' },
        },
        b: {
          x: { data: Float64Array.of(0.5), shape: [1], dtype: 'float64' },
          y: { data: ['r'], shape: [1], dtype: 'string' },
        },
      });
      expectSubscriptions(source.subscriptions).toBe('^----!');
    });
  });

  it('after batch: typed rows become one [B, length] array per batch', () => {
    testScheduler().run(({ cold, expectObservable }) => {
      const source = cold('abc|', {
        a: { image: Float32Array.of(1, 2), label: 0 },
        b: { image: Float32Array.of(3, 4), label: 1 },
        c: { image: Float32Array.of(5, 6), label: 2 },
      });
      expectObservable(source.pipe(batch(2), collate())).toBe('-x-(y|)', {
        x: {
          image: { data: Float32Array.of(1, 2, 3, 4), shape: [2, 2], dtype: 'float32' },
          label: { data: Int32Array.of(0, 1), shape: [2], dtype: 'int32' },
        },
        y: {
          image: { data: Float32Array.of(5, 6), shape: [1, 2], dtype: 'float32' },
          label: { data: Int32Array.of(2), shape: [1], dtype: 'int32' },
        },
      });
    });
  });

  it('collates a PaddedBatch into { rows, mask, index }', () => {
    testScheduler().run(({ cold, expectObservable }) => {
      const padded: PaddedBatch<number> = {
        rows: [4, 5, 4],
        mask: Uint8Array.of(1, 1, 0),
        index: Float64Array.of(4, 5, -1),
      };
      expectObservable(cold('a|', { a: padded }).pipe(collate())).toBe('a|', {
        a: {
          rows: { data: Int32Array.of(4, 5, 4), shape: [3], dtype: 'int32' },
          mask: { data: Uint8Array.of(1, 1, 0), shape: [3], dtype: 'bool' },
          index: { data: Float64Array.of(4, 5, -1), shape: [3], dtype: 'float64' },
        },
      });
    });
  });

  it('applies its options to every batch (ragged padding here)', () => {
    testScheduler().run(({ cold, expectObservable }) => {
      const source = cold('a|', { a: [{ tokens: [1, 2, 3] }, { tokens: [4] }] });
      expectObservable(source.pipe(collate({ ragged: 'pad', padValue: -1 }))).toBe('a|', {
        a: {
          tokens: {
            data: Int32Array.of(1, 2, 3, 4, -1, -1),
            shape: [2, 3],
            dtype: 'int32',
            lengths: Int32Array.of(3, 1),
          },
        },
      });
    });
  });

  it("under missing: 'skip' a batch shrinks", () => {
    testScheduler().run(({ cold, expectObservable }) => {
      const source = cold<{ x?: number }[]>('a|', { a: [{ x: 1 }, {}, { x: 3 }] });
      expectObservable(source.pipe(collate({ missing: 'skip' }))).toBe('a|', {
        a: { x: { data: Int32Array.of(1, 3), shape: [2], dtype: 'int32' } },
      });
    });
  });

  it('ends the stream with a CollateError at the batch that cannot be collated, disposing it', () => {
    const log: string[] = [];
    const held = (name: string, tokens: number[]) => ({
      tokens,
      dispose: () => {
        log.push(`dispose ${name}`);
      },
    });
    testScheduler().run(({ cold, expectObservable, expectSubscriptions }) => {
      const source = cold('a-b-c|', {
        a: [{ tokens: [1] }, { tokens: [2] }],
        b: [held('b0', [1, 2]), held('b1', [3])],
        c: [{ tokens: [4] }],
      });
      const error = new CollateError(
        'tokens',
        "ragged first dimension: sample 0 has length 2, sample 1 has length 1; set ragged: 'pad' to pad to the batch maximum",
      );
      const collated = source.pipe(collate());
      expectObservable(collated).toBe('a-#', { a: { tokens: { data: Int32Array.of(1, 2), shape: [2, 1], dtype: 'int32' } } }, error);
      expectSubscriptions(source.subscriptions).toBe('^-!');
    });
    assert.deepEqual(log, ['dispose b0', 'dispose b1']);
    // The error itself names the path and both samples.
    return lastValueFrom(fromItems([[{ tokens: [1, 2] }, { tokens: [3] }]]).pipe(collate())).then(
      () => assert.fail('expected a CollateError'),
      (error: unknown) => {
        assert.ok(error instanceof CollateError);
        assert.equal(error.path, 'tokens');
        assert.match(error.message, /sample 0 has length 2, sample 1 has length 1/);
      },
    );
  });

  it('keeps the number of batches as the dataset size', () => {
    const samples = withInfo(fromItems([{ x: 1 }]), { size: 9 });
    assert.equal(sizeOf(samples.pipe(batch(4), collate())), 3);
    assert.equal(sizeOf(withInfo(fromItems([[1]]), { size: 5 }).pipe(collate())), 5);
  });

  it('checks its options when called', () => {
    assert.throws(() => collate({ ragged: 'truncate' as never }), InvalidArgumentError);
    assert.throws(() => collate({ numberDtype: 'string' as never }), InvalidArgumentError);
  });

  it('types its output from the batches it is given', async () => {
    const samples: Observable<{ image: Float32Array; label: number; pair: [Uint8Array, string] }> = fromItems([
      { image: Float32Array.of(1), label: 1, pair: [Uint8Array.of(9), 'a'] },
      { image: Float32Array.of(2), label: 2, pair: [Uint8Array.of(8), 'b'] },
    ]);
    const batches = await lastValueFrom(samples.pipe(batch(2), collate(), toArray()));
    // Compile-time check: fields of the samples are HostTensors, tuples stay tuples.
    const image: HostTensor = batches[0]!.image;
    const [bytes, text]: [HostTensor, HostTensor] = batches[0]!.pair;
    assert.deepEqual(image.shape, [2, 1]);
    assert.deepEqual(bytes.data, Uint8Array.of(9, 8));
    assert.deepEqual(text.data, ['a', 'b']);
  });
});
