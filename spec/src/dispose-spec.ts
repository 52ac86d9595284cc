import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { disposeAll, disposeItem } from '../../src/dispose.js';

/** A stand-in for a tensor: counts its dispose() calls under `name`. */
function resource(counts: Map<string, number>, name: string): { dispose(): void } {
  return { dispose: () => counts.set(name, (counts.get(name) ?? 0) + 1) };
}

describe('disposeItem', () => {
  it('disposes an item with dispose(), and each element of an array', () => {
    const counts = new Map<string, number>();
    disposeAll([resource(counts, 'a'), [resource(counts, 'b'), [resource(counts, 'c')]], 3, null]);
    assert.deepEqual(Object.fromEntries(counts), { a: 1, b: 1, c: 1 });
  });

  it('prefers Symbol.dispose and does not look inside an item that disposes itself', () => {
    const counts = new Map<string, number>();
    const item = {
      inner: resource(counts, 'inner'),
      [Symbol.dispose]: () => counts.set('self', 1),
      dispose: () => counts.set('method', 1),
    };
    disposeItem(item);
    assert.deepEqual(Object.fromEntries(counts), { self: 1 });
  });

  it('goes on past a disposer that throws', () => {
    const counts = new Map<string, number>();
    const failing = {
      dispose: () => {
        throw new Error('boom');
      },
    };
    disposeItem([failing, resource(counts, 'after')]);
    assert.deepEqual(Object.fromEntries(counts), { after: 1 });
  });

  it('issue 10: releases tensors nested in a plain-object sample (the walk toDevice and collate use)', () => {
    const counts = new Map<string, number>();
    disposeItem({ image: resource(counts, 'image'), meta: { mask: resource(counts, 'mask'), id: 7 }, pair: [resource(counts, 'pair')] });
    assert.deepEqual(Object.fromEntries(counts), { image: 1, mask: 1, pair: 1 });
  });

  it('issue 10: a sample that refers to itself is disposed once, without endless recursion', () => {
    const counts = new Map<string, number>();
    const sample: Record<string, unknown> = { image: resource(counts, 'image') };
    sample.self = sample;
    sample.list = [sample, sample.image];
    disposeItem(sample);
    assert.deepEqual(Object.fromEntries(counts), { image: 1 });
  });

  it('issue 10: class instances without a disposer are left alone', () => {
    const counts = new Map<string, number>();
    class Holder {
      readonly tensor = resource(counts, 'held');
    }
    disposeItem({ holder: new Holder(), map: new Map([['k', resource(counts, 'mapped')]]) });
    assert.deepEqual(Object.fromEntries(counts), {});
  });
});

describe('disposeItem: the fast path for samples with nothing to dispose (issue 10)', () => {
  it('still disposes a plain object with a dispose method, or one under Symbol.dispose', () => {
    let disposed = 0;
    disposeItem({ label: 1, dispose: () => disposed++ });
    disposeItem({ label: 1, [Symbol.dispose]: () => disposed++ });
    assert.equal(disposed, 2);
  });

  it('still disposes a typed array that carries its own disposer, next to plain fields', () => {
    let disposed = 0;
    const tensor = Object.assign(new Float32Array(2), { [Symbol.dispose]: () => disposed++ });
    disposeItem({ features: tensor, label: 3, plain: new Int32Array(1) });
    assert.equal(disposed, 1);
  });
});
