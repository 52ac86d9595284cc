/**
 * What a dataset reads from or writes to: a driver `Collection`, or a `{ uri, db, collection }`
 * naming one through the shared client registry.
 *
 * @module
 */
import type { Collection, Document, MongoClientOptions } from 'mongodb';
import { acquireMongoClient } from './clients.js';
import { MongoCollectionNotFoundError } from './errors.js';

/**
 * A collection named by connection string: rxfeed opens (and closes) the shared client itself.
 * @public
 */
export interface MongoTarget {
  /** MongoDB connection string, e.g. `mongodb://127.0.0.1:27017/?directConnection=true`. */
  readonly uri: string;
  /** Database name. */
  readonly db: string;
  /** Collection (or view) name. */
  readonly collection: string;
  /** Options of the shared client; clients are shared per (uri, options). */
  readonly clientOptions?: MongoClientOptions;
}

/**
 * Either a driver `Collection` (its client is yours: rxfeed never closes it) or a
 * {@link MongoTarget} (rxfeed leases the shared client and releases it with each loader).
 * @public
 */
export type MongoCollectionInput = Collection<Document> | MongoTarget;

/** An opened target: the collection, and how to give back what opening it took. */
export interface OpenedTarget {
  readonly collection: Collection<Document>;
  /** `db.collection`, for messages. */
  readonly namespace: string;
  release(): Promise<void>;
}

/** True for a `{ uri, db, collection }` target rather than a driver Collection. */
export function isMongoTarget(input: MongoCollectionInput): input is MongoTarget {
  return typeof (input as MongoTarget).uri === 'string';
}

/** `db.collection` of an input, without opening anything. */
export function namespaceOf(input: MongoCollectionInput): string {
  return isMongoTarget(input) ? `${input.db}.${input.collection}` : `${input.dbName}.${input.collectionName}`;
}

/** Open `input`: lease the shared client for a target; a driver Collection is used as it is. */
export function openTarget(input: MongoCollectionInput): OpenedTarget {
  if (!isMongoTarget(input)) {
    return { collection: input, namespace: namespaceOf(input), release: () => Promise.resolve() };
  }
  const lease = acquireMongoClient(input.uri, input.clientOptions);
  try {
    const collection = lease.client.db(input.db).collection(input.collection);
    return { collection, namespace: namespaceOf(input), release: () => lease.release() };
  } catch (error) {
    void lease.release();
    throw error;
  }
}

/** Throw {@link MongoCollectionNotFoundError} unless the collection or view exists. */
export async function assertCollectionExists(collection: Collection<Document>, signal?: AbortSignal): Promise<void> {
  const found = await collection.db
    .listCollections({ name: collection.collectionName }, { nameOnly: true, signal })
    .toArray();
  if (found.length === 0) throw new MongoCollectionNotFoundError(`${collection.dbName}.${collection.collectionName}`);
}
