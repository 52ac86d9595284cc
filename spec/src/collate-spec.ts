import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { collateBatch } from '../../src/collate.js';
import { isPaddedBatch, type HostTensor, type PaddedBatch } from '../../src/tensor.js';
import { CollateError, InvalidArgumentError, RxfeedError } from '../../src/errors.js';

/** Assert `fn` throws a CollateError at `path` whose message contains every fragment. */
function assertCollateError(fn: () => unknown, path: string, ...fragments: string[]): void {
  assert.throws(fn, (error: unknown) => {
    assert.ok(error instanceof CollateError, `expected a CollateError, got ${String(error)}`);
    assert.ok(error instanceof RxfeedError);
    assert.equal(error.code, 'RXFEED_ERR_COLLATE');
    assert.equal(error.path, path);
    for (const fragment of fragments) assert.ok(error.message.includes(fragment), `${error.message} lacks '${fragment}'`);
    return true;
  });
}

describe('collateBatch: scalar leaves', () => {
  it('numbers that are all int32 integers collate to int32', () => {
    assert.deepEqual(collateBatch([1, -2, 2147483647]), {
      data: Int32Array.of(1, -2, 2147483647),
      shape: [3],
      dtype: 'int32',
    });
  });

  it('numbers with a fraction or outside int32 collate to float64', () => {
    assert.deepEqual(collateBatch([1, 0.5]), { data: Float64Array.of(1, 0.5), shape: [2], dtype: 'float64' });
    assert.deepEqual(collateBatch([1, 2 ** 31]), { data: Float64Array.of(1, 2 ** 31), shape: [2], dtype: 'float64' });
  });

  it('numberDtype forces the dtype of numbers', () => {
    assert.deepEqual(collateBatch([1, 2], { numberDtype: 'float32' }), {
      data: Float32Array.of(1, 2),
      shape: [2],
      dtype: 'float32',
    });
    assert.deepEqual(collateBatch([1, 2], { numberDtype: 'int64' }), {
      data: BigInt64Array.of(1n, 2n),
      shape: [2],
      dtype: 'int64',
    });
    assert.deepEqual(collateBatch([3, 0], { numberDtype: 'bool' }), {
      data: Uint8Array.of(1, 0),
      shape: [2],
      dtype: 'bool',
    });
  });

  it('a fraction cannot become int64', () => {
    assertCollateError(() => collateBatch([1, 1.5], { numberDtype: 'int64' }), '', 'sample 1', '1.5', 'int64');
  });

  it('bigints collate to int64, booleans to bool, strings to string', () => {
    assert.deepEqual(collateBatch([1n, -(2n ** 63n)]), {
      data: BigInt64Array.of(1n, -(2n ** 63n)),
      shape: [2],
      dtype: 'int64',
    });
    assert.deepEqual(collateBatch([true, false, true]), { data: Uint8Array.of(1, 0, 1), shape: [3], dtype: 'bool' });
    assert.deepEqual(collateBatch(['a', 'bc']), { data: ['a', 'bc'], shape: [2], dtype: 'string' });
  });

  it('a bigint leaf can be stored as float64 through keys', () => {
    assert.deepEqual(collateBatch([{ n: 5n }, { n: 7n }], { keys: { n: { dtype: 'float64' } } }), {
      n: { data: Float64Array.of(5, 7), shape: [2], dtype: 'float64' },
    });
  });
});

