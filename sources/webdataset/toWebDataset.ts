/**
 * The WebDataset sink: samples written into tar shards, as WebDataset's `ShardWriter` does.
 *
 * @module
 */
import { join } from 'node:path';
import type { OperatorFunction, Subscription } from 'rxjs';
import tar, { type Pack } from 'tar-stream';
import { InvalidArgumentError } from '../../src/errors.js';
import { describe, excerpt } from '../../src/excerpt.js';
import { operate } from '../../src/operate.js';
import { checkObjectStore, type ObjectStore } from '../core/store.js';
import { WriteLoop } from '../core/writeLoop.js';
import { encodeSample, END_OF_ARCHIVE, type EncodedSample } from './sampleEncoder.js';
import { bufferedShardSink, fileShardSink, uploadShardSink, type ShardSink } from './shardSink.js';

/**
 * One sample to write: its `__key__` and its fields by extension. Each field becomes the member
 * `<__key__>.<field>`, fields in code-unit order of their names. Values are encoded by kind:
 * `Uint8Array` as is, a string as UTF-8, a finite number or a bigint as decimal text (`.cls`),
 * and a plain object or array as JSON when the field ends in `json`. Fields whose name starts
 * with `_` (`__url__` of a sample read by `fromWebDataset`) are metadata and not written, and
 * `undefined` fields are left out, as WebDataset's writer does.
 * @public
 */
export interface WebDatasetSampleInput {
  /** The members' shared name: no `.`, `\` or control character; `/` only between non-empty parts. */
  readonly __key__: string;
  /** A field's value, by extension (`jpg`, `cls`, `seg.png`, `json`). */
  readonly [field: string]: unknown;
}

/**
 * Where {@link toWebDataset} writes: a path pattern (`'out/train-%06d.tar'`), a directory and a
 * file name pattern, or an object store and a key pattern. A pattern holds one `%d` or `%0<n>d`
 * (Python's `%` formatting, as WebDataset's `ShardWriter` takes), replaced by the shard number;
 * `%%` is a literal `%`.
 * @public
 */
export type WebDatasetTarget =
  string | { readonly dir: string; readonly pattern: string } | { readonly store: ObjectStore; readonly pattern: string };

/**
 * What {@link toWebDataset} emits for each shard, once it is complete and in place.
 * @public
 */
export type WebDatasetShardWritten = {
  /** The shard's number, from `startShard`. */
  readonly shard: number;
  /** Samples in it. */
  readonly samples: number;
  /** Its size in bytes. */
  readonly bytes: number;
} & (
  | {
      /** The shard file (directory targets). */
      readonly path: string;
      readonly key?: undefined;
    }
  | {
      /** The shard's key (object store targets). */
      readonly key: string;
      readonly path?: undefined;
    }
);

/**
 * Options of {@link toWebDataset}.
 * @public
 */
export interface ToWebDatasetOptions {
  /** Most samples per shard (default 100000, as WebDataset's `ShardWriter`). */
  readonly maxCount?: number;
  /**
   * Most bytes per shard, tar headers and end-of-archive included (default 3e9, as
   * `ShardWriter`): a shard is closed before a sample that would take it past this size, so
   * only a shard holding a single sample larger than `maxSize` exceeds it.
   */
  readonly maxSize?: number;
  /** Number of the first shard (default 0). */
  readonly startShard?: number;
  /**
   * Samples held for writing before the sources upstream are paused (default 64): this operator
   * registers as a stage of that capacity in the Flow gauge. Samples are referenced, not copied,
   * until written: do not modify one after emitting it.
   */
  readonly highWaterMark?: number;
  /**
   * Modification time of every member (default the Unix epoch, `new Date(0)`): fixed, so the
   * same samples always give byte-identical shards (checksums and caches stay valid), where
   * Python's writer stamps the current time.
   */
  readonly mtime?: Date;
  /**
   * Part size of a store's streamed upload (see `UploadOptions.partSize`; default 8 MiB).
   * Ignored for directories and for stores without `upload`.
   */
  readonly partSize?: number;
}

/** The shard being written. */
interface OpenShard {
  readonly number: number;
  readonly name: string;
  readonly pack: Pack;
  readonly sink: ShardSink;
  /** Moves the pack's bytes into the sink; rejects with the sink's error. */
  readonly pump: Promise<void>;
  samples: number;
  /** Tar bytes of the samples packed so far, end-of-archive not included. */
  bytes: number;
  /** Bytes the sink took. */
  written: number;
}

