import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { lastValueFrom, toArray } from 'rxjs';
import { collate } from '../../operators/collate.js';
import { collateBatch, collateWith } from '../../src/collate.js';
import { resolveCollateOptions, type CollateOptions } from '../../src/collateOptions.js';
import { plannedCollator } from '../../src/collatePlan.js';
import { CollateError } from '../../src/errors.js';
import { fromItems } from '../../src/index.js';

/** What collateBatch gives a batch: its result, or the error it throws. */
function outcome(run: () => unknown): { value?: unknown; error?: unknown } {
  try {
    return { value: run() };
  } catch (error) {
    return { error };
  }
}

/**
 * Collate `batches` in order with one planned collator (the plan is read from the first) and
 * assert each batch gives exactly what collateBatch gives it alone: the same tensors, or an error
 * of the same class, path and message.
 */
function assertSameAsCollateBatch(batches: readonly (readonly unknown[])[], options: CollateOptions = {}): void {
  const settings = resolveCollateOptions(options);
  const planned = plannedCollator();
  batches.forEach((batch, b) => {
    const expected = outcome(() => collateBatch(batch, options));
    const actual = outcome(() => collateWith(batch, settings, planned));
    if (expected.error === undefined) {
      assert.equal(actual.error, undefined, `batch ${b}: unexpected ${String(actual.error)}`);
      assert.deepEqual(actual.value, expected.value, `batch ${b}`);
    } else {
      assert.ok(actual.error instanceof Error, `batch ${b}: expected ${String(expected.error)}`);
      assert.equal(actual.error.constructor, (expected.error as Error).constructor, `batch ${b}`);
      assert.equal(actual.error.message, (expected.error as Error).message, `batch ${b}`);
    }
  });
}

const sample = (i: number) => ({ image: Float32Array.of(i, i + 0.5), label: i, name: `s${i}` });