describe('collateBatch: typed arrays and bytes', () => {
  type Typed = Float32Array | Float64Array | Int8Array | Int16Array | Int32Array | Uint16Array | Uint32Array;
  const cases: [string, (values: number[]) => Typed, string][] = [
    ['float32', (v) => Float32Array.from(v), 'Float32Array'],
    ['float64', (v) => Float64Array.from(v), 'Float64Array'],
    ['int8', (v) => Int8Array.from(v), 'Int8Array'],
    ['int16', (v) => Int16Array.from(v), 'Int16Array'],
    ['int32', (v) => Int32Array.from(v), 'Int32Array'],
    ['uint16', (v) => Uint16Array.from(v), 'Uint16Array'],
    ['uint32', (v) => Uint32Array.from(v), 'Uint32Array'],
  ];
  for (const [dtype, make, name] of cases) {
    it(`${name} rows stack into one contiguous ${dtype} [B, length]`, () => {
      const out = collateBatch([make([1, 2, 3]), make([4, 5, 6])]) as HostTensor;
      assert.equal(out.dtype, dtype);
      assert.deepEqual(out.shape, [2, 3]);
      assert.equal(out.data.constructor.name, name);
      assert.deepEqual(Array.from(out.data as ArrayLike<number>), [1, 2, 3, 4, 5, 6]);
    });
  }

  it('BigInt64Array rows stack into int64', () => {
    assert.deepEqual(collateBatch([BigInt64Array.of(1n, 2n), BigInt64Array.of(3n, 4n)]), {
      data: BigInt64Array.of(1n, 2n, 3n, 4n),
      shape: [2, 2],
      dtype: 'int64',
    });
  });

  it('Uint8Array bytes of equal length stack as uint8, Buffer and Uint8ClampedArray alike', () => {
    assert.deepEqual(collateBatch([Uint8Array.of(1, 2), Buffer.from([3, 4])]), {
      data: Uint8Array.of(1, 2, 3, 4),
      shape: [2, 2],
      dtype: 'uint8',
    });
    assert.deepEqual(collateBatch([Uint8ClampedArray.of(1), Uint8ClampedArray.of(2)]), {
      data: Uint8Array.of(1, 2),
      shape: [2, 1],
      dtype: 'uint8',
    });
  });

  it("bytes: 'list' keeps the samples' own Uint8Arrays as a 'bytes' list, ragged or not", () => {
    const a = Uint8Array.of(1, 2, 3);
    const b = Uint8Array.of(4);
    const out = collateBatch([a, b], { bytes: 'list' }) as HostTensor<'bytes'>;
    assert.equal(out.dtype, 'bytes');
    assert.deepEqual(out.shape, [2]);
    assert.equal(out.data[0], a);
    assert.equal(out.data[1], b);
  });

  it("keys: { dtype: 'bytes' } makes one field a list while others stack", () => {
    const out = collateBatch(
      [
        { jpeg: Uint8Array.of(1, 2, 3), mask: Uint8Array.of(1) },
        { jpeg: Uint8Array.of(4), mask: Uint8Array.of(0) },
      ],
      { keys: { jpeg: { dtype: 'bytes' } } },
    );
    assert.equal(out.jpeg.dtype, 'bytes');
    assert.deepEqual(out.mask, { data: Uint8Array.of(1, 0), shape: [2, 1], dtype: 'uint8' });
  });

  it('ragged bytes under the default policy name both lengths and suggest a list', () => {
    assertCollateError(
      () => collateBatch([{ jpeg: Uint8Array.of(1, 2) }, { jpeg: Uint8Array.of(1, 2, 3) }]),
      'jpeg',
      'sample 0 has length 2',
      'sample 1 has length 3',
      "ragged: 'pad'",
      "bytes: 'list'",
    );
  });

  it('a dtype override converts typed rows', () => {
    assert.deepEqual(collateBatch([{ x: Uint8Array.of(1, 255) }, { x: Uint8Array.of(0, 7) }], { keys: { x: { dtype: 'float32' } } }), {
      x: { data: Float32Array.of(1, 255, 0, 7), shape: [2, 2], dtype: 'float32' },
    });
    assert.deepEqual(collateBatch([Int32Array.of(1, 2)], { keys: { '': { dtype: 'int64' } } }), {
      data: BigInt64Array.of(1n, 2n),
      shape: [1, 2],
      dtype: 'int64',
    });
  });

  it('typed arrays of different dtypes are a mixed-dtype error', () => {
    assertCollateError(
      () => collateBatch([{ x: Float32Array.of(1) }, { x: Float64Array.of(1) }]),
      'x',
      'mixed dtypes',
      "sample 0 is 'float32'",
      "sample 1 'float64'",
    );
  });

  it('typed arrays rxfeed has no dtype for are refused by name', () => {
    assertCollateError(() => collateBatch([BigUint64Array.of(1n)]), '', 'BigUint64Array');
    assertCollateError(() => collateBatch([{ view: new DataView(new ArrayBuffer(2)) }]), 'view', 'DataView');
  });
});

