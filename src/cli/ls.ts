/**
 * `rxfeed ls <input>`: the shards (files, objects, TFDS shard files, a MongoDB view) of an input
 * with their sizes and sample counts, and the totals.
 *
 * Memory: one shard at a time: a tar shard's header scan holds a 256 KiB chunk and the sample
 * index being built (keys and offsets, see `scanShard`), a TFRecord scan 64 KiB and 16 bytes per
 * record, a gzip shard (which cannot seek) the reader's chunks; a MongoDB view is counted by
 * `mongoDataset`, which lists the view's `_id`s once.
 *
 * @module
 * @internal
 */
import { stat } from 'node:fs/promises';
import type { Observable } from 'rxjs';
import { RxfeedError } from '../errors.js';
import type { InputFile, ResolvedInput } from './inputs.js';
import { formatBytes, table, type CliRun } from './output.js';
import { drain, scanTar, shardInputs, tfdsSplits } from './read.js';

/** One row of `ls`. */
export interface LsShard {
  /** Path, URL, object or `db.collection`. */
  readonly name: string;
  /** The TFDS split a shard file belongs to. */
  readonly split?: string;
  /** Bytes; `null` where the store does not say (a MongoDB view). */
  readonly bytes: number | null;
  /** Samples (tar: members grouped by key; TFRecord: records; TFDS: `shardLengths`; MongoDB: documents). */
  readonly samples: number;
}

/** What `ls --json` prints. */
export interface LsResult {
  readonly input: string;
  readonly format: ResolvedInput['format'];
  readonly shards: readonly LsShard[];
  readonly totals: { readonly shards: number; readonly bytes: number | null; readonly samples: number };
}

/** List `input`. */
export async function ls(input: ResolvedInput, run: CliRun): Promise<LsResult> {
  const shards: LsShard[] = [];
  switch (input.format) {
    case 'tar':
    case 'tfrecord':
      for (const file of input.files) {
        if (run.signal.aborted) break;
        const samples = input.format === 'tar' ? await tarSamples(file, run.signal) : await tfrecordSamples(file, run.signal);
        shards.push({ name: file.name, bytes: file.bytes, samples });
      }
      break;
    case 'tfds': {
      for (const split of await tfdsSplits(input.dataDir, input.split)) {
        for (const [index, file] of split.files.entries()) {
          const bytes = await stat(file).then(
            (stats) => stats.size,
            () => null,
          );
          shards.push({ name: file, split: split.name, bytes, samples: split.shardLengths[index]! });
        }
      }
      break;
    }
    case 'mongodb': {
      const { mongoDataset } = await import('../../sources/mongodb/mongoDataset.js');
      const dataset = await mongoDataset({ uri: input.uri, db: input.db, collection: input.collection }, { filter: input.filter });
      try {
        shards.push({ name: input.name, bytes: null, samples: dataset.size });
      } finally {
        await dataset.close();
      }
      break;
    }
  }
  const bytes = shards.every((shard) => shard.bytes !== null) ? shards.reduce((sum, shard) => sum + shard.bytes!, 0) : null;
  const samples = shards.reduce((sum, shard) => sum + shard.samples, 0);
  return { input: input.name, format: input.format, shards, totals: { shards: shards.length, bytes, samples } };
}

/** Samples of a tar shard: one scan of its headers, or one read of a gzip shard (which cannot seek). */
async function tarSamples(file: InputFile, signal: AbortSignal): Promise<number> {
  try {
    return (await scanTar(file.open(), file.local !== undefined, signal)).keys.length;
  } catch (error) {
    if (!(error instanceof RxfeedError && error.code === 'RXFEED_ERR_COMPRESSED_SHARD')) throw error;
  }
  const { fromWebDataset } = await import('../../sources/webdataset/fromWebDataset.js');
  return countItems(fromWebDataset(shardInputs([file])), signal);
}

/** Records of a TFRecord file: one scan of its frame headers, or one read of a compressed file. */
async function tfrecordSamples(file: InputFile, signal: AbortSignal): Promise<number> {
  const { buildRecordIndex } = await import('../../sources/tfrecord/recordIndex.js');
  try {
    return (await buildRecordIndex(file.open(), { signal })).count;
  } catch (error) {
    if (!(error instanceof RxfeedError && error.code === 'RXFEED_ERR_TFRECORD_NOT_SEEKABLE')) throw error;
  }
  const { fromTFRecord } = await import('../../sources/tfrecord/fromTFRecord.js');
  return countItems(fromTFRecord(shardInputs([file])), signal);
}

/** Items of a file that cannot be scanned, counted by reading it through. */
async function countItems(items: Observable<unknown>, signal: AbortSignal): Promise<number> {
  let count = 0;
  await drain(items, signal, () => {
    count++;
  });
  return count;
}

/** `ls` as a table. */
export function lsTable(result: LsResult): string {
  const split = result.shards.some((shard) => shard.split !== undefined);
  const columns = [
    { header: result.format === 'mongodb' ? 'collection' : 'shard', align: 'left' as const },
    ...(split ? [{ header: 'split', align: 'left' as const }] : []),
    { header: 'bytes' },
    { header: 'size' },
    { header: 'samples' },
  ];
  const rows = result.shards.map((shard) => [
    shard.name,
    ...(split ? [shard.split] : []),
    shard.bytes,
    formatBytes(shard.bytes),
    shard.samples,
  ]);
  const { totals } = result;
  rows.push([
    `total (${totals.shards} ${totals.shards === 1 ? 'shard' : 'shards'})`,
    ...(split ? [''] : []),
    totals.bytes,
    formatBytes(totals.bytes),
    totals.samples,
  ]);
  return `${result.format}: ${result.input}\n${table(columns, rows)}`;
}
