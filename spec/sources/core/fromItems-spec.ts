import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { lastValueFrom, take, toArray } from 'rxjs';
import { fromItems } from '../../../sources/core/fromItems.js';

function* count(n: number): Generator<number> {
  for (let i = 0; i < n; i++) yield i;
}

describe('fromItems: generators, pulled in chunks (issue 12)', () => {
  it('issue 12: a generator that ends inside a chunk gives its items and nothing more', async () => {
    for (const [n, chunkSize] of [
      [5, 64],
      [10, 4],
      [8, 4],
      [1, 1],
      [0, 3],
    ] as const) {
      assert.deepEqual(
        await lastValueFrom(fromItems(() => count(n), { chunkSize }).pipe(toArray())),
        [...count(n)],
        `${n} items, chunks of ${chunkSize}`,
      );
    }
  });

  it('issue 12: chunks above the presized bound grow with what arrives', async () => {
    const items = await lastValueFrom(fromItems(() => count(20_001), { chunkSize: 20_000 }).pipe(toArray()));
    assert.equal(items.length, 20_001);
    assert.ok(items.every((item, i) => item === i));
  });

  it('issue 12: a generator yielding undefined keeps those items', async () => {
    const items = await lastValueFrom(fromItems(() => [1, undefined, 3][Symbol.iterator](), { chunkSize: 8 }).pipe(toArray()));
    assert.deepEqual(items, [1, undefined, 3]);
  });

  it('issue 12: stopping early returns the generator', async () => {
    let returned = false;
    const generator = function* (): Generator<number> {
      try {
        yield* count(100);
      } finally {
        returned = true;
      }
    };
    assert.deepEqual(await lastValueFrom(fromItems(generator, { chunkSize: 8 }).pipe(take(3), toArray())), [0, 1, 2]);
    assert.equal(returned, true);
  });

  it('issue 12: an array from a factory gives what its iterator gives, holes and a shrinking length included', async () => {
    const holey = [1, , 3];
    assert.deepEqual(await lastValueFrom(fromItems(() => holey, { chunkSize: 2 }).pipe(toArray())), [...holey]);
    const shrinking = (): string[] => {
      const array = ['a', 'b', 'c', 'd'];
      Object.defineProperty(array, 1, {
        get: () => {
          array.length = 3;
          return 'b';
        },
        enumerable: true,
        configurable: true,
      });
      return array;
    };
    assert.deepEqual(await lastValueFrom(fromItems(shrinking, { chunkSize: 8 }).pipe(toArray())), [...shrinking()]);
    assert.deepEqual([...shrinking()], ['a', 'b', 'c']);
  });

  it('issue 12: an array with its own iterator is read through it', async () => {
    const array = Object.assign([1, 2, 3], {
      *[Symbol.iterator]() {
        yield 'own';
      },
    });
    assert.deepEqual(await lastValueFrom(fromItems(() => array).pipe(toArray())), ['own']);
  });
});