describe('collateBatch: nested arrays and shaped leaves', () => {
  it('nested JS arrays become extra dimensions', () => {
    assert.deepEqual(
      collateBatch([
        [
          [1, 2, 3],
          [4, 5, 6],
        ],
        [
          [7, 8, 9],
          [10, 11, 12],
        ],
      ]),
      { data: Int32Array.from({ length: 12 }, (_, i) => i + 1), shape: [2, 2, 3], dtype: 'int32' },
    );
    assert.deepEqual(collateBatch([[0.5], [1]]), { data: Float64Array.of(0.5, 1), shape: [2, 1], dtype: 'float64' });
  });

  it('nested arrays of strings, booleans and bigints keep their dtype', () => {
    assert.deepEqual(
      collateBatch([
        ['a', 'b'],
        ['c', 'd'],
      ]),
      { data: ['a', 'b', 'c', 'd'], shape: [2, 2], dtype: 'string' },
    );
    assert.deepEqual(collateBatch([[true], [false]]), { data: Uint8Array.of(1, 0), shape: [2, 1], dtype: 'bool' });
    assert.deepEqual(collateBatch([[1n], [2n]]), { data: BigInt64Array.of(1n, 2n), shape: [2, 1], dtype: 'int64' });
  });

  it('a non-rectangular inner dimension is an error naming the element', () => {
    assertCollateError(
      () =>
        collateBatch([
          {
            boxes: [
              [1, 2],
              [3, 4],
            ],
          },
          { boxes: [[1, 2], [3]] },
        ]),
      'boxes',
      'sample 1',
      'element [1] has length 1',
    );
  });

  it('inner dimensions that differ between samples cannot be padded', () => {
    assertCollateError(
      () => collateBatch([{ m: [[1, 2]] }, { m: [[1, 2, 3]] }], { ragged: 'pad' }),
      'm',
      'shapes differ beyond the first dimension',
      '[1, 2]',
      '[1, 3]',
    );
  });

  it('a wrong element type inside a nested array is named with its position', () => {
    assertCollateError(() => collateBatch([{ v: [1, 2] }, { v: [3, 'x'] }]), 'v', 'sample 1', 'element [1] is string');
  });

  it('empty arrays in every sample give a float64 leaf of length 0', () => {
    assert.deepEqual(collateBatch([{ v: [] }, { v: [] }]), {
      v: { data: new Float64Array(0), shape: [2, 0], dtype: 'float64' },
    });
  });

  it('shaped leaves {data, shape, dtype} stack into [B, ...shape]', () => {
    const image = (v: number): HostTensor<'uint8'> => ({
      data: new Uint8Array(6).fill(v),
      shape: [2, 3],
      dtype: 'uint8',
    });
    const out = collateBatch([{ image: image(1) }, { image: image(2) }]);
    assert.deepEqual(out.image, {
      data: Uint8Array.of(1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2),
      shape: [2, 2, 3],
      dtype: 'uint8',
    });
  });

  it('a collated batch is itself a shaped leaf, so batches of batches stack', () => {
    const inner = collateBatch([
      [1, 2],
      [3, 4],
    ]);
    const outer = collateBatch([inner, inner]);
    assert.deepEqual(outer, { data: Int32Array.of(1, 2, 3, 4, 1, 2, 3, 4), shape: [2, 2, 2], dtype: 'int32' });
  });

  it('shaped string and bytes leaves stack their element lists', () => {
    const a = Uint8Array.of(1);
    assert.deepEqual(
      collateBatch([
        { data: ['x', 'y'], shape: [2], dtype: 'string' },
        { data: ['z', 'w'], shape: [2], dtype: 'string' },
      ]),
      {
        data: ['x', 'y', 'z', 'w'],
        shape: [2, 2],
        dtype: 'string',
      },
    );
    const bytes = collateBatch([
      { data: [a], shape: [1], dtype: 'bytes' as const },
      { data: [a], shape: [1], dtype: 'bytes' as const },
    ]) as HostTensor<'bytes'>;
    assert.deepEqual(bytes.shape, [2, 1]);
    assert.equal(bytes.data[1], a);
  });

  it('a shaped leaf whose data does not fill its shape is refused', () => {
    assertCollateError(
      () => collateBatch([{ x: { data: new Float32Array(5), shape: [2, 3], dtype: 'float32' } }]),
      'x',
      'sample 0',
      'holds 5 elements',
      'needs 6',
    );
    assertCollateError(
      () => collateBatch([{ x: { data: new Float64Array(1), shape: [1], dtype: 'float32' } }]),
      'x',
      'must be a Float32Array',
    );
  });

  it('shaped leaves of different dtypes or ranks are refused', () => {
    const f = { data: new Float32Array(2), shape: [2], dtype: 'float32' as const };
    const i = { data: new Int32Array(2), shape: [2], dtype: 'int32' as const };
    assertCollateError(() => collateBatch([f, i]), '', 'mixed dtypes');
    const square = { data: new Float32Array(4), shape: [2, 2], dtype: 'float32' as const };
    assertCollateError(() => collateBatch([f, square]), '', 'shapes differ', '[2]', '[2, 2]');
  });
});

