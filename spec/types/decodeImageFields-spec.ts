/**
 * Type tests (issue 10): `tsc -p tsconfig.json` compiles this file, so a wrong type fails the build.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { expectTypeOf } from 'expect-type';
import type { DecodedImage } from '../../src/adapters/decodeImage.js';
import { decodeImageFields } from '../../src/adapters/decodeImage.js';
import { decodeImageFieldsTask, type WorkerTaskReference } from '../../src/adapters/piscina.js';

interface Encoded {
  readonly __key__: string;
  readonly jpg: Uint8Array;
  readonly cls: Uint8Array;
  readonly mask?: Uint8Array;
  readonly index: number;
}

/** The output type of a task reference. */
type Output<R> = R extends WorkerTaskReference<infer _Item, infer O, infer _Options> ? O : never;

describe('types: decodeImageFields narrows only the fields it decodes (issue 10)', () => {
  it('issue 10: decodeImageFieldsTask<S, F> types the named fields as DecodedImage and leaves the others', () => {
    const task = decodeImageFieldsTask<Encoded, 'jpg' | 'mask'>({ fields: ['jpg', 'mask'] });
    type Decoded = Output<typeof task>;
    expectTypeOf<Decoded['jpg']>().toEqualTypeOf<DecodedImage>();
    expectTypeOf<Decoded['mask']>().toEqualTypeOf<DecodedImage | undefined>();
    expectTypeOf<Decoded['cls']>().toEqualTypeOf<Uint8Array>();
    expectTypeOf<Decoded['index']>().toEqualTypeOf<number>();
    expectTypeOf<Decoded['__key__']>().toEqualTypeOf<string>();
    // @ts-expect-error cls is not decoded, so it is no image
    expectTypeOf<Decoded['cls']>().toEqualTypeOf<DecodedImage>();
    // @ts-expect-error the fields must be the ones named in the type
    decodeImageFieldsTask<Encoded, 'jpg'>({ fields: ['png'] });
    assert.deepEqual(task.options.fields, ['jpg', 'mask']);
  });

  it('issue 10: decodeImageFields infers the field names from its options', async () => {
    const call = (sample: Encoded) => decodeImageFields(sample, { options: { fields: ['jpg'] } });
    type Decoded = Awaited<ReturnType<typeof call>>;
    expectTypeOf<Decoded['jpg']>().toEqualTypeOf<DecodedImage>();
    expectTypeOf<Decoded['cls']>().toEqualTypeOf<Uint8Array>();
    expectTypeOf<Decoded['mask']>().toEqualTypeOf<Uint8Array | undefined>();
    // @ts-expect-error jpg is decoded: it is no longer bytes
    expectTypeOf<Decoded['jpg']>().toEqualTypeOf<Uint8Array>();
    assert.equal(typeof call, 'function');
  });

  it('issue 10: with field names the types cannot see, every bytes field may be either', () => {
    const fields: string[] = ['jpg'];
    const task = decodeImageFieldsTask<Encoded>({ fields });
    type Decoded = Output<typeof task>;
    expectTypeOf<Decoded['jpg']>().toEqualTypeOf<DecodedImage | Uint8Array>();
    expectTypeOf<Decoded['cls']>().toEqualTypeOf<DecodedImage | Uint8Array>();
    expectTypeOf<Decoded['index']>().toEqualTypeOf<number>();
    assert.deepEqual(task.options.fields, ['jpg']);
  });
});
