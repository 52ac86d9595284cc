/**
 * WebDataset tar shards as rxfeed datasets, and the writer of such shards (`toWebDataset`):
 * `rxfeed/webdataset`.
 *
 * @example
 * ```ts
 * import { fromWebDataset, webDatasetIndexed } from 'rxfeed/webdataset';
 * const samples = fromWebDataset('shards/train-000000.tar', { extensions: ['png', 'cls'] });
 * const byIndex = await webDatasetIndexed('shards/train-000000.tar', { saveIndex: true });
 * const [first, last] = await byIndex.read([0, byIndex.size - 1]);
 * ```
 *
 * @module rxfeed/webdataset
 */
export { fromWebDataset, listShards, type WebDatasetInput, type WebDatasetOptions } from './fromWebDataset.js';
export { webDatasetIndexed, type WebDatasetIndexedInput, type WebDatasetIndexedOptions } from './webDatasetIndexed.js';
export { widsDescriptor, type WidsDescriptor } from './wids.js';
export type { MissingFieldPolicy, WebDatasetSample } from './shardReader.js';
export type { HttpUrlOptions } from '../core/httpUrls.js';
export {
  toWebDataset,
  type ToWebDatasetOptions,
  type WebDatasetSampleInput,
  type WebDatasetShardWritten,
  type WebDatasetTarget,
} from './toWebDataset.js';
export {
  CompressedShardError,
  CorruptShardError,
  MemberTooLargeError,
  ReservedFieldError,
  SampleFieldError,
  SampleIndexError,
  SampleWriteError,
  ShardWriteError,
  StaleIndexError,
  TruncatedShardError,
  UnsafeMemberError,
} from './errors.js';