describe('collateBatch: objects and tuples', () => {
  it('objects collate key by key, recursively, keeping their keys', () => {
    const out = collateBatch([
      { image: Float32Array.of(0.1, 0.2), meta: { label: 3, lang: 'en', weights: [1, 2] } },
      { image: Float32Array.of(0.3, 0.4), meta: { label: 1, lang: 'fr', weights: [3, 4] } },
    ]);
    assert.deepEqual(out, {
      image: { data: Float32Array.of(0.1, 0.2, 0.3, 0.4), shape: [2, 2], dtype: 'float32' },
      meta: {
        label: { data: Int32Array.of(3, 1), shape: [2], dtype: 'int32' },
        lang: { data: ['en', 'fr'], shape: [2], dtype: 'string' },
        weights: { data: Int32Array.of(1, 2, 3, 4), shape: [2, 2], dtype: 'int32' },
      },
    });
  });

  it('tuples and arrays of objects collate position by position', () => {
    const out = collateBatch([
      [Uint8Array.of(1), 7],
      [Uint8Array.of(2), 8],
    ] as [Uint8Array, number][]);
    assert.deepEqual(out, [
      { data: Uint8Array.of(1, 2), shape: [2, 1], dtype: 'uint8' },
      { data: Int32Array.of(7, 8), shape: [2], dtype: 'int32' },
    ]);
    assert.deepEqual(collateBatch([{ boxes: [{ x: 1 }, { x: 2 }] }, { boxes: [{ x: 3 }, { x: 4 }] }]), {
      boxes: [
        { x: { data: Int32Array.of(1, 3), shape: [2], dtype: 'int32' } },
        { x: { data: Int32Array.of(2, 4), shape: [2], dtype: 'int32' } },
      ],
    });
  });

  it('mixed types in one field are an error naming the path and both samples', () => {
    assertCollateError(
      () => collateBatch([{ a: { b: 1 } }, { a: { b: 'x' } }]),
      'a.b',
      'mixed types',
      'sample 0 holds a number',
      'sample 1 a string',
    );
    assertCollateError(() => collateBatch([{ t: [1, { x: 1 }] }, { t: [1, 2] }]), 't', 'sample 0', 'element [1] is object');
    assertCollateError(() => collateBatch([1, 2n]), '', 'mixed types');
  });

  it('values that cannot be collated are named', () => {
    assertCollateError(() => collateBatch([{ when: new Date(0) }]), 'when', 'Date');
    assertCollateError(() => collateBatch([{ f: () => 1 }]), 'f', 'function');
  });

  it('an empty batch is an error', () => {
    assertCollateError(() => collateBatch([]), '', 'empty batch');
  });
});

