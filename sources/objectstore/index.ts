/**
 * `rxfeed/objectstore`: object stores (S3-compatible, AIStore, plain HTTP) over undici, and
 * datasets over their objects: streamed (`fromObjects`) or read by index (`objectMap`, `listObjectMap`).
 *
 * @module rxfeed/objectstore
 */
export type { ObjectEntry, ObjectHead, ObjectPage, ObjectStore, UploadOptions } from './store.js';
export { ObjectStoreError, type ObjectStoreErrorCode } from './errors.js';
export { defaultRetryPolicy, type RetryPolicy } from './retry.js';
export { sharedAgent, type TransportOptions } from './http.js';
export {
  presignQuery,
  sha256Hex,
  signHeaders,
  type SigV4Credentials,
  type SigV4Options,
  type SigV4Request,
  type SigV4Signature,
  type SigV4SignedHeaders,
  type SigV4SignedQuery,
} from './sigv4.js';
export { s3Store, type S3Store, type S3StoreOptions } from './s3Store.js';
export { aisStore, type AisStore, type AisStoreOptions } from './aisStore.js';
export { httpStore, type HttpStoreOptions } from './httpStore.js';
export { expandBraces } from '../core/expandBraces.js';
export { fromObjects, type FromObjectsOptions, type StoredObject } from './fromObjects.js';
export { listObjectMap, objectMap, type ListObjectMapOptions, type ObjectMap, type ObjectMapOptions } from './objectMap.js';
