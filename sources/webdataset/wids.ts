/**
 * `wids` shard descriptors (WebDataset's `wids.ShardListDataset` format): read, checked and
 * written.
 *
 * @module
 */
import { dirname, resolve } from 'node:path';
import { InvalidArgumentError, RxfeedError } from '../../src/errors.js';
import { describe } from '../../src/excerpt.js';
import type { ByteSource } from '../core/byteSource.js';
import { checkPathOrUrl, isHttpUrl } from '../core/httpUrls.js';
import type { RandomAccessLayout } from '../core/randomAccess.js';
import { SampleIndexError } from './errors.js';

/** Largest `wids` descriptor read: 64 MiB, about a million shards. */
const MAX_DESCRIPTOR_BYTES = 64 * 1024 * 1024;

/**
 * A `wids` shard descriptor, as WebDataset's `wids.ShardListDataset` reads it: each shard's URL
 * and sample count. Relative URLs are resolved against `base`, else against the folder or URL the
 * descriptor was read from (the working directory for a descriptor given as an object).
 *
 * @example
 * ```ts
 * import { type WidsDescriptor } from 'rxfeed/webdataset';
 * const descriptor: WidsDescriptor = {
 *   wids_version: 1,
 *   name: 'imagenet-val',
 *   shardlist: [{ url: 'val-000000.tar', nsamples: 1000 }, { url: 'val-000001.tar', nsamples: 1000 }],
 * };
 * ```
 * @public
 */
export interface WidsDescriptor {
  /** The format version: 1 (the only one `wids` knows); may be left out of an object given directly. */
  readonly wids_version?: number;
  /** The dataset's name (informative). */
  readonly name?: string;
  /** What relative shard URLs are resolved against: a folder or an `http(s)://` URL. */
  readonly base?: string;
  /**
   * The shards, in order: a path or URL, and the number of samples it gives (after the
   * `missing` policy, which only `'skip'` changes). Other fields (`filesize`) are ignored.
   */
  readonly shardlist: readonly { readonly url: string; readonly nsamples: number }[];
}

/**
 * A {@link WidsDescriptor} of a dataset's shards, as `wids` writes one: each shard's name (a path
 * or URL, as given to `webDatasetIndexed`) and its sample count, from the dataset's layout.
 *
 * @example
 * ```ts
 * import { writeFile } from 'node:fs/promises';
 * import { webDatasetIndexed, widsDescriptor } from 'rxfeed/webdataset';
 * const dataset = await webDatasetIndexed('/data/train-{000000..000009}.tar');
 * await writeFile('/data/train.json', JSON.stringify(widsDescriptor(dataset.layout!, { name: 'train' })));
 * const again = await webDatasetIndexed({ wids: '/data/train.json' }); // no scan until read
 * ```
 *
 * @param layout - A dataset's layout, with its shard names.
 * @param options - `name`: the dataset's name, written as is.
 * @returns The descriptor, ready for `JSON.stringify`.
 * @public
 */
export function widsDescriptor(layout: RandomAccessLayout, options: { readonly name?: string } = {}): WidsDescriptor {
  const { shardEnds, shardNames } = layout;
  if (shardNames?.length !== shardEnds.length) {
    throw new InvalidArgumentError('widsDescriptor.layout', 'needs one shard name per shard');
  }
  return {
    wids_version: 1,
    ...(options.name === undefined ? {} : { name: options.name }),
    shardlist: shardNames.map((url, shard) => ({ url, nsamples: shardEnds[shard]! - (shard === 0 ? 0 : shardEnds[shard - 1]!) })),
  };
}

/**
 * Read and check a `wids` descriptor (untrusted: at most 64 MiB, every entry checked); `base`
 * resolves its relative URLs.
 * @internal
 */
export async function loadDescriptor(
  given: string | WidsDescriptor,
  open: (name: string) => Promise<ByteSource>,
  where: string,
): Promise<{ descriptor: WidsDescriptor; file: string | undefined; base: string | undefined }> {
  let parsed: unknown = given;
  let file: string | undefined;
  if (typeof given === 'string') {
    file = given;
    checkPathOrUrl(file, `${where}.input.wids`);
    const source = await open(file);
    const size = await source.size();
    if (size > MAX_DESCRIPTOR_BYTES) throw new SampleIndexError(file, '', `is ${size} bytes, more than the ${MAX_DESCRIPTOR_BYTES} read`);
    try {
      parsed = JSON.parse(new TextDecoder().decode(await source.read(0, size)));
    } catch (error) {
      if (error instanceof RxfeedError) throw error;
      throw new SampleIndexError(file, '', 'is not JSON');
    }
  }
  const name = file ?? '(descriptor)';
  const record = parsed as Partial<Record<string, unknown>> | null;
  if (typeof record !== 'object' || record === null || Array.isArray(record)) throw new SampleIndexError(name, '', 'is not a JSON object');
  if (file !== undefined || record.wids_version !== undefined) {
    if (record.wids_version !== 1) throw new SampleIndexError(name, 'wids_version', `must be 1, got ${describe(record.wids_version)}`);
  }
  if (record.datasets !== undefined) {
    throw new SampleIndexError(name, 'datasets', 'sub-datasets are not read: list every shard in one shardlist');
  }
  if (record.base !== undefined && typeof record.base !== 'string') throw new SampleIndexError(name, 'base', 'must be a string');
  const shardlist = record.shardlist;
  if (!Array.isArray(shardlist) || shardlist.length === 0) throw new SampleIndexError(name, 'shardlist', 'must be a non-empty list');
  shardlist.forEach((entry: unknown, index) => {
    const shard = entry as Partial<Record<string, unknown>> | null;
    if (typeof shard !== 'object' || shard === null) throw new SampleIndexError(name, `shardlist[${index}]`, 'must be { url, nsamples }');
    if (typeof shard.url !== 'string' || shard.url === '') {
      throw new SampleIndexError(name, `shardlist[${index}].url`, 'must be a non-empty string');
    }
    if (!Number.isSafeInteger(shard.nsamples) || (shard.nsamples as number) < 0) {
      throw new SampleIndexError(name, `shardlist[${index}].nsamples`, `must be a count of samples, got ${describe(shard.nsamples)}`);
    }
  });
  // An explicit base is a folder (`wids` joins paths onto it); a descriptor's own URL resolves as a document's.
  let base = record.base as string | undefined;
  if (base !== undefined && isHttpUrl(base) && !base.endsWith('/')) base = `${base}/`;
  base ??= file === undefined ? undefined : isHttpUrl(file) ? file : dirname(file);
  return { descriptor: record as unknown as WidsDescriptor, file, base };
}

/**
 * A shard URL of a descriptor, resolved against `base` as `wids` does.
 * @internal
 */
export function resolveShard(url: string, base: string | undefined): string {
  if (isHttpUrl(url) || base === undefined) return url;
  if (isHttpUrl(base)) return new URL(url, base).href;
  return resolve(base, url);
}
