/**
 * The field cache: the named fields of every sample loaded once into columns on
 * `SharedArrayBuffer`, so `getItem` reads memory instead of the database and worker threads read
 * the same memory without copies (the seeds' FiftyOne `cache_field_names`).
 *
 * @module
 */
import { BSON, type Document } from 'mongodb';
import { InvalidArgumentError } from '../../src/errors.js';
import { checkInput, openTarget, type MongoCollectionInput } from './target.js';
import { idKey, MongoView, type KeysetBound } from './view.js';
import { viewSpec, type MongoViewOptions } from './viewOptions.js';

/**
 * How a column is stored.
 *
 * - `float64` / `int32`: numbers, one typed-array slot per sample (int32 when every value is an
 *   integer in range).
 * - `bool`: one byte per sample.
 * - `vector`: arrays of numbers of one fixed length `dim`, `dim` float64 slots per sample; read as
 *   a `Float64Array` view, no copy.
 * - `objectId`: 12 bytes per sample.
 * - `string`: one UTF-8 blob plus offsets.
 * - `bson`: anything else (mixed types, sub-documents, dates), each value as BSON bytes plus offsets.
 * @public
 */
export type ColumnKind = 'float64' | 'int32' | 'bool' | 'vector' | 'objectId' | 'string' | 'bson';

/**
 * One column as shared memory: structured-cloneable, so `postMessage` shares it with a worker.
 * @public
 */
export interface SharedColumn {
  readonly kind: ColumnKind;
  /** Values: fixed-width slots, or the blob of `string` / `bson` columns. */
  readonly values: SharedArrayBuffer;
  /** `string` / `bson` only: `size + 1` float64 byte offsets into `values`. */
  readonly offsets?: SharedArrayBuffer;
  /** One byte per sample, 1 where the field is present and not null; absent when all are. */
  readonly present?: SharedArrayBuffer;
  /** `vector` only: the vector length. */
  readonly dim?: number;
}

/**
 * A whole field cache as shared memory; pass it to a worker and rebuild with
 * {@link FieldCache.fromShared}.
 * @public
 */
export interface SharedFieldCache {
  readonly size: number;
  readonly fields: readonly string[];
  /** The `_id` of every sample, in dataset order. */
  readonly ids: SharedColumn;
  readonly columns: Readonly<Record<string, SharedColumn>>;
}

/**
 * A typed view of one column, for vectorised use (e.g. building a batch tensor directly).
 * @public
 */
export interface ColumnView {
  readonly kind: ColumnKind;
  /** `Float64Array` (float64, vector), `Int32Array` (int32) or `Uint8Array` (bool, objectId, string, bson bytes). */
  readonly values: Float64Array | Int32Array | Uint8Array;
  readonly present: Uint8Array | undefined;
  readonly dim: number | undefined;
}

/**
 * Read-only columnar cache of some fields of every sample of a view.
 *
 * Rows are in the view's order (the order `fromMongo` reads with the same options), addressed by
 * position or by `_id` ({@link FieldCache.indexOf}). Memory is `SharedArrayBuffer`: {@link
 * FieldCache.share} hands a worker the same bytes. Field names may be dotted paths (`meta.width`);
 * rows use the path as the key.
 * @public
 */
export class FieldCache {
  /** Number of samples. */
  readonly size: number;
  /** Cached field names (without `_id`, which is always cached). */
  readonly fields: readonly string[];
  readonly #shared: SharedFieldCache;
  readonly #readers: ReadonlyMap<string, (index: number) => unknown>;
  readonly #readId: (index: number) => unknown;
  #byId: Map<string, number> | undefined;

  /** @internal use {@link loadFieldCache} or {@link FieldCache.fromShared} */
  constructor(shared: SharedFieldCache) {
    this.#shared = shared;
    this.size = shared.size;
    this.fields = [...shared.fields];
    this.#readId = reader(shared.ids);
    const readers = new Map<string, (index: number) => unknown>();
    for (const field of this.fields) {
      const column = shared.columns[field];
      if (column === undefined) throw new InvalidArgumentError('FieldCache', `column '${field}' is missing`);
      readers.set(field, reader(column));
    }
    this.#readers = readers;
  }

