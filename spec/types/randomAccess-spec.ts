/**
 * Type tests (issue 11): `tsc -p tsconfig.json` compiles this file, so a wrong type fails the build.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { expectTypeOf } from 'expect-type';
import type { Observable } from 'rxjs';
import {
  fromRandomAccess,
  itemsDataset,
  mixDatasets,
  subsetDataset,
  type RandomAccess,
  type Sampler,
  type SamplerSpec,
} from '../../src/index.js';
import { fixedLenFeature, tfrecordDataset, type Example } from '../../sources/tfrecord/index.js';
import { webDatasetIndexed, type WebDatasetSample } from '../../sources/webdataset/index.js';

describe('types: random-access datasets (issue 11)', () => {
  it('issue 11: fromRandomAccess keeps the element type of every dataset builder', () => {
    expectTypeOf(fromRandomAccess(itemsDataset([{ id: 1 }]))).toEqualTypeOf<Observable<{ id: number }>>();
    expectTypeOf(subsetDataset(itemsDataset(['a']), [0])).toEqualTypeOf<RandomAccess<string>>();
    expectTypeOf(mixDatasets([itemsDataset([1]), itemsDataset([2])], { weights: [1, 1] })).toEqualTypeOf<RandomAccess<number>>();
    type ElementOf<P> = Awaited<P> extends RandomAccess<infer T> ? T : never;
    const _raw = () => tfrecordDataset([]);
    expectTypeOf<ElementOf<ReturnType<typeof _raw>>>().toEqualTypeOf<Uint8Array>();
    const _examples = () => tfrecordDataset([], { decode: 'example' });
    expectTypeOf<ElementOf<ReturnType<typeof _examples>>>().toEqualTypeOf<Example>();
    const _parsed = () => tfrecordDataset([], { decode: 'example', features: { label: fixedLenFeature('string', []) } });
    expectTypeOf<ElementOf<ReturnType<typeof _parsed>>>().toEqualTypeOf<{ label: string[] }>();
    const _shards = () => webDatasetIndexed('a.tar', { extensions: ['jpg', 'cls'] });
    expectTypeOf<Awaited<ReturnType<typeof _shards>>>().toEqualTypeOf<RandomAccess<WebDatasetSample<'jpg' | 'cls'>>>();
    assert.ok(true);
  });

  it('issue 11: a sampler is data or an order function; a spec is JSON-safe', () => {
    expectTypeOf<SamplerSpec>().toMatchTypeOf<Sampler>();
    expectTypeOf<(size: number, epoch: number) => number[]>().toMatchTypeOf<Sampler>();
    // @ts-expect-error an order function must take (size, epoch) and return indices
    const bad: Sampler = (size: string) => [size];
    assert.ok(typeof bad === 'function');
  });
});