describe('collateBatch: ragged leaves', () => {
  it("ragged: 'error' (the default) names the path, both lengths and both samples", () => {
    assertCollateError(
      () => collateBatch([{ tokens: [1, 2, 3] }, { tokens: [4] }, { tokens: [5, 6, 7, 8, 9] }]),
      'tokens',
      'sample 0 has length 3',
      'sample 1 has length 1',
    );
  });

  it("ragged: 'pad' pads to the batch maximum and records the true lengths", () => {
    assert.deepEqual(collateBatch([{ tokens: [1, 2, 3] }, { tokens: [4] }, { tokens: [] }], { ragged: 'pad' }), {
      tokens: {
        data: Int32Array.of(1, 2, 3, 4, 0, 0, 0, 0, 0),
        shape: [3, 3],
        dtype: 'int32',
        lengths: Int32Array.of(3, 1, 0),
      },
    });
  });

  it('padValue fills the padding of typed rows, nested rows and keeps int32 when it is an integer', () => {
    assert.deepEqual(collateBatch([Float32Array.of(1, 2), Float32Array.of(3)], { ragged: 'pad', padValue: -1 }), {
      data: Float32Array.of(1, 2, 3, -1),
      shape: [2, 2],
      dtype: 'float32',
      lengths: Int32Array.of(2, 1),
    });
    assert.deepEqual(collateBatch([[1, 2], [3]], { ragged: 'pad', padValue: -100 }), {
      data: Int32Array.of(1, 2, 3, -100),
      shape: [2, 2],
      dtype: 'int32',
      lengths: Int32Array.of(2, 1),
    });
    assert.deepEqual(collateBatch([[1, 2], [3]], { ragged: 'pad', padValue: 0.5 }), {
      data: Float64Array.of(1, 2, 3, 0.5),
      shape: [2, 2],
      dtype: 'float64',
      lengths: Int32Array.of(2, 1),
    });
  });

  it('ragged rank-2 samples pad along their first dimension, an empty sample included', () => {
    assert.deepEqual(
      collateBatch(
        [
          {
            boxes: [
              [1, 2],
              [3, 4],
            ],
          },
          { boxes: [] },
          { boxes: [[5, 6]] },
        ],
        { ragged: 'pad' },
      ),
      {
        boxes: {
          data: Int32Array.of(1, 2, 3, 4, 0, 0, 0, 0, 5, 6, 0, 0),
          shape: [3, 2, 2],
          dtype: 'int32',
          lengths: Int32Array.of(2, 0, 1),
        },
      },
    );
  });

  it('ragged strings pad with empty strings; ragged shaped leaves pad their first dimension', () => {
    assert.deepEqual(collateBatch([['a'], ['b', 'c']], { ragged: 'pad' }), {
      data: ['a', '', 'b', 'c'],
      shape: [2, 2],
      dtype: 'string',
      lengths: Int32Array.of(1, 2),
    });
    const leaf = (rows: number) => ({
      data: new Float32Array(rows * 2).fill(rows),
      shape: [rows, 2],
      dtype: 'float32' as const,
    });
    assert.deepEqual(collateBatch([leaf(1), leaf(2)], { ragged: 'pad' }), {
      data: Float32Array.of(1, 1, 0, 0, 2, 2, 2, 2),
      shape: [2, 2, 2],
      dtype: 'float32',
      lengths: Int32Array.of(1, 2),
    });
  });

  it('per-key ragged overrides the default for that field only', () => {
    const out = collateBatch(
      [
        { a: [1], b: [1, 2] },
        { a: [2], b: [3] },
      ],
      { keys: { b: { ragged: 'pad' } } },
    );
    assert.deepEqual(out.a, { data: Int32Array.of(1, 2), shape: [2, 1], dtype: 'int32' });
    assert.deepEqual(out.b.lengths, Int32Array.of(2, 1));
    assertCollateError(
      () =>
        collateBatch(
          [
            { a: [1], b: [1, 2] },
            { a: [2, 3], b: [3] },
          ],
          { keys: { b: { ragged: 'pad' } } },
        ),
      'a',
      'ragged',
    );
  });
});

