/**
 * A dataset streaming the objects of a store by prefix.
 *
 * @module
 */
import type { Observable } from 'rxjs';
import { InvalidArgumentError } from '../../src/errors.js';
import { fromPuller } from '../core/fromPuller.js';
import type { Puller } from '../core/puller.js';
import { checkObjectStore } from '../core/store.js';
import { continuationGuard, type ObjectEntry, type ObjectStore } from './store.js';
import { readAll } from './http.js';

/**
 * One object with its bytes, as {@link fromObjects} and {@link objectMap} deliver it
 * (AIStore's `AISIterDataset` / `AISMapDataset` items).
 * @public
 */
export interface StoredObject {
  /** The object's key in its store. */
  readonly key: string;
  /** Its whole content. */
  readonly bytes: Uint8Array;
}

/**
 * Options of {@link fromObjects}.
 * @public
 */
export interface FromObjectsOptions {
  /** Key prefixes to read, in this order; each is listed page by page (default: `['']`, everything). */
  readonly prefixes?: readonly string[];
  /** Keep only the entries this accepts (e.g. by extension), before any byte is read. */
  readonly filter?: (entry: ObjectEntry) => boolean;
}

/**
 * Every object under some prefixes as `{ key, bytes }`, in listing order (AIStore's
 * `AISIterDataset`).
 *
 * Bounded: the source holds one listing page (at most the store's page size, 1000 entries on S3)
 * and reads one object per pull, only when the pipeline asks for the next item; an object is
 * whole in memory once, so this suits objects that fit (samples, small shards; read big tar
 * shards with `fromWebDataset` instead). Unsubscribing aborts the read in flight and destroys its
 * body. Transient faults are retried and broken bodies resumed by the store, so every object is
 * delivered exactly once.
 *
 * @example
 * ```ts
 * import { fromObjects, s3Store } from 'rxfeed/objectstore';
 * import { toLoader } from 'rxfeed';
 * const images = fromObjects(s3Store({ bucket: 'imagenet' }), { prefixes: ['train/n01440764/'] });
 * for await (const { key, bytes } of toLoader(images)) console.log(key, bytes.length);
 * ```
 *
 * @param store - Where the objects are.
 * @param options - Prefixes and an entry filter; see {@link FromObjectsOptions}.
 * @returns A cold Observable: each subscription lists and reads again.
 * @public
 */
export function fromObjects(store: ObjectStore, options: FromObjectsOptions = {}): Observable<StoredObject> {
  checkObjectStore(store, 'fromObjects.store', ['listPage', 'open']);
  if (typeof options !== 'object' || options === null) throw new InvalidArgumentError('fromObjects.options', 'must be an object');
  const prefixes = options.prefixes ?? [''];
  if (!Array.isArray(prefixes) || prefixes.some((prefix) => typeof prefix !== 'string')) {
    throw new InvalidArgumentError('fromObjects.prefixes', 'must be an array of strings');
  }
  const accept = options.filter ?? (() => true);
  return fromPuller<StoredObject>(
    (context): Puller<StoredObject> => {
      // Own controller, so close() stops a read even when called without the subscription's abort.
      const abort = new AbortController();
      const onAbort = (): void => abort.abort(context.signal.reason);
      context.signal.addEventListener('abort', onAbort, { once: true });
      let prefixIndex = 0;
      let page: readonly ObjectEntry[] = [];
      let pageIndex = 0;
      let continuation: string | undefined;
      let listed = false; // the current prefix has been listed at least once
      let guard = continuationGuard(`${store.name}/${prefixes[0]}*`);
      const nextEntry = async (): Promise<ObjectEntry | undefined> => {
        for (;;) {
          while (pageIndex < page.length) {
            const entry = page[pageIndex++]!;
            if (accept(entry)) return entry;
          }
          if (listed && continuation === undefined) {
            prefixIndex++;
            listed = false;
            if (prefixIndex < prefixes.length) guard = continuationGuard(`${store.name}/${prefixes[prefixIndex]}*`);
          }
          if (prefixIndex >= prefixes.length) return undefined;
          const next = await store.listPage(prefixes[prefixIndex]!, continuation, abort.signal);
          listed = true;
          page = next.entries;
          pageIndex = 0;
          continuation = next.continuation;
          if (continuation !== undefined) guard(continuation);
        }
      };
      return {
        pull: async () => {
          const entry = await nextEntry();
          if (entry === undefined) return null;
          return [{ key: entry.key, bytes: await readAll(store.open(entry.key), abort.signal) }];
        },
        close: () => {
          context.signal.removeEventListener('abort', onAbort);
          abort.abort();
        },
      };
    },
    {},
    'fromObjects',
  );
}
