import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { dottedPath, isPlainContainer, keyPath, mapTree, zipTrees, type TreeStep } from '../../src/treeWalk.js';

/** Records every path the walk visits and recurses into every plain container. */
function recorder(): { paths: string[]; mapper: (value: unknown, path: string) => TreeStep<undefined> } {
  const paths: string[] = [];
  return {
    paths,
    mapper: (value, path) => {
      paths.push(path);
      return isPlainContainer(value) ? { recurse: true } : { recurse: false, value };
    },
  };
}

describe('treeWalk (issue 10: one walk for collate, toDevice, dispose)', () => {
  it('issue 10: mapTree rebuilds plain containers from the mapped leaves, depth first', () => {
    const { paths, mapper } = recorder();
    const bytes = Uint8Array.of(1);
    const out = mapTree({ a: 1, b: [2, { c: bytes }] }, mapper, undefined);
    assert.deepEqual(out, { a: 1, b: [2, { c: bytes }] });
    assert.deepEqual(paths, ['', 'a', 'b', 'b[0]', 'b[1]', 'b[1].c']);
  });

  it('issue 10: paths are spelled by the join given (dotted for toDevice)', () => {
    const { paths, mapper } = recorder();
    mapTree({ rows: [{ key: 'x' }] }, mapper, undefined, dottedPath);
    assert.deepEqual(paths, ['', 'rows', 'rows.0', 'rows.0.key']);
    assert.equal(keyPath('pair', 1), 'pair[1]');
    assert.equal(keyPath('', 'image'), 'image');
  });

  it('issue 10: zipTrees walks the union of keys and the longest tuple, undefined where a tree lacks a child', () => {
    const seen: [string, unknown[]][] = [];
    zipTrees(
      [{ a: 1, t: [1, 2] }, { b: 2, t: [3] }, null],
      (values, path): TreeStep<undefined> => {
        seen.push([path, [...values]]);
        return { recurse: values.some(isPlainContainer) };
      },
      undefined,
    );
    assert.deepEqual(seen, [
      ['', [{ a: 1, t: [1, 2] }, { b: 2, t: [3] }, null]],
      ['a', [1, undefined, undefined]],
      ['t', [[1, 2], [3], undefined]],
      ['t[0]', [1, 3, undefined]],
      ['t[1]', [2, undefined, undefined]],
      ['b', [undefined, 2, undefined]],
    ]);
  });

  it('issue 10: the context a node returns is handed to its children', () => {
    const depths: [string, number][] = [];
    mapTree(
      { a: { b: 1 } },
      (value, path, depth: number): TreeStep<number> => {
        depths.push([path, depth]);
        return { recurse: isPlainContainer(value), context: depth + 1 };
      },
      0,
    );
    assert.deepEqual(depths, [
      ['', 0],
      ['a', 1],
      ['a.b', 2],
    ]);
  });

  it('issue 10: keys are data: own fields only, and __proto__ comes back as a field', () => {
    const sample = JSON.parse('{"__proto__": {"x": 1}, "y": 2}') as object;
    const { paths, mapper } = recorder();
    const out = mapTree(sample, mapper, undefined) as Record<string, unknown>;
    assert.deepEqual(paths, ['', '__proto__', '__proto__.x', 'y']);
    assert.equal(Object.getPrototypeOf(out), Object.prototype);
    assert.deepEqual(Object.getOwnPropertyDescriptor(out, '__proto__')?.value, { x: 1 });
    const lacking = recorder();
    mapTree({ y: 1 }, lacking.mapper, undefined);
    assert.deepEqual(lacking.paths, ['', 'y']);
  });

  it('issue 10: class instances, typed arrays and Maps are leaves', () => {
    assert.equal(isPlainContainer(new Map()), false);
    assert.equal(isPlainContainer(Float32Array.of(1)), false);
    assert.equal(isPlainContainer(new (class Tensor {})()), false);
    assert.equal(isPlainContainer(Object.create(null)), true);
    assert.equal(isPlainContainer([]), true);
  });
});
