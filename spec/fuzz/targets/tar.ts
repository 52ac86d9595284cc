import { count, lastValueFrom, tap } from 'rxjs';
import { fromWebDataset } from '../../../sources/webdataset/fromWebDataset.js';
import { inflatedSize } from './inflated.js';
import { FuzzInvariantError, memorySource } from './memorySource.js';
import type { FuzzTarget } from './target.js';

/** A shard (plain tar, or gzip bytes), streamed in chunks of `chunk` bytes. */
export interface TarInput {
  readonly bytes: Uint8Array;
  readonly chunk: number;
}

/**
 * `fromWebDataset` over one shard in memory, read to its end. Besides the harness's invariants,
 * each sample must keep its shape: an ordinary (or null) prototype, `__key__` and `__url__`
 * strings (the shard's name for `__url__`), every other field bytes (issue 9.4).
 */
export const target: FuzzTarget<TarInput> = {
  inputBytes: (input) => inflatedSize(input.bytes),
  run: async (input) => {
    const samples = fromWebDataset([memorySource('fuzz.tar', input.bytes, input.chunk)]).pipe(
      tap((sample) => {
        const prototype = Object.getPrototypeOf(sample) as unknown;
        if (prototype !== Object.prototype && prototype !== null) throw new FuzzInvariantError('a sample has a foreign prototype');
        if (typeof sample.__key__ !== 'string') throw new FuzzInvariantError('__key__ is not a string');
        if (sample.__url__ !== 'fuzz.tar') throw new FuzzInvariantError(`__url__ is ${String(sample.__url__)}, not the shard's name`);
        for (const [name, value] of Object.entries(sample)) {
          if (name !== '__key__' && name !== '__url__' && !(value instanceof Uint8Array))
            throw new FuzzInvariantError(`field ${name} is not bytes`);
        }
      }),
      count(),
    );
    await lastValueFrom(samples);
  },
};
