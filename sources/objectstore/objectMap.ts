/**
 * Random access to objects of a store by index.
 *
 * @module
 */
import { InvalidArgumentError } from '../../src/errors.js';
import { checkObjectStore, type ObjectStore } from '../core/store.js';
import type { StoredObject } from './fromObjects.js';
import { readAll } from './http.js';

/**
 * Random access to a fixed list of objects by index (AIStore's `AISMapDataset`).
 * @public
 */
export interface ObjectMap {
  /** Number of objects. */
  readonly length: number;
  /** The keys, in index order. */
  readonly keys: readonly string[];
  /**
   * Read object `index` whole.
   * @param index - 0 to `length - 1`.
   * @param signal - Aborts the read and destroys its body.
   */
  get(index: number, signal?: AbortSignal): Promise<StoredObject>;
}

/**
 * Random access by index to some objects of a store (AIStore's `AISMapDataset`): `get(i)`
 * reads object `keys[i]` whole, with the store's retries. Nothing is cached; each `get` holds
 * only the object it returns.
 *
 * @example
 * ```ts
 * const samples = objectMap(store, ['a.jpg', 'b.jpg', 'c.jpg']);
 * const { key, bytes } = await samples.get(2);
 * ```
 *
 * @param store - Where the objects are.
 * @param keys - The objects, in index order.
 * @returns An {@link ObjectMap}.
 * @public
 */
export function objectMap(store: ObjectStore, keys: readonly string[]): ObjectMap {
  checkObjectStore(store, 'objectMap.store', ['open']);
  if (!Array.isArray(keys) || !keys.every((key) => typeof key === 'string')) {
    throw new InvalidArgumentError('objectMap.keys', 'must be an array of object keys (strings)');
  }
  const frozen = Object.freeze([...keys]);
  return {
    length: frozen.length,
    keys: frozen,
    get: async (index, signal) => {
      if (!Number.isSafeInteger(index) || index < 0 || index >= frozen.length) {
        throw new InvalidArgumentError('objectMap.get(index)', `must be 0 to ${frozen.length - 1}, got ${index}`);
      }
      const key = frozen[index]!;
      return { key, bytes: await readAll(store.open(key), signal) };
    },
  };
}