/** Bytes of packed tar gathered for one write (or handed to an upload at once). */
const WRITE_BATCH = 256 * 1024;
const noop = (): void => undefined;

/** A shard name from the pattern's parts, or the pattern's own error. */
function parsePattern(pattern: unknown, argument: string): (shard: number) => string {
  if (typeof pattern !== 'string' || pattern === '')
    throw new InvalidArgumentError(argument, `must be a non-empty string, got ${describe(pattern)}`);
  const parts = pattern.split(/(%%|%0?\d*d|%)/);
  const conversions = parts.filter((part) => part.startsWith('%') && part !== '%%');
  const conversion = conversions[0];
  if (conversions.length !== 1 || conversion === undefined || !/^%(?:0[1-9]\d?)?d$/.test(conversion)) {
    throw new InvalidArgumentError(
      argument,
      `${JSON.stringify(excerpt(pattern))} must hold exactly one shard number, as %d or %0<width>d (width 1 to 99; %% for a literal %)`,
    );
  }
  const width = conversion === '%d' ? 0 : Number(conversion.slice(2, -1));
  return (shard) => parts.map((part) => (part === '%%' ? '%' : part === conversion ? String(shard).padStart(width, '0') : part)).join('');
}

function positiveInteger(name: string, value: number | undefined, fallback: number, min = 1): number {
  if (value === undefined) return fallback;
  if (!Number.isSafeInteger(value) || value < min) {
    throw new InvalidArgumentError(`toWebDataset.${name}`, `must be an integer >= ${min}, got ${describe(value)}`);
  }
  return value;
}

/**
 * Writes samples into WebDataset tar shards, as WebDataset's `ShardWriter` does, and emits one
 * {@link WebDatasetShardWritten} per shard once it is complete and in place.
 *
 * Each sample becomes the members `<__key__>.<field>` of a plain tar (ustar, pax for long or
 * non-ASCII names; written by tar-stream), fields in order of their names; see
 * {@link WebDatasetSampleInput} for how values are encoded and which keys and fields are valid:
 * anything that would not read back as written fails with a `SampleWriteError` naming the
 * sample, its key and field. A shard holds at most `maxCount` samples and `maxSize` bytes.
 *
 * Atomic per shard: a shard file is written as `.<name>.<random>.tmp` in its directory and
 * renamed when complete; an object store shard is streamed with the store's `upload` (S3
 * multipart, visible only once complete) or, for stores without one, buffered and written with
 * one `put`. When the source fails or sends a sample that cannot be written, the samples before
 * it are still written, so the shards they complete stay (and are emitted) whatever the timing;
 * then the partial shard is removed (its temporary file deleted, its upload aborted) and the
 * stream fails with the error. A disk or store error, or an unsubscribe, stops at once, removing
 * the shard being written the same way. A shard is complete once it holds `maxCount` samples, or
 * the next sample would take it past `maxSize`, or the source completes. An empty source writes
 * no shard.
 *
 * Memory: `highWaterMark` samples waiting, the sample being written, up to 256 KiB of packed tar
 * gathered for one write (or one member, when larger), and per target one part
 * (`partSize`) for a streamed upload, or the whole shard (up to `maxSize`) for a store without
 * `upload`. File system failures end in a `ShardWriteError` (`RXFEED_ERR_SHARD_WRITE`), store
 * failures in the store's `ObjectStoreError`.
 *
 * @example
 * ```ts
 * import { lastValueFrom, map, toArray } from 'rxjs';
 * import { fromItems } from 'rxfeed';
 * import { toWebDataset } from 'rxfeed/webdataset';
 *
 * declare const images: { id: string; jpeg: Uint8Array; label: number }[];
 * const shards = await lastValueFrom(
 *   fromItems(images).pipe(
 *     map((image) => ({ __key__: image.id, jpg: image.jpeg, cls: image.label })),
 *     toWebDataset('out/train-%06d.tar', { maxCount: 10_000 }),
 *     toArray(),
 *   ),
 * );
 * console.log(shards.map((shard) => `${shard.path}: ${shard.samples} samples, ${shard.bytes} bytes`));
 * ```
 *
 * @param target - A path pattern, `{ dir, pattern }` or `{ store, pattern }`; see {@link WebDatasetTarget}.
 * @param options - Shard limits, first shard number, buffering; see {@link ToWebDatasetOptions}.
 * @returns An operator emitting one summary per shard written, then completing.
 * @public
 */
