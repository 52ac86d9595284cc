/**
 * `rxfeed/mongodb`: datasets over MongoDB collections and aggregation views (streamed, or read by
 * index), a shared-memory field cache, and write-back during training, on the official `mongodb`
 * driver.
 *
 * @example
 * ```ts
 * import { fromMongo, loadFieldCache, tapWrite, mongoDataset } from 'rxfeed/mongodb';
 * const target = { uri: 'mongodb://127.0.0.1:27017', db: 'ml', collection: 'samples' };
 * const train = await fromMongo(target, { filter: { split: 'train' } });
 * const byIndex = await mongoDataset(target, { filter: { split: 'train' } });
 * ```
 *
 * @module rxfeed/mongodb
 */
export { fromMongo, type FromMongoOptions } from './fromMongo.js';
export { mongoDataset, type MongoDataset, type MongoDatasetOptions } from './mongoDataset.js';
export type { MongoViewOptions } from './viewOptions.js';
export {
  FieldCache,
  loadFieldCache,
  type ColumnKind,
  type ColumnView,
  type LoadFieldCacheOptions,
  type SharedColumn,
  type SharedFieldCache,
} from './fieldCache.js';
export { tapWrite, type SampleUpdate, type TapWriteOptions } from './tapWrite.js';
export {
  acquireMongoClient,
  assertClientThread,
  DEFAULT_CONNECT_TIMEOUT_MS,
  DEFAULT_SERVER_SELECTION_TIMEOUT_MS,
  mongoClientsClosed,
  mongoClientStats,
  type MongoClientLease,
  type MongoClientStats,
} from './clients.js';
export type { MongoCollectionInput, MongoTarget } from './target.js';
export { MONGO_RETRY_CHANNEL } from './view.js';
export {
  MongoAuthError,
  MongoCollectionNotFoundError,
  MongoDecodeError,
  MongoDocumentMissingError,
  MongoQueryError,
  MongoReadError,
  MongoThreadError,
  MongoUnreachableError,
  MongoUriError,
  MongoWriteError,
} from './errors.js';
