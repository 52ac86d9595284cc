/**
 * The TFRecord frame reader: one {@link SegmentCursor} reads the frames of one file (or of a
 * record range of it) for one subscription, checking CRCs, seeking through a per-file record
 * index, and reporting or skipping corrupt records. `fromTFRecord` strings cursors together.
 *
 * @module
 */
import type { ByteSource } from '../core/byteSource.js';
import { ByteWindow } from '../core/byteWindow.js';
import { reusingStream, type ReusingStream } from '../core/fileByteSource.js';
import { InflateError, inflateChunks } from '../core/inflate.js';
import type { Part } from '../core/selection.js';
import { LoaderStateError } from '../../src/loaderState.js';
import { maskedCrc32cOf } from './crc32c.js';
import { CorruptRecordError, type CorruptionReason, type RecordLocation } from './errors.js';

/**
 * How a file is compressed. `auto` (default) picks `gzip` for names ending in `.gz`, `zlib` for
 * `.zz` / `.zlib`, none otherwise. A compressed file cannot be seeked: element ranges that start
 * inside one read it from its beginning and skip the records before the range.
 * @public
 */
export type TFRecordCompression = 'auto' | 'none' | 'gzip' | 'zlib';

/**
 * One record skipped under `onCorrupt: 'skip'`.
 * @public
 */
export interface SkippedRecord extends RecordLocation {
  readonly reason: CorruptionReason;
  /** What exactly was wrong, e.g. `stored 0x1234abcd, computed 0x...`. */
  readonly detail: string;
}

/**
 * The record of every corrupt record skipped under `onCorrupt: 'skip'`. Pass one in the options
 * and read it during or after the iteration; it accumulates over every subscription (epoch).
 *
 * @example
 * ```ts
 * import { fromTFRecord, SkipLedger } from 'rxfeed/tfrecord';
 * declare const files: string[];
 * const ledger = new SkipLedger();
 * const records = fromTFRecord(files, { onCorrupt: 'skip', ledger });
 * // ... after reading:
 * for (const skip of ledger.skipped) console.warn(`${skip.file}#${skip.record}: ${skip.reason}`);
 * ```
 * @public
 */
export class SkipLedger {
  /** Every skip, in reading order. */
  readonly skipped: SkippedRecord[] = [];
}

/** One input read from record `first` up to (excluding) `end`, or to its end when unknown. */
export type Segment = Part<ByteSource>;

/** Per-file record offsets (8 bytes per record), built while reading and reused for seeks. */
export class RecordIndex {
  #offsets = new Float64Array(64);
  count = 0;

