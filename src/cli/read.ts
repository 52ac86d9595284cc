/**
 * Reading a resolved input as an Observable of items, and draining one under Ctrl-C: the pieces
 * `inspect`, `bench` and `convert` share.
 *
 * @module
 * @internal
 */
import type { Observable, Subscription } from 'rxjs';
import type { ByteSource } from '../../sources/core/byteSource.js';
import type { TfdsSplitInfo } from '../../sources/tfrecord/tfds.js';
import type { SampleIndex } from '../../sources/webdataset/sampleIndex.js';
import type { InputFile, MongoInput, ResolvedInput } from './inputs.js';

/** Default TFDS split when `--split` is not given: `train`, else the first split listed. */
export function defaultSplit(splits: Iterable<string>): string {
  const names = [...splits];
  return names.includes('train') ? 'train' : (names[0] ?? 'train');
}

/**
 * The splits of a TFDS directory that `split` (a TFDS split spec, e.g. `train[:10%]+test`) names,
 * in the order `dataset_info.json` lists them. Without one: every split (`ls`, `index`), or the
 * {@link defaultSplit} when `unset` is `'default'` (what `bench` reads).
 */
export async function tfdsSplits(dataDir: string, split: string | undefined, unset: 'all' | 'default' = 'all'): Promise<TfdsSplitInfo[]> {
  const { readTfdsInfo, resolveTfdsSplit } = await import('../../sources/tfrecord/tfds.js');
  const info = readTfdsInfo(dataDir);
  const spec = split ?? (unset === 'default' ? defaultSplit(info.splits.keys()) : undefined);
  const wanted = spec === undefined ? undefined : new Set(resolveTfdsSplit(info, spec).map((range) => range.split));
  return [...info.splits.values()].filter((each) => wanted === undefined || wanted.has(each.name));
}

/** Bytes per read while scanning a shard's tar headers. */
export const SCAN_CHUNK = 256 * 1024;

/**
 * The sample index of a tar shard, from one scan of its headers (seeking over members when
 * `seek`, reading through them otherwise): what `ls` counts and `index` saves.
 */
export async function scanTar(source: ByteSource, seek: boolean, signal: AbortSignal): Promise<SampleIndex> {
  const { scanShard } = await import('../../sources/webdataset/sampleIndex.js');
  const { DEFAULT_MAX_MEMBER_SIZE } = await import('../../sources/webdataset/tarReader.js');
  return scanShard(source, { maxMemberSize: DEFAULT_MAX_MEMBER_SIZE, chunkSize: SCAN_CHUNK, seek, signal });
}

/** What each file is read as: its path for a local file (read with pooled handles), else its ByteSource. */
export function shardInputs(files: readonly InputFile[]): (string | ByteSource)[] {
  return files.map((file) => file.local ?? file.open());
}

/**
 * The items of an input, as its source emits them: WebDataset samples, raw TFRecord records,
 * decoded TFDS examples (images left encoded unless `decodeImages`), MongoDB documents.
 */
export async function itemsOf(
  input: ResolvedInput,
  options: { decodeImages?: boolean; pageSize?: number } = {},
): Promise<Observable<unknown>> {
  switch (input.format) {
    case 'tar': {
      const { fromWebDataset } = await import('../../sources/webdataset/fromWebDataset.js');
      return fromWebDataset(shardInputs(input.files));
    }
    case 'tfrecord': {
      const { fromTFRecord } = await import('../../sources/tfrecord/fromTFRecord.js');
      return fromTFRecord(shardInputs(input.files));
    }
    case 'tfds': {
      const { fromTfds, readTfdsInfo } = await import('../../sources/tfrecord/tfds.js');
      const split = input.split ?? defaultSplit(readTfdsInfo(input.dataDir).splits.keys());
      return fromTfds(input.dataDir, { split, decodeImages: options.decodeImages === true });
    }
    case 'mongodb':
      return mongoItems(input, options.pageSize);
  }
}

async function mongoItems(input: MongoInput, pageSize: number | undefined): Promise<Observable<unknown>> {
  const { fromMongo } = await import('../../sources/mongodb/fromMongo.js');
  return fromMongo({ uri: input.uri, db: input.db, collection: input.collection }, { filter: input.filter, pageSize });
}

/**
 * Subscribe to `source` and hand each item to `onItem` until it completes, `onItem` returns
 * `false`, or `signal` aborts (Ctrl-C): then unsubscribe, which closes the files, bodies and
 * cursors the source holds. Resolves when the source is released; rejects with its error.
 */
export function drain<T>(source: Observable<T>, signal: AbortSignal, onItem: (item: T) => boolean | void): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    // Held in an object: a source that finishes during subscribe() calls finish before subscribe returns.
    const held: { subscription?: Subscription } = {};
    let done = false;
    const finish = (error?: unknown): void => {
      if (done) return;
      done = true;
      signal.removeEventListener('abort', stop);
      held.subscription?.unsubscribe();
      if (error === undefined) resolve();
      else reject(error instanceof Error ? error : new Error(String(error)));
    };
    const stop = (): void => finish();
    if (signal.aborted) return resolve();
    signal.addEventListener('abort', stop);
    held.subscription = source.subscribe({
      next: (item) => {
        if (done) return;
        let more: boolean | void;
        try {
          more = onItem(item);
        } catch (error) {
          finish(error);
          return;
        }
        if (more === false) finish();
      },
      error: (error: unknown) => finish(error ?? new Error('the source failed')),
      complete: () => finish(),
    });
    // A source that finished during subscribe() could not unsubscribe itself yet.
    if (done) held.subscription.unsubscribe();
  });
}
