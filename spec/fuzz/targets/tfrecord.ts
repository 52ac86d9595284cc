import { count, lastValueFrom } from 'rxjs';
import { fromTFRecord, type TFRecordCompression } from '../../../sources/tfrecord/fromTFRecord.js';
import { inflatedSize } from './inflated.js';
import { memorySource } from './memorySource.js';
import type { FuzzTarget } from './target.js';

/** A TFRecord file (plain, gzip or zlib), streamed in chunks. */
export interface TFRecordInput {
  readonly bytes: Uint8Array;
  readonly chunk: number;
  readonly compression: TFRecordCompression;
  readonly onCorrupt: 'error' | 'skip';
}

/** `fromTFRecord` (raw records) over one file in memory, read to its end. */
export const target: FuzzTarget<TFRecordInput> = {
  inputBytes: (input) => inflatedSize(input.bytes),
  run: async (input) => {
    const records = fromTFRecord([memorySource('fuzz.tfrecord', input.bytes, input.chunk)], {
      compression: input.compression,
      onCorrupt: input.onCorrupt,
      maxSkipRatio: 1,
    });
    await lastValueFrom(records.pipe(count()));
  },
};