describe('collateBatch: missing fields', () => {
  const samples = [
    { id: 0, label: 3, tokens: Int32Array.of(1, 2), lang: 'en', meta: { score: 0.5 } },
    { id: 1, tokens: Int32Array.of(3, 4), lang: undefined, meta: null },
    { id: 2, label: 1, tokens: null, lang: 'de', meta: { score: 1.5 } },
  ];

  it("missing: 'error' (the default) names the key and the sample position", () => {
    assertCollateError(() => collateBatch(samples), 'label', 'missing in sample 1', 'present in sample 0');
  });

  it("missing: 'zero' fills zeros of the shape and dtype other samples have (ZeroDict)", () => {
    assert.deepEqual(collateBatch(samples, { missing: 'zero' }), {
      id: { data: Int32Array.of(0, 1, 2), shape: [3], dtype: 'int32' },
      label: { data: Int32Array.of(3, 0, 1), shape: [3], dtype: 'int32' },
      tokens: { data: Int32Array.of(1, 2, 3, 4, 0, 0), shape: [3, 2], dtype: 'int32' },
      lang: { data: ['en', '', 'de'], shape: [3], dtype: 'string' },
      meta: { score: { data: Float64Array.of(0.5, 0, 1.5), shape: [3], dtype: 'float64' } },
    });
  });

  it("missing: 'zero' gives bytes lists an empty Uint8Array", () => {
    const out = collateBatch([{ b: Uint8Array.of(1) }, {}], { missing: 'zero', bytes: 'list' }) as {
      b: HostTensor<'bytes'>;
    };
    assert.deepEqual(out.b.data, [Uint8Array.of(1), new Uint8Array(0)]);
  });

  it("missing: 'mask' zero-fills and puts a presence mask on every leaf", () => {
    const out = collateBatch(samples, { missing: 'mask' });
    assert.deepEqual(out.id.mask, Uint8Array.of(1, 1, 1));
    assert.deepEqual(out.label, {
      data: Int32Array.of(3, 0, 1),
      shape: [3],
      dtype: 'int32',
      mask: Uint8Array.of(1, 0, 1),
    });
    assert.deepEqual(out.tokens.mask, Uint8Array.of(1, 1, 0));
    assert.deepEqual(out.lang.mask, Uint8Array.of(1, 0, 1));
    assert.deepEqual(out.meta?.score.mask, Uint8Array.of(1, 0, 1));
  });

  it("missing: 'mask' with ragged: 'pad' gives a missing row length 0", () => {
    assert.deepEqual(collateBatch([{ t: [1, 2] }, {}, { t: [3] }], { missing: 'mask', ragged: 'pad', padValue: 9 }), {
      t: {
        data: Int32Array.of(1, 2, 0, 0, 3, 9),
        shape: [3, 2],
        dtype: 'int32',
        lengths: Int32Array.of(2, 0, 1),
        mask: Uint8Array.of(1, 0, 1),
      },
    });
  });

  it("missing: 'skip' drops the samples missing any key, so the batch shrinks", () => {
    assert.deepEqual(collateBatch(samples, { missing: 'skip' }), {
      id: { data: Int32Array.of(0), shape: [1], dtype: 'int32' },
      label: { data: Int32Array.of(3), shape: [1], dtype: 'int32' },
      tokens: { data: Int32Array.of(1, 2), shape: [1, 2], dtype: 'int32' },
      lang: { data: ['en'], shape: [1], dtype: 'string' },
      meta: { score: { data: Float64Array.of(0.5), shape: [1], dtype: 'float64' } },
    });
  });

  it('per-key missing policies: skip on one key, zero on another, error elsewhere', () => {
    const out = collateBatch(samples, {
      keys: {
        label: { missing: 'skip' },
        lang: { missing: 'zero' },
        meta: { missing: 'zero' },
        tokens: { missing: 'mask' },
      },
    });
    assert.deepEqual(out.id.data, Int32Array.of(0, 2));
    assert.deepEqual(out.tokens, {
      data: Int32Array.of(1, 2, 0, 0),
      shape: [2, 2],
      dtype: 'int32',
      mask: Uint8Array.of(1, 0),
    });
    assert.deepEqual(out.lang.data, ['en', 'de']);
    assertCollateError(() => collateBatch(samples, { keys: { label: { missing: 'zero' } } }), 'tokens', 'missing in sample 2');
  });

  it('a tuple position missing in some samples follows the missing policy', () => {
    assertCollateError(() => collateBatch([[{ a: 1 }, { a: 2 }], [{ a: 3 }]]), '[1]', 'missing in sample 1');
    assert.deepEqual(collateBatch([[{ a: 1 }, { a: 2 }], [{ a: 3 }]], { missing: 'zero' }), [
      { a: { data: Int32Array.of(1, 3), shape: [2], dtype: 'int32' } },
      { a: { data: Int32Array.of(2, 0), shape: [2], dtype: 'int32' } },
    ]);
  });

  it('a field missing in every sample cannot be typed, whatever the policy', () => {
    for (const missing of ['error', 'zero', 'mask'] as const) {
      assertCollateError(
        () =>
          collateBatch(
            [
              { a: 1, b: undefined },
              { a: 2, b: null },
            ],
            { missing },
          ),
        'b',
        'missing in every sample',
      );
    }
    assertCollateError(
      () =>
        collateBatch(
          [
            { a: 1, b: undefined },
            { a: 2, b: null },
          ],
          { missing: 'skip' },
        ),
      '',
      'every sample',
    );
  });
});

