/**
 * `rxfeed index <input>`: write the random-access index beside each local file, the one that
 * `webDatasetIndexed` and `tfrecordDataset` read instead of scanning: a WebDataset shard's sample
 * index sidecar `<shard>.idx.json`, a TFRecord file's `tfrecord2idx` index `<file>.idx`.
 *
 * @module
 * @internal
 */
import { stat } from 'node:fs/promises';
import { InvalidArgumentError } from '../errors.js';
import { quoted } from '../excerpt.js';
import type { ResolvedInput } from './inputs.js';
import { formatBytes, redact, table, type CliRun } from './output.js';
import { SCAN_CHUNK, scanTar, tfdsSplits } from './read.js';

/** One index written. */
export interface WrittenIndex {
  /** The shard or record file. */
  readonly file: string;
  /** The index file written beside it. */
  readonly index: string;
  /** `webdataset-sidecar` or `tfrecord2idx`. */
  readonly kind: 'webdataset-sidecar' | 'tfrecord2idx';
  /** Samples (tar) or records (TFRecord) indexed. */
  readonly samples: number;
  /** The index file's size. */
  readonly bytes: number;
}

/** What `index --json` prints. */
export interface IndexResult {
  readonly input: string;
  readonly format: ResolvedInput['format'];
  readonly written: readonly WrittenIndex[];
}

/**
 * Refuse an input that names no local files before anything is listed or opened: an index is
 * written beside its file.
 */
export function checkIndexable(input: string): void {
  if (/^(?:https?|s3):\/\//i.test(input)) {
    throw new InvalidArgumentError('index', `writes each index beside its local file, and ${quoted(redact(input), 200)} is not local`);
  }
}

/**
 * Index every file of `input`: each must be a local file, since the index is written beside it.
 * Each index is written to a temporary file and renamed (by `saveSidecar`, `writeRecordIndex`).
 */
export async function buildIndexes(input: ResolvedInput, run: CliRun): Promise<IndexResult> {
  if (input.format === 'mongodb') {
    throw new InvalidArgumentError('index', 'a MongoDB view needs no index file: mongoDataset reads it by _id');
  }
  const files =
    input.format === 'tfds'
      ? (await tfdsSplits(input.dataDir, input.split)).flatMap((split) => split.files)
      : input.files.map((file) => {
          if (file.local === undefined) {
            throw new InvalidArgumentError('index', `writes each index beside its local file, and ${quoted(file.name, 200)} is not one`);
          }
          return file.local;
        });
  const written: WrittenIndex[] = [];
  for (const file of files) {
    if (run.signal.aborted) break;
    written.push(input.format === 'tar' ? await indexShard(file, run.signal) : await indexRecords(file, run.signal));
  }
  return { input: input.name, format: input.format, written };
}

async function indexShard(path: string, signal: AbortSignal): Promise<WrittenIndex> {
  const { saveSidecar, sidecarPath } = await import('../../sources/webdataset/sampleIndex.js');
  const { fileByteSource } = await import('../../sources/core/fileByteSource.js');
  const index = await scanTar(fileByteSource(path, SCAN_CHUNK), true, signal);
  await saveSidecar(path, index);
  const sidecar = sidecarPath(path);
  return { file: path, index: sidecar, kind: 'webdataset-sidecar', samples: index.keys.length, bytes: (await stat(sidecar)).size };
}

async function indexRecords(path: string, signal: AbortSignal): Promise<WrittenIndex> {
  const { buildRecordIndex, writeRecordIndex } = await import('../../sources/tfrecord/recordIndex.js');
  const index = await buildRecordIndex(path, { signal });
  const target = `${path}.idx`;
  await writeRecordIndex(target, index);
  return { file: path, index: target, kind: 'tfrecord2idx', samples: index.count, bytes: (await stat(target)).size };
}

/** `index` as a table. */
export function indexTable(result: IndexResult): string {
  return `${result.format}: ${result.input}\n${table(
    [{ header: 'file', align: 'left' }, { header: 'index', align: 'left' }, { header: 'samples' }, { header: 'index size' }],
    result.written.map((entry) => [entry.file, entry.index, entry.samples, formatBytes(entry.bytes)]),
  )}`;
}