describe('collate: the layout planned from the first batch (issue 12)', () => {
  it('issue 12: batches laid out as the first collate exactly as collateBatch collates them', () => {
    assertSameAsCollateBatch([
      [sample(0), sample(1)],
      [sample(2), sample(3), sample(4)],
      [{ image: Float32Array.of(1, 2), label: 0.25, name: 'fraction' }], // int32 one batch, float64 the next
      [sample(5)],
    ]);
    const nested = (i: number) => ({ meta: { id: BigInt(i), ok: i % 2 === 0 }, pixels: Uint8Array.of(i, i), steps: [i, i] });
    assertSameAsCollateBatch([
      [nested(0), nested(1)],
      [nested(2), nested(3)],
    ]);
  });

  it('issue 12: options apply to planned batches as to any (dtype conversions, pad, mask, bytes lists)', () => {
    const batches = [[sample(0), sample(1)], [sample(2)], [sample(3), sample(4)]];
    assertSameAsCollateBatch(batches, { numberDtype: 'float32' });
    assertSameAsCollateBatch(batches, { ragged: 'pad', missing: 'mask' });
    assertSameAsCollateBatch(batches, { keys: { image: { dtype: 'float64' }, label: { dtype: 'int64' } } });
    assertSameAsCollateBatch(batches, { keys: { image: { dtype: 'bool' } } });
    const bytes = (i: number) => ({ raw: Uint8Array.of(i, i, i) });
    assertSameAsCollateBatch([[bytes(0)], [bytes(1), bytes(2)]], { bytes: 'list' });
    assertSameAsCollateBatch([[bytes(0)], [bytes(1), bytes(2)]]);
    assertSameAsCollateBatch([[bytes(0)], [bytes(1), { raw: Uint8Array.of(1) }]], { ragged: 'pad', padValue: 9 });
  });

  it('issue 12: a later batch whose layout differs from the first is collated by the general rules', () => {
    const first = [sample(0), sample(1)];
    const differing: unknown[][] = [
      [sample(2), { image: Float32Array.of(1, 2), label: 3 }], // a field missing
      [sample(2), { ...sample(3), extra: 1 }], // a field added
      [sample(2), { name: 's3', label: 3, image: Float32Array.of(1, 2) }], // keys in another order
      [sample(2), { ...sample(3), image: Float64Array.of(1, 2) }], // another typed array type
      [sample(2), { ...sample(3), image: Float32Array.of(1, 2, 3) }], // another length
      [sample(2), { ...sample(3), image: Buffer.from([1, 2]) }], // a Buffer where a Float32Array was
      [sample(2), { ...sample(3), image: [1, 2] }], // a nested array
      [sample(2), { ...sample(3), image: { data: Float32Array.of(1, 2), shape: [2], dtype: 'float32' } }], // a shaped leaf
      [sample(2), { ...sample(3), label: 'three' }], // another scalar type
      [sample(2), { ...sample(3), label: null }], // null
      [sample(2), null], // a missing sample
      [sample(2), Object.assign(Object.create({ inherited: 1 }) as object, sample(3))], // a class-like prototype
      [sample(2), { ...sample(3), dtype: 'float32' }], // a key that may make a shaped leaf
    ];
    for (const batch of differing) {
      assertSameAsCollateBatch([first, batch, first]);
      assertSameAsCollateBatch([first, batch, first], { missing: 'zero', ragged: 'pad' });
      assertSameAsCollateBatch([first, batch, first], { missing: 'skip' });
    }
    // Same enumerable keys, but a hidden dtype makes it a shaped leaf.
    const shapedLike = (data: Float32Array) => ({ data, shape: [data.length] });
    const hidden = Object.defineProperty(shapedLike(Float32Array.of(7, 8)), 'dtype', { value: 'float32', enumerable: false });
    assertSameAsCollateBatch([[shapedLike(Float32Array.of(1, 2))], [hidden]]);
    // Same constructor and length, but a Uint8Array (bytes) where a Float32Array was.
    const disguised = Object.defineProperty(Uint8Array.of(1, 2), 'constructor', { value: Float32Array });
    assertSameAsCollateBatch([[{ x: Float32Array.of(1, 2) }], [{ x: disguised }]], { bytes: 'list' });
  });

  it('issue 12: a sample that breaks the planned layout ends the stream with a CollateError naming the field and the sample', async () => {
    const batches = [
      [sample(0), sample(1)],
      [sample(2), sample(3), { image: Float32Array.of(1, 2, 3), label: 4, name: 's4' }],
    ];
    await assert.rejects(lastValueFrom(fromItems(batches).pipe(collate(), toArray())), (error: unknown) => {
      assert.ok(error instanceof CollateError);
      assert.equal(error.code, 'RXFEED_ERR_COLLATE');
      assert.equal(error.path, 'image');
      assert.match(error.message, /sample 0 has length 2, sample 2 has length 3/);
      return true;
    });
    const missing = [[sample(0)], [sample(1), { image: Float32Array.of(1, 2), name: 's' }]];
    await assert.rejects(lastValueFrom(fromItems(missing).pipe(collate(), toArray())), (error: unknown) => {
      assert.ok(error instanceof CollateError);
      assert.equal(error.path, 'label');
      assert.match(error.message, /missing in sample 1 \(present in sample 0\)/);
      return true;
    });
  });

  it('issue 12: each subscription plans from its own first batch', async () => {
    let epoch = 0;
    const source = fromItems<{ x: number | Float32Array }[]>(() =>
      epoch++ === 0 ? [[{ x: 1 }], [{ x: 2 }]] : [[{ x: Float32Array.of(1) }], [{ x: Float32Array.of(2) }]],
    );
    const collated = source.pipe(collate());
    assert.deepEqual(await lastValueFrom(collated.pipe(toArray())), [
      { x: { data: Int32Array.of(1), shape: [1], dtype: 'int32' } },
      { x: { data: Int32Array.of(2), shape: [1], dtype: 'int32' } },
    ]);
    assert.deepEqual(await lastValueFrom(collated.pipe(toArray())), [
      { x: { data: Float32Array.of(1), shape: [1, 1], dtype: 'float32' } },
      { x: { data: Float32Array.of(2), shape: [1, 1], dtype: 'float32' } },
    ]);
  });
});
