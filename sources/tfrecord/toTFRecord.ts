/**
 * The TFRecord sink: writes records (or Examples) as framed TFRecord files.
 *
 * @module
 */
import type { OperatorFunction, Subscription } from 'rxjs';
import { InvalidArgumentError } from '../../src/errors.js';
import { describe } from '../../src/excerpt.js';
import { operate } from '../../src/operate.js';
import { atomicFile } from '../core/atomicFile.js';
import { WriteLoop } from '../core/writeLoop.js';
import { maskedCrc32c } from './crc32c.js';
import { encodeExample, type ExampleInput } from './exampleEncoder.js';

/**
 * What {@link toTFRecord} writes: serialized records as they are, or Examples to encode.
 * @public
 */
export type TFRecordInput = Uint8Array | ExampleInput;

/**
 * The one value {@link toTFRecord} emits, once the file is complete and in place.
 * @public
 */
export interface TFRecordWritten {
  /** The final path. */
  readonly path: string;
  /** Records written. */
  readonly records: number;
  /** Bytes written, frames included. */
  readonly bytes: number;
}

/**
 * Options of {@link toTFRecord}.
 * @public
 */
export interface ToTFRecordOptions {
  /**
   * Records buffered for writing before the sources upstream are paused (default 64): this
   * operator registers as a stage of that capacity in the Flow gauge. Records are referenced, not
   * copied, until written: do not modify one after emitting it.
   */
  readonly highWaterMark?: number;
}

/** `writev` takes at most IOV_MAX (1024 on Linux) buffers per call; each record is 3. */
const RECORDS_PER_WRITE = 256;

/**
 * The TFRecord frame of one record: length (u64 LE), masked CRC32C of the length, the data, and
 * the masked CRC32C of the data, in one fresh array.
 *
 * @example
 * ```ts
 * import { encodeExample, tfrecordFrame } from 'rxfeed/tfrecord';
 * const frame = tfrecordFrame(encodeExample({ label: BigInt64Array.of(1n) }));
 * ```
 *
 * @param data - The record.
 * @returns The framed record.
 * @public
 */
export function tfrecordFrame(data: Uint8Array): Uint8Array {
  if (!(data instanceof Uint8Array)) {
    throw new InvalidArgumentError('tfrecordFrame.data', `must be a Uint8Array, got ${describe(data)}`);
  }
  const [header, footer] = frameParts(data);
  const frame = new Uint8Array(header.length + data.length + footer.length);
  frame.set(header, 0);
  frame.set(data, header.length);
  frame.set(footer, header.length + data.length);
  return frame;
}

function frameParts(data: Uint8Array): [Uint8Array, Uint8Array] {
  const header = new Uint8Array(12);
  const view = new DataView(header.buffer);
  view.setUint32(0, data.length % 4294967296, true);
  view.setUint32(4, Math.floor(data.length / 4294967296), true);
  view.setUint32(8, maskedCrc32c(header.subarray(0, 8)), true);
  const footer = new Uint8Array(4);
  new DataView(footer.buffer).setUint32(0, maskedCrc32c(data), true);
  return [header, footer];
}

/**
 * Writes every record of the source to a TFRecord file, then emits one {@link TFRecordWritten}.
 *
 * The records go to a temporary file beside `path` (`.<name>.<uuid>.tmp`), which is renamed to
 * `path` only when the source completes and every byte is written: on an error or an
 * unsubscribe the temporary file is removed, so `path` never holds half a file. `Uint8Array`
 * items are written as they are; any other item is encoded as a `tf.train.Example` (see
 * `encodeExample`).
 *
 * @example
 * ```ts
 * import { toTFRecord } from 'rxfeed/tfrecord';
 * import { fromItems } from 'rxfeed';
 * import { lastValueFrom, map } from 'rxjs';
 * declare const samples: { jpeg: Uint8Array; label: number }[];
 * const written = await lastValueFrom(
 *   fromItems(samples).pipe(
 *     map((s) => ({ image: [s.jpeg], label: BigInt64Array.of(BigInt(s.label)) })),
 *     toTFRecord('out/train-00000-of-00001.tfrecord'),
 *   ),
 * );
 * ```
 *
 * @param path - Where the finished file goes.
 * @param options - See {@link ToTFRecordOptions}.
 * @returns An operator emitting the summary once, then completing.
 * @public
 */
export function toTFRecord(path: string, options: ToTFRecordOptions = {}): OperatorFunction<TFRecordInput, TFRecordWritten> {
  if (typeof path !== 'string' || path === '') throw new InvalidArgumentError('toTFRecord.path', 'must be a non-empty string');
  if (typeof options !== 'object' || options === null) throw new InvalidArgumentError('toTFRecord.options', 'must be an object');
  const capacity = options.highWaterMark ?? 64;
  if (!Number.isSafeInteger(capacity) || capacity < 1) {
    throw new InvalidArgumentError('toTFRecord.highWaterMark', `must be a positive integer, got ${describe(capacity)}`);
  }
  return (source) =>
    operate<TFRecordInput, TFRecordWritten>(source, (op) => {
      const { context } = op;
      const queue: Uint8Array[] = [];
      let queuedRecords = 0;
      let records = 0;
      let bytes = 0;
      let sourceDone = false;
      let finished = false; // completed, failed or unsubscribed
      let failure: { error: unknown } | undefined;
      const stage = op.register({ name: 'toTFRecord', capacity, occupancy: () => queuedRecords });
      // Written beside `path` and renamed into place: `path` never holds part of the file.
      const file = atomicFile(path);
      const discard = (): Promise<void> => file.discard();

      const fail = (error: unknown): void => {
        if (finished) return;
        finished = true;
        failure = { error };
        stage.unregister();
        upstream?.unsubscribe();
        // The error is reported once the temporary file is gone: nothing half-written remains.
        const release = discard().then(() => op.fail(error));
        context.flow.trackRelease(release);
      };

      const drain = async (): Promise<void> => {
        while (queue.length > 0 && failure === undefined && !finished) {
          const batch = queue.splice(0, RECORDS_PER_WRITE * 3);
          await file.write(batch);
          const n = batch.length / 3;
          queuedRecords -= n;
          stage.left(n);
        }
        if (sourceDone && queue.length === 0 && !finished) {
          finished = true;
          stage.unregister();
          await file.commit();
          op.next({ path, records, bytes });
          op.complete();
        }
      };

      const writes = new WriteLoop(drain, () => !finished && (queue.length > 0 || sourceDone), fail);

      // Assigned after the subscribe call returns: a synchronous failure during it finds undefined.
      let upstream: Subscription | undefined = undefined;
      upstream = op.subscribe(source, {
        next: (item: TFRecordInput) => {
          if (finished) return;
          let data: Uint8Array;
          try {
            data = item instanceof Uint8Array ? item : encodeExample(item);
          } catch (error) {
            fail(error);
            return;
          }
          const [header, footer] = frameParts(data);
          queue.push(header, data, footer);
          queuedRecords++;
          records++;
          bytes += header.length + data.length + footer.length;
          stage.entered();
          writes.kick();
        },
        error: (error: unknown) => fail(error),
        complete: () => {
          sourceDone = true;
          writes.kick();
        },
      });
      if (finished) upstream.unsubscribe();

      op.finalize(() => {
        if (finished) return;
        // Unsubscribed before completion: no file at `path`, and no temporary file left behind.
        finished = true;
        context.flow.trackRelease(writes.idle().then(discard));
      });
    });
}
