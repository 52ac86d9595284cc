/**
 * Type tests (issue 10): `tsc -p tsconfig.json` compiles this file, so a wrong type fails the build.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { expectTypeOf } from 'expect-type';
import { collateBatch, type Collated, type CollatedPaddedBatch, type CollateResult } from '../../src/collate.js';
import type { DeviceBatch, TypedArrayTensor } from '../../src/device.js';
import type { HostTensor, PaddedBatch } from '../../src/tensor.js';

interface Sample {
  readonly image: Float32Array;
  readonly label: number;
  readonly id: bigint;
  readonly ok: boolean;
  readonly caption: string;
  readonly tokens: number[][];
  readonly meta: { readonly lang: string; readonly scores: Float64Array; readonly extra?: number };
  readonly pair: [Uint8Array, { readonly weight: number }];
  readonly shaped: HostTensor<'int32'>;
  readonly note?: string | null;
}

describe('types: Collated<T> and DeviceBatch (issue 10)', () => {
  it('issue 10: Collated turns scalar, string, typed-array and nested-array fields into HostTensors, keeping objects and tuples', () => {
    type C = Collated<Sample>;
    expectTypeOf<C['image']>().toEqualTypeOf<HostTensor>();
    expectTypeOf<C['label']>().toEqualTypeOf<HostTensor>();
    expectTypeOf<C['id']>().toEqualTypeOf<HostTensor>();
    expectTypeOf<C['ok']>().toEqualTypeOf<HostTensor>();
    expectTypeOf<C['caption']>().toEqualTypeOf<HostTensor>();
    expectTypeOf<C['tokens']>().toEqualTypeOf<HostTensor>();
    expectTypeOf<C['shaped']>().toEqualTypeOf<HostTensor>();
    expectTypeOf<C['meta']>().toEqualTypeOf<{ lang: HostTensor; scores: HostTensor; extra?: HostTensor }>();
    expectTypeOf<C['pair']>().toEqualTypeOf<[HostTensor, { weight: HostTensor }]>();
    expectTypeOf<C['note']>().toEqualTypeOf<HostTensor | undefined>();
    expectTypeOf<Collated<number>>().toEqualTypeOf<HostTensor>();
    expectTypeOf<Collated<Uint8Array>>().toEqualTypeOf<HostTensor>();
    // @ts-expect-error an object field is not a tensor
    expectTypeOf<C['meta']>().toEqualTypeOf<HostTensor>();
    // @ts-expect-error a typed-array field is collated, not kept
    expectTypeOf<C['image']>().toEqualTypeOf<Float32Array>();
    const out = collateBatch([{ label: 1, meta: { lang: 'en' } }]);
    expectTypeOf(out).toEqualTypeOf<{ label: HostTensor; meta: { lang: HostTensor } }>();
    assert.equal(out.meta.lang.dtype, 'string');
  });

  it('issue 10: CollateResult of a PaddedBatch is the collated rows beside mask and index', () => {
    expectTypeOf<CollateResult<PaddedBatch<{ x: number }>>>().toEqualTypeOf<CollatedPaddedBatch<{ x: number }>>();
    expectTypeOf<CollatedPaddedBatch<{ x: number }>['rows']>().toEqualTypeOf<{ x: HostTensor }>();
    expectTypeOf<CollatedPaddedBatch<{ x: number }>['mask']>().toEqualTypeOf<HostTensor<'bool'>>();
    expectTypeOf<CollateResult<readonly { x: number }[]>>().toEqualTypeOf<{ x: HostTensor }>();
    assert.ok(true);
  });

  it('issue 10: DeviceBatch replaces every HostTensor by the device tensor and keeps the rest', () => {
    class Tensor {
      readonly device = true;
    }
    type D = DeviceBatch<Collated<Sample>, Tensor>;
    expectTypeOf<D['image']>().toEqualTypeOf<Tensor>();
    expectTypeOf<D['meta']>().toEqualTypeOf<{ lang: Tensor; scores: Tensor; extra?: Tensor }>();
    expectTypeOf<D['pair']>().toEqualTypeOf<[Tensor, { weight: Tensor }]>();
    expectTypeOf<DeviceBatch<CollatedPaddedBatch<{ x: number }>, Tensor>>().toEqualTypeOf<{
      rows: { x: Tensor };
      mask: Tensor;
      index: Tensor;
    }>();
    expectTypeOf<DeviceBatch<{ t: HostTensor; n: number; s: string }, TypedArrayTensor>>().toEqualTypeOf<{
      t: TypedArrayTensor;
      n: number;
      s: string;
    }>();
    // @ts-expect-error a converted leaf is no longer a HostTensor
    expectTypeOf<D['image']>().toEqualTypeOf<HostTensor>();
    assert.ok(true);
  });
});
