/**
 * The `_id`s of a MongoDB view in the view's order, listed once and stored compactly: what a
 * random-access dataset (`mongoDataset`) keeps to turn an index into a document.
 *
 * @module
 * @internal
 */
import { BSON, type Collection, type Document } from 'mongodb';
import { MongoReadError } from './errors.js';
import { idKey, type MongoView, type ViewSpec } from './view.js';

/** Bytes of one packed ObjectId. */
const OBJECT_ID_BYTES = 12;
/** Ids per packed chunk (96 KiB): the list grows a chunk at a time, never copying what it holds. */
const CHUNK_IDS = 8192;
/** `_id`s per server batch while listing: one reply is about 10 000 x 22 bytes of BSON. */
const LIST_BATCH_SIZE = 10_000;

/**
 * A list of `_id`s. While every id is an ObjectId they are packed, 12 bytes each, in chunks of
 * 8192 (so at most 96 KiB more than 12 bytes per id); the first id of another type (a number, a
 * string, a document) turns the list into a plain array of the ids: an 8-byte slot plus the value,
 * about 24-40 bytes per id for numbers and short strings.
 * @internal
 */
export class IdList {
  #chunks: Uint8Array[] | undefined = [];
  #values: unknown[] | undefined;
  #length = 0;

  /** Number of ids. */
  get length(): number {
    return this.#length;
  }

  /** True while every id is an ObjectId, stored packed. */
  get packed(): boolean {
    return this.#chunks !== undefined;
  }

  /** Bytes the ids take: the packed chunks, or (unpacked) an estimate of 8 bytes per array slot. */
  get byteLength(): number {
    return this.#chunks === undefined ? this.#length * 8 : this.#chunks.length * CHUNK_IDS * OBJECT_ID_BYTES;
  }

  push(id: unknown): void {
    const chunks = this.#chunks;
    if (chunks !== undefined && id instanceof BSON.ObjectId) {
      const offset = (this.#length % CHUNK_IDS) * OBJECT_ID_BYTES;
      if (offset === 0) chunks.push(new Uint8Array(CHUNK_IDS * OBJECT_ID_BYTES));
      chunks[chunks.length - 1]!.set(id.id, offset);
    } else {
      if (chunks !== undefined) this.#unpack();
      this.#values!.push(id);
    }
    this.#length += 1;
  }

  /** The id at `index` (0 to `length - 1`); a packed id is a new ObjectId each time. */
  at(index: number): unknown {
    if (this.#chunks === undefined) return this.#values![index];
    const chunk = this.#chunks[Math.floor(index / CHUNK_IDS)]!;
    const offset = (index % CHUNK_IDS) * OBJECT_ID_BYTES;
    return new BSON.ObjectId(chunk.slice(offset, offset + OBJECT_ID_BYTES));
  }

  /** The ids of `[first, end)`. */
  slice(first: number, end: number): unknown[] {
    const ids: unknown[] = [];
    for (let index = first; index < end; index++) ids.push(this.at(index));
    return ids;
  }

  #unpack(): void {
    const values: unknown[] = [];
    for (let index = 0; index < this.#length; index++) values.push(this.at(index));
    this.#values = values;
    this.#chunks = undefined;
  }
}

/**
 * Every `_id` of the view, in the view's order: `_id` order, or `sort` with ties broken by `_id`
 * (the order `fromMongo` reads). One query with projection `{ _id: 1 }` streamed into an
 * {@link IdList} batch by batch (rather than `MongoView.ids`, which holds every row at once),
 * retried from the start by the view's bounded retries.
 *
 * @throws {@link MongoReadError} when the view yields one `_id` twice in a row (an `$unwind`):
 *   an index would then name two documents with one `_id`.
 */
export async function listIds(collection: Collection<Document>, spec: ViewSpec, view: MongoView, signal?: AbortSignal): Promise<IdList> {
  return view.retrying(undefined, signal, async () => {
    const { filter, pipeline, sort, idDirection } = spec;
    const order = { ...sort, _id: idDirection };
    const cursor =
      pipeline === undefined
        ? collection.find(filter, { projection: { _id: 1 }, sort: order, batchSize: LIST_BATCH_SIZE })
        : collection.aggregate([...pipeline, { $sort: order }, { $project: { _id: 1 } }], { batchSize: LIST_BATCH_SIZE });
    const ids = new IdList();
    let previous: string | undefined;
    try {
      for await (const row of cursor) {
        const id: unknown = row._id;
        const key = idKey(id);
        if (key === previous) {
          throw new MongoReadError(
            view.namespace,
            id,
            view.query,
            1,
            'the view yields this _id twice; an index must name one document ($set a unique _id after an $unwind)',
          );
        }
        previous = key;
        ids.push(id);
      }
    } finally {
      await cursor.close();
    }
    return ids;
  });
}