  /**
   * Rebuild a cache from {@link FieldCache.share}'s output, e.g. in a worker thread; no copy.
   *
   * @example
   * ```ts
   * // worker.ts
   * import { workerData } from 'node:worker_threads';
   * import { FieldCache, type SharedFieldCache } from 'rxfeed/mongodb';
   * const cache = FieldCache.fromShared((workerData as { cache: SharedFieldCache }).cache);
   * ```
   *
   * @param shared - The shared form.
   * @returns A cache over the same memory.
   */
  static fromShared(shared: SharedFieldCache): FieldCache {
    return new FieldCache(shared);
  }

  /**
   * The shared form: structured-cloneable, and `postMessage` shares (does not copy) its buffers.
   *
   * @example
   * ```ts
   * import { Worker } from 'node:worker_threads';
   * import type { FieldCache } from 'rxfeed/mongodb';
   * declare const cache: FieldCache;
   * new Worker(new URL('./worker.js', import.meta.url), { workerData: { cache: cache.share() } });
   * ```
   *
   * @returns The buffers and column descriptions.
   */
  share(): SharedFieldCache {
    return this.#shared;
  }

  /**
   * The `_id` of the sample at `index`.
   * @param index - Position in the dataset order.
   * @returns The `_id`.
   */
  idAt(index: number): unknown {
    this.#check(index);
    return this.#readId(index);
  }

