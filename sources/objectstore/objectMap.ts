/**
 * Objects of a store as a random-access dataset (the RandomAccess port): index `i` is object `i`
 * of a key list.
 *
 * @module
 */
import { InvalidArgumentError } from '../../src/errors.js';
import { describe } from '../../src/excerpt.js';
import { DatasetClosedError, readCoalesced, type RandomAccess } from '../core/randomAccess.js';
import { checkObjectStore, type ObjectStore } from '../core/store.js';
import type { FromObjectsOptions, StoredObject } from './fromObjects.js';
import { readAll } from './http.js';
import { listAll } from './store.js';

/**
 * Random access to a fixed list of objects by index (AIStore's `AISMapDataset`).
 * @public
 */
export interface ObjectMap extends RandomAccess<StoredObject> {
  /** Number of objects: `keys.length`. */
  readonly size: number;
  /** The keys, in index order. */
  readonly keys: readonly string[];
  /**
   * The objects at `indices`, each read whole with its own GET (at most `concurrency` at once),
   * answered in the order asked.
   * @param indices - Which objects, in the order wanted; each 0 to `size - 1`.
   * @param signal - Aborts the reads in flight and destroys their bodies.
   */
  read(indices: readonly number[], signal?: AbortSignal): Promise<StoredObject[]>;
  /**
   * Read object `index` whole.
   * @param index - 0 to `size - 1`.
   * @param signal - Aborts the read and destroys its body.
   */
  get(index: number, signal?: AbortSignal): Promise<StoredObject>;
  /** Abort the reads in flight (their bodies are destroyed); later reads fail with `DatasetClosedError`. */
  close(): void;
}

/**
 * Options of {@link objectMap}.
 * @public
 */
export interface ObjectMapOptions {
  /** Objects one `read` fetches at once (default 8): the most bodies it streams at a time. */
  readonly concurrency?: number;
}

/**
 * Options of {@link listObjectMap}: which objects (as for {@link fromObjects}) and how they are read.
 * @public
 */
export interface ListObjectMapOptions extends FromObjectsOptions, ObjectMapOptions {}

const DEFAULT_CONCURRENCY = 8;

/**
 * Random access by index to some objects of a store (AIStore's `AISMapDataset`): index `i` is
 * object `keys[i]`, read whole with the store's retries, as `{ key, bytes }` (the elements
 * {@link fromObjects} emits). `read(indices)` gets each distinct object asked with its own GET,
 * at most `concurrency` at once, and answers in the order asked; `get(i)` reads one.
 *
 * Memory: the keys, and for a read the objects it answers (nothing is cached). No connection is
 * held between reads (the store's agent pools them); `close()` aborts the reads in flight,
 * destroying their bodies, and later reads fail with `DatasetClosedError`. For a map over a
 * listing, see {@link listObjectMap}.
 *
 * @example
 * ```ts
 * import { objectMap, type ObjectStore } from 'rxfeed/objectstore';
 * declare const store: ObjectStore;
 * const samples = objectMap(store, ['a.jpg', 'b.jpg', 'c.jpg']);
 * const [c, a] = await samples.read([2, 0]);
 * const { key, bytes } = await samples.get(1);
 * ```
 *
 * @param store - Where the objects are.
 * @param keys - The objects, in index order.
 * @param options - See {@link ObjectMapOptions}.
 * @returns An {@link ObjectMap}.
 * @public
 */