describe('collateBatch: padded batches and options', () => {
  it('a PaddedBatch collates to { rows, mask, index }', () => {
    const padded: PaddedBatch<{ x: number }> = {
      rows: [{ x: 1 }, { x: 2 }, { x: 1 }],
      mask: Uint8Array.of(1, 1, 0),
      index: Float64Array.of(4, 5, -1),
    };
    assert.ok(isPaddedBatch(padded));
    assert.deepEqual(collateBatch(padded), {
      rows: { x: { data: Int32Array.of(1, 2, 1), shape: [3], dtype: 'int32' } },
      mask: { data: Uint8Array.of(1, 1, 0), shape: [3], dtype: 'bool' },
      index: { data: Float64Array.of(4, 5, -1), shape: [3], dtype: 'float64' },
    });
  });

  it("missing: 'skip' on a PaddedBatch keeps mask and index aligned with the rows kept", () => {
    const padded: PaddedBatch<{ x?: number }> = {
      rows: [{ x: 1 }, {}, { x: 3 }],
      mask: Uint8Array.of(1, 1, 0),
      index: Float64Array.of(0, 1, -1),
    };
    assert.deepEqual(collateBatch(padded, { missing: 'skip' }), {
      rows: { x: { data: Int32Array.of(1, 3), shape: [2], dtype: 'int32' } },
      mask: { data: Uint8Array.of(1, 0), shape: [2], dtype: 'bool' },
      index: { data: Float64Array.of(0, -1), shape: [2], dtype: 'float64' },
    });
  });

  it('a PaddedBatch whose mask or index does not match its rows is refused', () => {
    assertCollateError(() => collateBatch({ rows: [1, 2], mask: Uint8Array.of(1), index: Float64Array.of(0, 1) }), '', '2 rows but mask 1');
  });

  it('options out of range throw InvalidArgumentError', () => {
    const bad = [
      { numberDtype: 'string' },
      { numberDtype: 'float16' },
      { bytes: 'copy' },
      { ragged: 'truncate' },
      { missing: 'ignore' },
      { padValue: Number.NaN },
      { keys: { x: { missing: 'drop' } } },
    ];
    for (const options of bad) {
      assert.throws(() => collateBatch([1], options as never), InvalidArgumentError, JSON.stringify(options));
    }
  });

  it('a dtype override that cannot hold the values is a CollateError', () => {
    assertCollateError(
      () => collateBatch([{ s: 'a' }], { keys: { s: { dtype: 'int32' } } }),
      's',
      "cannot store string values as dtype 'int32'",
    );
    assertCollateError(() => collateBatch([{ n: 1 }], { keys: { n: { dtype: 'string' } } }), 'n', "dtype 'string'");
  });
});

