/**
 * WebDataset tar shards as rxfeed datasets: `rxfeed/webdataset`.
 *
 * @example
 * ```ts
 * import { fromWebDataset } from 'rxfeed/webdataset';
 * const samples = fromWebDataset('shards/train-000000.tar', { extensions: ['png', 'cls'] });
 * ```
 *
 * @module
 */
export { fromWebDataset, listShards, type WebDatasetInput, type WebDatasetOptions } from './fromWebDataset.js';
export type { MissingFieldPolicy, WebDatasetSample } from './shardReader.js';
export type { HttpUrlOptions } from '../core/httpUrls.js';
export {
  CorruptShardError,
  MemberTooLargeError,
  ReservedFieldError,
  SampleFieldError,
  TruncatedShardError,
  UnsafeMemberError,
} from './errors.js';