  /**
   * Position of the sample with this `_id`, or -1. The first call builds an id map (one pass).
   * @param id - An `_id` value.
   * @returns Its position, or -1 when it is not cached.
   */
  indexOf(id: unknown): number {
    if (this.#byId === undefined) {
      const byId = new Map<string, number>();
      for (let index = 0; index < this.size; index++) byId.set(idKey(this.#readId(index)), index);
      this.#byId = byId;
    }
    return this.#byId.get(idKey(id)) ?? -1;
  }

  /**
   * One cached field of one sample: a number, boolean, string, `Float64Array` view (vectors, no
   * copy), ObjectId or decoded BSON value; `undefined` when the document had no value.
   * @param index - Position in the dataset order.
   * @param field - A cached field name.
   * @returns The value.
   */
  get(index: number, field: string): unknown {
    this.#check(index);
    const read = this.#readers.get(field);
    if (read === undefined)
      throw new InvalidArgumentError('FieldCache.get', `field '${field}' is not cached (cached: ${this.fields.join(', ')})`);
    return read(index);
  }

  /**
   * The sample at `index` as `{ _id, ...fields }` (what `fromMongo`'s `getItem` receives with a cache).
   * @param index - Position in the dataset order.
   * @returns A fresh object; vector fields are views into the shared memory.
   */
  row(index: number): Document {
    this.#check(index);
    const row: Document = { _id: this.#readId(index) };
    for (const [field, read] of this.#readers) {
      const value = read(index);
      if (value !== undefined) row[field] = value;
    }
    return row;
  }

  /**
   * A typed view of a whole column (no copy), for vectorised reads.
   * @param field - A cached field name.
   * @returns The column's kind, values, presence bytes and vector length.
   */
  column(field: string): ColumnView {
    const column = this.#shared.columns[field];
    if (column === undefined) throw new InvalidArgumentError('FieldCache.column', `field '${field}' is not cached`);
    const values =
      column.kind === 'float64' || column.kind === 'vector'
        ? new Float64Array(column.values)
        : column.kind === 'int32'
          ? new Int32Array(column.values)
          : new Uint8Array(column.values);
    return {
      kind: column.kind,
      values,
      present: column.present === undefined ? undefined : new Uint8Array(column.present),
      dim: column.dim,
    };
  }

  #check(index: number): void {
    if (!Number.isSafeInteger(index) || index < 0 || index >= this.size) {
      throw new InvalidArgumentError('FieldCache index', `${index} is outside [0, ${this.size})`);
    }
  }
}

/**
 * Options of {@link loadFieldCache}: the same view as `fromMongo` (so the rows line up with the
 * dataset's order) and its reading options.
 * @public
 */
export interface LoadFieldCacheOptions extends Omit<MongoViewOptions, 'projection'> {
  /** Documents per page (or id block) while loading; default 5000. */
  readonly pageSize?: number;
}

/**
 * Load `fields` of every document of a view into a {@link FieldCache}: one cursor-safe pass of
 * keyset pages (or id blocks for a custom sort) projecting `_id` and those fields only.
 *
 * Memory: the columns (8 bytes per number, `8 x dim` per vector, UTF-8 or BSON bytes plus 8
 * bytes of offset per sample otherwise, 1 presence byte per sample where values are missing),
 * plus, while loading, the raw values as JavaScript objects.
 *
 * @example
 * ```ts
 * import { fromMongo, loadFieldCache } from 'rxfeed/mongodb';
 * const target = { uri: 'mongodb://127.0.0.1:27017', db: 'ml', collection: 'samples' };
 * const cache = await loadFieldCache(target, ['label', 'embedding']);
 * const train = await fromMongo(target, { cache, getItem: (row) => row.embedding as Float64Array });
 * ```
 *
 * @param input - A driver `Collection` or a `{ uri, db, collection }` target.
 * @param fields - Field names or dotted paths to cache (`_id` is always cached).
 * @param options - The view (filter / pipeline / sort) and reading options.
 * @returns The loaded cache.
 * @public
 */
export async function loadFieldCache(
  input: MongoCollectionInput,
  fields: readonly string[],
  options: LoadFieldCacheOptions = {},
): Promise<FieldCache> {
  checkInput(input, 'loadFieldCache input');
  if (!Array.isArray(fields)) throw new InvalidArgumentError('loadFieldCache.fields', 'must be an array of field names');
  if (fields.length === 0) throw new InvalidArgumentError('loadFieldCache.fields', 'name at least one field');
  for (const field of fields) {
    if (typeof field !== 'string' || field === '' || field === '_id' || field.startsWith('$')) {
      throw new InvalidArgumentError('loadFieldCache.fields', `'${String(field)}' is not a cacheable field name`);
    }
  }
  const spec = viewSpec({ ...options, projection: Object.fromEntries(fields.map((field) => [field, 1])) }, 'loadFieldCache');
  const pageSize = options.pageSize ?? 5000;
  if (!Number.isSafeInteger(pageSize) || pageSize < 1) {
    throw new InvalidArgumentError('loadFieldCache.pageSize', `must be a positive integer, got ${pageSize}`);
  }
  const opened = openTarget(input);
  const ids: unknown[] = [];
  const values = fields.map((): unknown[] => []);
  try {
    const view = new MongoView(opened.collection, spec, opened.namespace);
    await view.assertExists();
    const take = (page: readonly Document[]): void => {
      for (const document of page) {
        ids.push(document._id);
        fields.forEach((field, column) => values[column]!.push(pathValue(document, field)));
      }
    };
    if (spec.sort !== undefined) {
      const all = await view.ids();
      for (let at = 0; at < all.length; at += pageSize) take(await view.block(all.slice(at, at + pageSize)));
    } else {
      let bound: KeysetBound | undefined;
      for (;;) {
        const page = await view.page(bound, pageSize);
        take(page);
        if (page.length < pageSize) break;
        bound = { id: page[page.length - 1]!._id, inclusive: false };
      }
    }
  } finally {
    await opened.release();
  }
  const columns: Record<string, SharedColumn> = {};
  fields.forEach((field, column) => {
    columns[field] = encodeColumn(values[column]!);
  });
  return new FieldCache({ size: ids.length, fields: [...fields], ids: encodeColumn(ids), columns });
}

function pathValue(document: Document, path: string): unknown {
  let value: unknown = document;
  for (const part of path.split('.')) {
    if (typeof value !== 'object' || value === null) return undefined;
    value = (value as Document)[part];
  }
  return value;
}

/** Choose the most compact kind all present values fit. */
function kindOf(values: readonly unknown[]): { kind: ColumnKind; dim?: number } {
  let numbers = true;
  let integers = true;
  let booleans = true;
  let strings = true;
  let objectIds = true;
  let dim: number | undefined;
  let vectors = true;
  let any = false;
  for (const value of values) {
    if (value === undefined || value === null) continue;
    any = true;
    if (typeof value !== 'number') numbers = false;
    else if (!Number.isInteger(value) || value < -0x80000000 || value > 0x7fffffff || Object.is(value, -0)) integers = false;
    if (typeof value !== 'boolean') booleans = false;
    if (typeof value !== 'string') strings = false;
    if (!(value instanceof BSON.ObjectId)) objectIds = false;
    if (vectors) {
      if (!Array.isArray(value) || value.length === 0 || !value.every((element) => typeof element === 'number')) vectors = false;
      else if (dim === undefined) dim = value.length;
      else if (dim !== value.length) vectors = false;
    }
  }
  if (!any) return { kind: 'bson' };
  if (numbers) return { kind: integers ? 'int32' : 'float64' };
  if (booleans) return { kind: 'bool' };
  if (vectors && dim !== undefined) return { kind: 'vector', dim };
  if (objectIds) return { kind: 'objectId' };
  if (strings) return { kind: 'string' };
  return { kind: 'bson' };
}

function encodeColumn(values: readonly unknown[]): SharedColumn {
  const { kind, dim } = kindOf(values);
  const size = values.length;
  let present: SharedArrayBuffer | undefined;
  if (kind !== 'bson' && values.some((value) => value === undefined || value === null)) {
    present = new SharedArrayBuffer(size);
    const bytes = new Uint8Array(present);
    values.forEach((value, index) => {
      bytes[index] = value === undefined || value === null ? 0 : 1;
    });
  }
  switch (kind) {
    case 'float64':
    case 'int32': {
      const buffer = new SharedArrayBuffer(size * (kind === 'int32' ? 4 : 8));
      const view = kind === 'int32' ? new Int32Array(buffer) : new Float64Array(buffer);
      values.forEach((value, index) => {
        if (typeof value === 'number') view[index] = value;
      });
      return { kind, values: buffer, present };
    }
    case 'bool': {
      const buffer = new SharedArrayBuffer(size);
      const view = new Uint8Array(buffer);
      values.forEach((value, index) => {
        view[index] = value === true ? 1 : 0;
      });
      return { kind, values: buffer, present };
    }
    case 'vector': {
      const width = dim!;
      const buffer = new SharedArrayBuffer(size * width * 8);
      const view = new Float64Array(buffer);
      values.forEach((value, index) => {
        if (Array.isArray(value)) view.set(value as number[], index * width);
      });
      return { kind, values: buffer, present, dim: width };
    }
    case 'objectId': {
      const buffer = new SharedArrayBuffer(size * 12);
      const view = new Uint8Array(buffer);
      values.forEach((value, index) => {
        if (value instanceof BSON.ObjectId) view.set(value.id, index * 12);
      });
      return { kind, values: buffer, present };
    }
    case 'string':
    case 'bson': {
      const encoded = values.map((value) => {
        if (kind === 'string') return typeof value === 'string' ? Buffer.from(value, 'utf8') : undefined;
        return value === undefined ? undefined : BSON.serialize({ v: value });
      });
      const total = encoded.reduce((sum, bytes) => sum + (bytes?.length ?? 0), 0);
      const buffer = new SharedArrayBuffer(total);
      const offsetsBuffer = new SharedArrayBuffer((size + 1) * 8);
      const blob = new Uint8Array(buffer);
      const offsets = new Float64Array(offsetsBuffer);
      let at = 0;
      encoded.forEach((bytes, index) => {
        offsets[index] = at;
        if (bytes !== undefined) {
          blob.set(bytes, at);
          at += bytes.length;
        }
      });
      offsets[size] = at;
      return { kind, values: buffer, offsets: offsetsBuffer, present };
    }
  }
}

/** A reader of one column: index -> value, over the shared memory. */
function reader(column: SharedColumn): (index: number) => unknown {
  const present = column.present === undefined ? undefined : new Uint8Array(column.present);
  const read = valueReader(column);
  if (present === undefined) return read;
  return (index) => (present[index] === 1 ? read(index) : undefined);
}

function valueReader(column: SharedColumn): (index: number) => unknown {
  switch (column.kind) {
    case 'float64': {
      const view = new Float64Array(column.values);
      return (index) => view[index];
    }
    case 'int32': {
      const view = new Int32Array(column.values);
      return (index) => view[index];
    }
    case 'bool': {
      const view = new Uint8Array(column.values);
      return (index) => view[index] === 1;
    }
    case 'vector': {
      const dim = column.dim ?? 0;
      return (index) => new Float64Array(column.values, index * dim * 8, dim);
    }
    case 'objectId': {
      const view = new Uint8Array(column.values);
      // ObjectId copies its 12 bytes: a shared view could change under it.
      return (index) => new BSON.ObjectId(view.slice(index * 12, index * 12 + 12));
    }
    case 'string': {
      const offsets = new Float64Array(column.offsets!);
      const bytes = Buffer.from(column.values);
      return (index) => bytes.toString('utf8', offsets[index], offsets[index + 1]);
    }
    case 'bson': {
      const offsets = new Float64Array(column.offsets!);
      const bytes = new Uint8Array(column.values);
      return (index) => {
        const start = offsets[index]!;
        const end = offsets[index + 1]!;
        if (end === start) return undefined;
        return BSON.deserialize(bytes.subarray(start, end)).v as unknown;
      };
    }
  }
}
