import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tfrecordDataset } from '../../../sources/tfrecord/tfrecordDataset.js';
import { FuzzInvariantError } from './memorySource.js';
import { inScratch } from './scratch.js';
import type { FuzzTarget } from './target.js';

/** A TFRecord file and a `tfrecord2idx` index file for it, either possibly hostile. */
export interface RecordIndexInput {
  readonly file: Uint8Array;
  readonly index: Uint8Array;
}

/** Indices read per case at most: a lying index may claim millions of records. */
const MOST_READ = 4096;

/**
 * `tfrecordDataset` over the file with that index (`readRecordIndex`'s checks, then reads of the
 * records it lists, in reverse order and in runs, which meet any stale entry). Besides the
 * harness's invariants, an index that was accepted must name records inside the file.
 */
export const target: FuzzTarget<RecordIndexInput> = {
  inputBytes: (input) => input.file.byteLength + input.index.byteLength,
  run: (input) =>
    inScratch('recordIndex', async (dir) => {
      const file = join(dir, 'fuzz.tfrecord');
      writeFileSync(file, input.file);
      writeFileSync(`${file}.idx`, input.index);
      const dataset = await tfrecordDataset([file]);
      try {
        const { offsets, lengths, count: records } = dataset.indexes[0]!;
        for (let record = 0; record < records; record++) {
          if (offsets[record]! + lengths[record]! > input.file.byteLength)
            throw new FuzzInvariantError(`record ${record} ends past the file`);
        }
        const count = Math.min(dataset.size, MOST_READ);
        const reversed = Array.from({ length: count }, (_, k) => dataset.size - 1 - k);
        for (let at = 0; at < reversed.length; at += 64) await dataset.read(reversed.slice(at, at + 64));
      } finally {
        await dataset.close();
      }
    }),
};