  /** Records offset of `record`, if it is the next one not yet indexed. */
  note(record: number, offset: number): void {
    if (record !== this.count) return;
    if (this.count === this.#offsets.length) {
      const grown = new Float64Array(this.#offsets.length * 2);
      grown.set(this.#offsets);
      this.#offsets = grown;
    }
    this.#offsets[this.count++] = offset;
  }

  /** The indexed record closest to `record` from below, and its offset. */
  seek(record: number): { record: number; offset: number } {
    if (this.count === 0) return { record: 0, offset: 0 };
    const known = Math.min(record, this.count - 1);
    return { record: known, offset: this.#offsets[known]! };
  }
}

/**
 * Where a resumed subscription starts reading a segment: the frame of record `record` at byte
 * `offset` (of the decompressed stream, for a compressed file), as a bookmark saved it.
 */
export interface ResumePoint {
  readonly offset: number;
  readonly record: number;
}

/** Everything a subscription needs besides the segments. */
export interface Settings<T> {
  readonly compression: TFRecordCompression;
  readonly verify: boolean;
  readonly skip: boolean;
  readonly maxSkipRatio: number;
  readonly ledger: SkipLedger | undefined;
  readonly onSkip: ((skip: SkippedRecord) => void) | undefined;
  readonly recordsPerPull: number;
  readonly decode: (record: Uint8Array, cursor: SegmentCursor) => T | PromiseLike<T>;
  /** Per-file record indexes, shared by every source derived from one `fromTFRecord` call. */
  readonly indexes: Map<string, RecordIndex> | undefined;
}

/** Counts of one subscription, for `maxSkipRatio`. */
export interface Counters {
  seen: number;
  skipped: number;
  lastSkip: string;
}

export const RECORD = 0;
export const NEED = 1;
export const DONE = 2;
export type Status = typeof RECORD | typeof NEED | typeof DONE;

const HEADER = 12;
const FOOTER = 4;

/** The little-endian u32 at `at`. @internal */
export function u32(buf: Uint8Array, at: number): number {
  return (buf[at]! | (buf[at + 1]! << 8) | (buf[at + 2]! << 16) | (buf[at + 3]! << 24)) >>> 0;
}

/** A CRC as `0x` and 8 hex digits. @internal */
export function hex(value: number): string {
  return `0x${value.toString(16).padStart(8, '0')}`;
}

/**
 * The compression `option` means for the file `name`.
 * @internal
 */
export function compressionOf(name: string, option: TFRecordCompression): 'none' | 'gzip' | 'zlib' {
  if (option !== 'auto') return option;
  if (/\.gz(ip)?$/i.test(name)) return 'gzip';
  if (/\.(zz|zlib)$/i.test(name)) return 'zlib';
  return 'none';
}

/** Reads the frames of one segment for one subscription. */
export class SegmentCursor {
  readonly file: string;
  readonly #segment: Segment;
  readonly #settings: Settings<unknown>;
  readonly #counters: Counters;
  readonly #index: RecordIndex | undefined;
  readonly #window: ByteWindow;
  /** Number of the next frame in the file. */
  #record: number;
  /** Bytes the next frame needs in the window. */
  #need = HEADER;
  #resyncing = false;
  /** The compressed stream broke: nothing after the current position can be read. */
  #inflateFailure: InflateError | undefined;
  /** The frame being skipped without reading (records before `first`), for a truncation report. */
  #skippedFrame: RecordLocation | undefined;
  /** The first record read: the segment's, or a resume point's. */
  readonly #first: number;
  /**
   * A resume point whose frame has not been reached yet: the bytes there must be that record's
   * intact frame, or the bookmark (untrusted input) does not fit this file.
   */
  #resume: ResumePoint | undefined;
  /** Location of the record last returned by {@link SegmentCursor.next}. */
  frameOffset = 0;
  frameRecord = 0;
  /** Bounds of that record's data in {@link SegmentCursor.buffer}. */
  dataStart = 0;
  dataEnd = 0;

  /**
   * @param resume - Start at this frame (a bookmark, checked by the caller to lie in the segment)
   *   instead of at the segment's first record: a plain file is read from its offset; a compressed
   *   one, which cannot seek, from its start, skipping the frames before it unread.
   */
  constructor(segment: Segment, settings: Settings<unknown>, counters: Counters, signal: AbortSignal, resume?: ResumePoint) {
    this.#segment = segment;
    this.#settings = settings;
    this.#counters = counters;
    this.file = segment.input.name;
    this.#first = resume?.record ?? segment.first;
    this.#resume = resume;
    const compression = compressionOf(this.file, settings.compression);
    if (compression !== 'none') {
      this.#index = undefined;
      this.#record = 0;
      this.#window = new ByteWindow(inflateChunks(segment.input.stream(0, signal), compression, { signal }), 0);
      return;
    }
    let index = settings.indexes?.get(this.file);
    if (settings.indexes !== undefined && index === undefined) {
      index = new RecordIndex();
      settings.indexes.set(this.file, index);
    }
    this.#index = index;
    // Seek to the resume point, or to the indexed frame closest to `first`; the rest of the way is
    // skipped frame by frame.
    const start = resume ?? index?.seek(segment.first) ?? { record: 0, offset: 0 };
    this.#record = start.record;
    // A local file is read into two buffers in turn: the window copies a frame's head out before
    // it asks for the next chunk, and records out of it before they leave the cursor.
    const reusing = (segment.input as Partial<ReusingStream>)[reusingStream];
    const chunks = reusing === undefined ? segment.input.stream(start.offset, signal) : reusing.call(segment.input, start.offset, signal);
    this.#window = new ByteWindow(chunks, start.offset);
  }

  get buffer(): Uint8Array {
    return this.#window.buffer;
  }

  /** Where the record last returned sits. */
  location(): RecordLocation {
    return { file: this.file, offset: this.frameOffset, record: this.frameRecord };
  }

  /**
   * Advance to the next record of the segment, synchronously, from the bytes already buffered.
   * `RECORD`: one is ready ({@link SegmentCursor.dataStart} ...); `NEED`: call
   * {@link SegmentCursor.fetch} first; `DONE`: the segment is over.
   */
  next(): Status {
    const window = this.#window;
    const end = this.#segment.end;
    for (;;) {
      if (end !== undefined && this.#record >= end) return DONE;
      if (this.#inflateFailure !== undefined) {
        const failure = this.#inflateFailure;
        this.#inflateFailure = undefined;
        this.#corrupt(this.#here(), failure.truncated ? 'truncated' : 'data-crc', `the compressed stream is damaged: ${failure.message}`);
        return DONE;
      }
      const available = window.available();
      if (this.#resyncing) {
        if (!this.#resync()) {
          if (!window.eof) {
            this.#need = HEADER;
            return NEED;
          }
          window.consume(window.available());
          this.#resyncing = false;
        }
        continue;
      }
      if (available < HEADER) {
        if (!window.eof) {
          this.#need = HEADER;
          return NEED;
        }
        if (this.#resume !== undefined) throw this.#notAtRecord('the file ends before it');
        if (window.endedInsideSkip) {
          const skipped = this.#skippedFrame!;
          this.#skippedFrame = undefined;
          this.#corrupt(skipped, 'truncated', 'the file ends inside this frame');
          return DONE;
        }
        if (available > 0) {
          const here = this.#here();
          window.consume(available);
          this.#corrupt(here, 'truncated', `${available} byte(s) left, a frame header needs ${HEADER}`);
          continue;
        }
        if (end !== undefined && this.#record < end) {
          const here = this.#here();
          this.#record = end;
          this.#corrupt(here, 'truncated', `the file ends after ${here.record} record(s); ${end} were declared`);
        }
        return DONE;
      }
      const buf = window.buffer;
      const at = window.position;
      if (this.#settings.verify) {
        const stored = u32(buf, at + 8);
        const computed = maskedCrc32cOf(buf, at, at + 8);
        if (stored !== computed) {
          if (this.#resume !== undefined && this.#record >= this.#resume.record) throw this.#notAtRecord('no frame header starts there');
          const here = this.#here();
          this.#corrupt(here, 'length-crc', `stored ${hex(stored)}, computed ${hex(computed)}`);
          // The length cannot be trusted: look for the next frame whose length checks.
          this.#record++;
          this.#resyncing = true;
          window.consume(1);
          continue;
        }
      }
      const length = u32(buf, at + 4) * 4294967296 + u32(buf, at);
      const frame = HEADER + length + FOOTER;
      this.#index?.note(this.#record, window.offset);
      if (this.#resume !== undefined && this.#record >= this.#resume.record && window.offset !== this.#resume.offset) {
        throw this.#notAtRecord(`record ${this.#record} starts at byte ${window.offset}`);
      }
      if (this.#record < this.#first) {
        this.#skippedFrame = this.#here();
        window.skip(frame);
        this.#record++;
        continue;
      }
      if (available < frame) {
        if (!window.eof) {
          this.#need = frame;
          return NEED;
        }
        if (this.#resume !== undefined) throw this.#notAtRecord(`the file ends inside the frame there`);
        const here = this.#here();
        window.consume(available);
        this.#corrupt(here, 'truncated', `the frame needs ${frame} bytes, ${available} are left`);
        continue;
      }
      const dataStart = at + HEADER;
      const dataEnd = dataStart + length;
      if (this.#settings.verify) {
        const stored = u32(buf, dataEnd);
        const computed = maskedCrc32cOf(buf, dataStart, dataEnd);
        if (stored !== computed) {
          if (this.#resume !== undefined) throw this.#notAtRecord('the data CRC of the frame there does not check');
          const here = this.#here();
          window.consume(frame);
          this.#record++;
          this.#corrupt(here, 'data-crc', `stored ${hex(stored)}, computed ${hex(computed)}`);
          continue;
        }
      }
      this.#resume = undefined;
      this.frameOffset = window.offset;
      this.frameRecord = this.#record;
      this.dataStart = dataStart;
      this.dataEnd = dataEnd;
      window.consume(frame);
      this.#record++;
      this.#counters.seen++;
      return RECORD;
    }
  }

  /** Wait for the bytes the last `NEED` asked for (or the end of the file). */
  async fetch(): Promise<void> {
    try {
      await this.#window.fill(this.#need);
    } catch (error) {
      if (!(error instanceof InflateError)) throw error;
      this.#inflateFailure = error;
    }
  }

  close(): Promise<void> {
    return this.#window.close();
  }

  /** A bookmark that does not fit the file: the record it names is not where it says. */
  #notAtRecord(why: string): LoaderStateError {
    const { record, offset } = this.#resume!;
    return new LoaderStateError(
      'RXFEED_ERR_STATE_INVALID',
      `fromTFRecord: the state resumes at record ${record}, byte ${offset} of ${this.file}, but ${why}; was it saved with other files?`,
      'fromTFRecord',
    );
  }

  #here(): RecordLocation {
    return { file: this.file, offset: this.#window.offset, record: this.#record };
  }

  /** Scans the window for a frame header whose length CRC checks; true when the window sits on one. */
  #resync(): boolean {
    const window = this.#window;
    const buf = window.buffer;
    const at = window.position;
    const last = at + window.available() - HEADER;
    for (let i = at; i <= last; i++) {
      if (maskedCrc32cOf(buf, i, i + 8) === u32(buf, i + 8)) {
        window.consume(i - at);
        this.#resyncing = false;
        return true;
      }
    }
    if (last >= at) window.consume(last - at + 1);
    return false;
  }

  #corrupt(location: RecordLocation, reason: CorruptionReason, detail: string): void {
    if (!this.#settings.skip) throw new CorruptRecordError(location, reason, detail);
    const skip: SkippedRecord = { ...location, reason, detail };
    this.#counters.seen++;
    this.#counters.skipped++;
    this.#counters.lastSkip = `${location.file} (record ${location.record} at byte ${location.offset})`;
    this.#settings.ledger?.skipped.push(skip);
    this.#settings.onSkip?.(skip);
  }
}