describe('collateBatch: keys are data (issue 9.4)', () => {
  /** A sample whose own keys are exactly `entries`, `__proto__` included (JSON.parse defines it). */
  const sample = (entries: Record<string, number>): Record<string, number> => JSON.parse(JSON.stringify(entries)) as Record<string, number>;
  const withProto = (proto: number, a: number): Record<string, number> =>
    JSON.parse(`{"__proto__": ${proto}, "a": ${a}}`) as Record<string, number>;
  const int32 = (...values: number[]): HostTensor => ({ data: Int32Array.from(values), shape: [values.length], dtype: 'int32' });

  it('issue 9.4: a sample field __proto__ survives collate as a field of that name', () => {
    const out = collateBatch([withProto(1, 10), withProto(2, 20)]) as Record<string, unknown>;
    assert.equal(Object.getPrototypeOf(out), Object.prototype);
    assert.deepEqual(Object.keys(out), ['__proto__', 'a']);
    assert.deepEqual(Object.getOwnPropertyDescriptor(out, '__proto__')?.value, int32(1, 2));
    assert.deepEqual(out.a, int32(10, 20));
  });

  it('issue 9.4: a field missing from some samples is missing even when Object.prototype has its name', () => {
    const batch = [withProto(1, 10), sample({ a: 20, toString: 5, constructor: 6 }), sample({ a: 30 })];
    const out = collateBatch(batch, { missing: 'zero' }) as Record<string, unknown>;
    assert.deepEqual(Object.keys(out), ['__proto__', 'a', 'toString', 'constructor']);
    assert.deepEqual(Object.getOwnPropertyDescriptor(out, '__proto__')?.value, int32(1, 0, 0));
    assert.deepEqual(out.toString, int32(0, 5, 0));
    assert.deepEqual(out.constructor, int32(0, 6, 0));
    assertCollateError(() => collateBatch([sample({ a: 1 }), sample({ a: 2, toString: 5 })]), 'toString', 'missing in sample 0');
    assertCollateError(() => collateBatch([withProto(1, 10), sample({ a: 20 })]), '__proto__', 'missing in sample 1');
  });

  it("issue 9.4: missing: 'skip' drops the samples lacking a __proto__ or toString field", () => {
    const batch = [withProto(1, 10), sample({ a: 20 }), withProto(3, 30)];
    const out = collateBatch(batch, { missing: 'skip' }) as Record<string, unknown>;
    assert.deepEqual(Object.getOwnPropertyDescriptor(out, '__proto__')?.value, int32(1, 3));
    assert.deepEqual(out.a, int32(10, 30));
    const named = collateBatch([sample({ a: 1 }), sample({ a: 2, toString: 7 })], { missing: 'skip' });
    assert.deepEqual(named, { a: int32(2), toString: int32(7) });
  });
});

describe('collateBatch: one walk for collation and its skip pass (issue 10)', () => {
  it("issue 10: a field under missing: 'skip' drops a sample whose parent object is missing", () => {
    const samples = [{ meta: { lang: 'en' }, x: 1 }, { x: 2 }, { meta: { lang: 'de' }, x: 3 }];
    const options = { missing: 'zero', keys: { 'meta.lang': { missing: 'skip' } } } as const;
    assert.deepEqual(collateBatch(samples, options), {
      meta: { lang: { data: ['en', 'de'], shape: [2], dtype: 'string' } },
      x: { data: Int32Array.of(1, 3), shape: [2], dtype: 'int32' },
    });
  });

  it('issue 10: the same inside a tuple position that a sample lacks', () => {
    const samples = [[Uint8Array.of(1), { w: 0.5 }], [Uint8Array.of(2)], [Uint8Array.of(3), { w: 1.5 }]];
    const options = { missing: 'zero', keys: { '[1].w': { missing: 'skip' } } } as const;
    assert.deepEqual(collateBatch(samples, options), [
      { data: Uint8Array.of(1, 3), shape: [2, 1], dtype: 'uint8' },
      { w: { data: Float64Array.of(0.5, 1.5), shape: [2], dtype: 'float64' } },
    ]);
  });
});