export function objectMap(store: ObjectStore, keys: readonly string[], options: ObjectMapOptions = {}): ObjectMap {
  checkObjectStore(store, 'objectMap.store', ['open']);
  if (!Array.isArray(keys) || !keys.every((key) => typeof key === 'string')) {
    throw new InvalidArgumentError('objectMap.keys', 'must be an array of object keys (strings)');
  }
  const concurrency = checkConcurrency(options, 'objectMap');
  const frozen = Object.freeze([...keys]);
  const closing = new AbortController();
  const read = async (indices: readonly number[], signal?: AbortSignal): Promise<StoredObject[]> => {
    closing.signal.throwIfAborted();
    return readCoalesced<StoredObject>(
      indices,
      async ({ first }, runSignal) => {
        const key = frozen[first]!;
        return [{ key, bytes: await readAll(store.open(key), runSignal) }];
      },
      {
        size: frozen.length,
        where: 'objectMap.read',
        // Each object is its own GET: neighbouring keys share no bytes.
        maxRun: 1,
        concurrency,
        signal: signal === undefined ? closing.signal : AbortSignal.any([signal, closing.signal]),
      },
    );
  };
  return {
    size: frozen.length,
    keys: frozen,
    read,
    get: async (index, signal) => {
      if (!Number.isSafeInteger(index) || index < 0 || index >= frozen.length) {
        throw new InvalidArgumentError('objectMap.get(index)', `must be 0 to ${frozen.length - 1}, got ${describe(index)}`);
      }
      return (await read([index], signal))[0]!;
    },
    close: () => {
      if (!closing.signal.aborted) closing.abort(new DatasetClosedError(`objectMap over ${store.name}`));
    },
  };
}

/**
 * An {@link objectMap} over the objects {@link fromObjects} would read with the same `prefixes` and
 * `filter`, in the same order: the store is listed once, page by page, and only the keys are kept
 * (each a string: its length plus a few dozen bytes). A listing that repeats a continuation token
 * fails typed (`RXFEED_ERR_OBJECT_PROTOCOL`), as in `fromObjects`.
 *
 * @example
 * ```ts
 * import { listObjectMap, s3Store } from 'rxfeed/objectstore';
 * import { permutation } from 'rxfeed';
 * const train = await listObjectMap(s3Store({ bucket: 'imagenet' }), { prefixes: ['train/'] });
 * const batch = await train.read(Array.from(permutation(train.size, 42).subarray(0, 64)));
 * ```
 *
 * @param store - Where the objects are.
 * @param options - Prefixes, an entry filter and the read concurrency; see {@link ListObjectMapOptions}.
 * @param signal - Aborts the listing.
 * @returns The map, once the listing is done.
 * @public
 */
export async function listObjectMap(store: ObjectStore, options: ListObjectMapOptions = {}, signal?: AbortSignal): Promise<ObjectMap> {
  checkObjectStore(store, 'listObjectMap.store', ['listPage', 'open']);
  if (typeof options !== 'object' || options === null) throw new InvalidArgumentError('listObjectMap.options', 'must be an object');
  const prefixes = options.prefixes ?? [''];
  if (!Array.isArray(prefixes) || prefixes.some((prefix) => typeof prefix !== 'string')) {
    throw new InvalidArgumentError('listObjectMap.prefixes', 'must be an array of strings');
  }
  if (options.filter !== undefined && typeof options.filter !== 'function') {
    throw new InvalidArgumentError('listObjectMap.filter', 'must be a function');
  }
  checkConcurrency(options, 'listObjectMap');
  const accept = options.filter ?? (() => true);
  const keys: string[] = [];
  for (const prefix of prefixes) {
    for await (const entry of listAll((...page) => store.listPage(...page), prefix, `${store.name}/${prefix}*`, signal)) {
      if (accept(entry)) keys.push(entry.key);
    }
  }
  return objectMap(store, keys, { concurrency: options.concurrency });
}

function checkConcurrency(options: ObjectMapOptions, where: string): number {
  if (typeof options !== 'object' || options === null) throw new InvalidArgumentError(`${where}.options`, 'must be an object');
  const concurrency = options.concurrency ?? DEFAULT_CONCURRENCY;
  if (!Number.isSafeInteger(concurrency) || concurrency < 1) {
    throw new InvalidArgumentError(`${where}.concurrency`, `must be a positive integer, got ${describe(concurrency)}`);
  }
  return concurrency;
}