export function toWebDataset(
  target: WebDatasetTarget,
  options: ToWebDatasetOptions = {},
): OperatorFunction<WebDatasetSampleInput, WebDatasetShardWritten> {
  if (typeof options !== 'object' || options === null) throw new InvalidArgumentError('toWebDataset.options', 'must be an object');
  const maxCount = positiveInteger('maxCount', options.maxCount, 100_000);
  const maxSize = positiveInteger('maxSize', options.maxSize, 3e9);
  const startShard = positiveInteger('startShard', options.startShard, 0, 0);
  const capacity = positiveInteger('highWaterMark', options.highWaterMark, 64);
  const partSize = options.partSize === undefined ? undefined : positiveInteger('partSize', options.partSize, 0);
  const mtime = options.mtime ?? new Date(0);
  if (!(mtime instanceof Date) || !(mtime.getTime() >= 0)) {
    throw new InvalidArgumentError('toWebDataset.mtime', `must be a valid Date not before 1970, got ${describe(mtime)}`);
  }

  // Files, unless the target is a store: their summaries name the path.
  let nameOf: (shard: number) => string;
  let openSink: (name: string) => ShardSink = fileShardSink;
  let summary = (shard: OpenShard): WebDatasetShardWritten => ({
    shard: shard.number,
    samples: shard.samples,
    bytes: shard.written,
    path: shard.name,
  });
  if (typeof target === 'string') {
    nameOf = parsePattern(target, 'toWebDataset.target');
  } else if (typeof target === 'object' && target !== null && 'store' in target) {
    const { store } = target;
    checkObjectStore(store, 'toWebDataset.target.store', ['put']);
    nameOf = parsePattern(target.pattern, 'toWebDataset.target.pattern');
    const { upload } = store;
    openSink =
      typeof upload === 'function'
        ? (key) => uploadShardSink((...args) => upload.apply(store, args), key, partSize)
        : (key) => bufferedShardSink(store, key);
    summary = (shard) => ({ shard: shard.number, samples: shard.samples, bytes: shard.written, key: shard.name });
  } else if (typeof target === 'object' && target !== null && typeof (target as { dir?: unknown }).dir === 'string') {
    const { dir } = target as { dir: string; pattern: string };
    const pattern = parsePattern((target as { pattern?: unknown }).pattern, 'toWebDataset.target.pattern');
    nameOf = (shard) => join(dir, pattern(shard));
  } else {
    throw new InvalidArgumentError(
      'toWebDataset.target',
      `must be a path pattern, { dir, pattern } or { store, pattern }, got ${describe(target)}`,
    );
  }

  return (source) =>
    operate<WebDatasetSampleInput, WebDatasetShardWritten>(source, (op) => {
      const { context } = op;
      const queue: EncodedSample[] = [];
      let received = 0;
      let previousKey: string | undefined;
      let nextShard = startShard;
      let current: OpenShard | undefined;
      let sourceDone = false;
      let ending: { error: unknown } | undefined;
      let finished = false; // completed, failed or unsubscribed
      const stage = op.register({ name: 'toWebDataset', capacity, occupancy: () => queue.length });

      const openShard = (): OpenShard => {
        const number = nextShard++;
        const name = nameOf(number);
        const pack = tar.pack();
        const sink = openSink(name);
        const shard: OpenShard = { number, name, pack, sink, pump: Promise.resolve(), samples: 0, bytes: 0, written: 0 };
        const pump = (async () => {
          // Tar headers and paddings are 512-byte chunks: batched into one write of up to
          // WRITE_BATCH bytes (or one larger member) instead of a system call each.
          let batch: Buffer[] = [];
          let batched = 0;
          const flush = async (): Promise<void> => {
            const chunks = batch;
            batch = [];
            await sink.write(chunks);
            shard.written += batched;
            batched = 0;
          };
          for await (const chunk of pack as AsyncIterable<Buffer>) {
            batch.push(chunk);
            batched += chunk.byteLength;
            if (batched >= WRITE_BATCH) await flush();
          }
          if (batched > 0) await flush();
        })().catch((error: unknown) => {
          // The packer's pending entries fail too, so the sample being added stops waiting.
          pack.destroy(error as Error);
          throw error;
        });
        pump.catch(noop);
        return Object.assign(shard, { pump });
      };

      /** Pack one sample's members; resolves once the pack took them (backpressure from the sink). */
      const addSample = async (shard: OpenShard, sample: EncodedSample): Promise<void> => {
        try {
          await Promise.all(
            sample.members.map(
              ({ name, data }) =>
                new Promise<void>((resolve, reject) =>
                  shard.pack.entry({ name, size: data.byteLength, mtime, mode: 0o644 }, data, (error) =>
                    error ? reject(error) : resolve(),
                  ),
                ),
            ),
          );
        } catch (error) {
          // The pack broke because the sink did: report the sink's error, which names the shard.
          throw await shard.pump.then(
            () => error,
            (sinkError: unknown) => sinkError,
          );
        }
      };

      const closeShard = async (shard: OpenShard): Promise<void> => {
        shard.pack.finalize();
        await shard.pump;
        if (finished) return; // unsubscribed meanwhile: discarded, not committed
        await shard.sink.commit();
        current = undefined;
        if (!finished) op.next(summary(shard));
      };

      /** Remove the shard being written, if any: its temporary file or upload. */
      const discard = async (): Promise<void> => {
        const shard = current;
        current = undefined;
        if (shard === undefined) return;
        shard.pack.destroy();
        // Together: the sink's discard stops an upload the pump may be waiting on.
        await Promise.all([shard.pump.catch(noop), shard.sink.discard()]);
      };

      const fail = (error: unknown): void => {
        if (finished) return;
        finished = true;
        stage.unregister();
        upstream?.unsubscribe();
        current?.pack.destroy();
        // Reported once the partial shard is gone.
        const release = writes
          .idle()
          .then(discard)
          .then(() => op.fail(error));
        context.flow.trackRelease(release);
      };

      const drain = async (): Promise<void> => {
        while (queue.length > 0 && !finished) {
          const sample = queue[0]!;
          if (current !== undefined && current.bytes + sample.bytes + END_OF_ARCHIVE > maxSize) {
            await closeShard(current);
            if (finished) return;
          }
          current ??= openShard();
          await addSample(current, sample);
          current.samples++;
          current.bytes += sample.bytes;
          queue.shift();
          stage.left(1);
          // Closed as soon as it is full, so a failure after it cannot take it away.
          if (current.samples >= maxCount) {
            await closeShard(current);
            if (finished) return;
          }
        }
        if (sourceDone && queue.length === 0 && !finished) {
          if (ending !== undefined) {
            // Every sample before the failure is written: the shards they filled stay.
            fail(ending.error);
            return;
          }
          if (current !== undefined) await closeShard(current);
          if (finished) return;
          finished = true;
          stage.unregister();
          op.complete();
        }
      };

      const writes = new WriteLoop(drain, () => !finished && (queue.length > 0 || sourceDone), fail);

      /**
       * The source failed, or sent a sample that cannot be written: the samples before it are
       * still written (whatever the timing, the same shards result), then the partial shard is
       * removed and the stream fails with this error.
       */
      const endWith = (error: unknown): void => {
        if (finished || ending !== undefined) return;
        ending = { error };
        sourceDone = true;
        upstream?.unsubscribe();
        writes.kick();
      };

      // Assigned after the subscribe call returns: a synchronous failure during it finds undefined.
      let upstream: Subscription | undefined = undefined;
      upstream = op.subscribe(source, {
        next: (sample: WebDatasetSampleInput) => {
          if (finished || ending !== undefined) return;
          let encoded: EncodedSample;
          try {
            encoded = encodeSample(sample, received++, previousKey);
          } catch (error) {
            endWith(error);
            return;
          }
          previousKey = encoded.key;
          queue.push(encoded);
          stage.entered();
          writes.kick();
        },
        error: (error: unknown) => endWith(error),
        complete: () => {
          sourceDone = true;
          writes.kick();
        },
      });
      if (finished || ending !== undefined) upstream.unsubscribe();

      op.finalize(() => {
        if (finished) return;
        // Unsubscribed mid-shard: the shard being written is removed, never committed.
        finished = true;
        current?.pack.destroy();
        context.flow.trackRelease(writes.idle().then(discard));
      });
    });
}
