/**
 * Reads the samples of one WebDataset shard from a ByteSource, on demand, with {@link TarParser}.
 *
 * @module
 */
import { setField } from '../../src/fields.js';
import { LoaderStateError } from '../../src/loaderState.js';
import type { ByteSource } from '../core/byteSource.js';
import { reusingStream, type ReusingStream } from '../core/fileByteSource.js';
import { InflateError, inflateChunks } from '../core/inflate.js';
import { CorruptShardError, ReservedFieldError, SampleFieldError, TruncatedShardError, UnsafeMemberError } from './errors.js';
import { isMetaMember, isUnsafeMemberName, splitMemberName } from './memberName.js';
import { TarParser, type TarHeader } from './tarReader.js';

/**
 * One WebDataset sample: the members of a shard that share a key, by extension.
 *
 * `__key__` is the key (`train/000123` for `train/000123.png`), `__url__` the shard it came from,
 * and every other property the bytes of one member, named by its extension (`png`, `cls`,
 * `seg.png`; lower-cased). Extensions are data: one named `__proto__` or `constructor` is an own
 * field of that name like any other (the sample is a plain object whose prototype never changes),
 * and a member whose extension is a reserved name (`x.__key__`) fails the shard with a
 * `ReservedFieldError`. Each field owns its own `ArrayBuffer`, exactly its size: safe to keep, to
 * transfer to a worker thread, or to hand to a decoder that detaches it.
 *
 * `E` names the extensions `fromWebDataset` was told to expect (its `extensions` option): those
 * fields are typed `Uint8Array`, since the missing-field policy guarantees them (present, or
 * zero-length under `'zero'`). Any other field is `Uint8Array | string` to the type checker.
 *
 * @typeParam E - The expected extensions, e.g. `'png' | 'cls'`; none by default.
 * @example
 * ```ts
 * import { type WebDatasetSample } from 'rxfeed/webdataset';
 * const toExample = (sample: WebDatasetSample<'png' | 'cls'>) => ({
 *   id: sample.__key__,
 *   image: sample.png,
 *   label: Number(new TextDecoder().decode(sample.cls)),
 * });
 * ```
 * @public
 */
export type WebDatasetSample<E extends string = never> = {
  /** The members' shared name without extension, directories included. */
  readonly __key__: string;
  /** The shard's name: its path, URL or object name. */
  readonly __url__: string;
  /** A member's bytes, by extension. */
  readonly [extension: string]: Uint8Array | string;
} & { readonly [K in Lowercase<E>]: Uint8Array };

/**
 * What to do with a sample that lacks one of the expected extensions.
 *
 * - `'error'`: fail with a {@link SampleFieldError} (`RXFEED_ERR_MISSING_FIELD`) naming the shard,
 *   key and extension.
 * - `'skip'`: drop the sample.
 * - `'zero'`: give the missing field as a zero-length `Uint8Array`, as AIStore's batch reads mark
 *   a missing object; a decoder downstream can test `bytes.length === 0`.
 *
 * @example
 * ```ts
 * import { fromWebDataset } from 'rxfeed/webdataset';
 * declare const urls: string[];
 * const labelled = fromWebDataset(urls, { extensions: ['jpg', 'cls'], missing: 'skip' });
 * ```
 * @public
 */
export type MissingFieldPolicy = 'error' | 'skip' | 'zero';

/** How one shard is read. */
export interface ShardReaderOptions {
  /** Extensions every sample must have; none checked when absent or empty. */
  readonly extensions?: readonly string[];
  /** See {@link MissingFieldPolicy}; used only with `extensions`. */
  readonly missing: MissingFieldPolicy;
  /** Largest member read, in bytes; see `TarParserOptions.maxMemberSize`. */
  readonly maxMemberSize?: number;
  /**
   * Set when the source holds a range of a plain tar shard (samples read through a sample
   * index) starting at this offset: errors name offsets in the shard, and the bytes are never
   * taken for gzip.
   */
  readonly offset?: number;
  /**
   * Start at a sample a loader state saved (see `fromWebDataset`'s bookmarks): `offset` is the
   * tar offset of its first member's first header block ({@link TarHeader.start}). A plain shard
   * is read from there; an `inflated` (gzip) one, which cannot seek, from its start, with the
   * members before `offset` skipped unread. The offset is untrusted: a member's headers must
   * start exactly there, else the read fails with a `LoaderStateError`.
   */
  readonly resumeAt?: { readonly offset: number; readonly inflated: boolean };
}

/** The sample's own metadata fields: a member whose extension is one of these is rejected. */
export const RESERVED_FIELDS: ReadonlySet<string> = new Set(['__key__', '__url__']);

/** gzip's magic number: a shard starting with it is inflated whatever its name says. */
const GZIP_MAGIC_0 = 0x1f;
const GZIP_MAGIC_1 = 0x8b;
/** Output chunk of the inflater: the bound on inflated bytes held ahead of the tar parser. */
const INFLATE_CHUNK = 64 * 1024;
const EMPTY = new Uint8Array(0);
const noop = (): void => undefined;

type MutableSample = { __key__: string; __url__: string; [extension: string]: Uint8Array | string };

/** A regular member's header, with its name split into the sample key and the field. */
interface Member {
  readonly header: TarHeader;
  readonly key: string;
  readonly extension: string;
}

/** Thrown into a read that was in flight when the reader closed; nobody waits for it then. */
class ReaderClosed extends Error {}

/**
 * Streams one shard through a {@link TarParser} and groups consecutive members by key.
 *
 * It works only while a {@link ShardReader.next} call runs: it parses the stream chunk it holds,
 * and reads the ByteSource's next chunk only when the parser has used that one up. When the
 * header of a member of the *next* sample is parsed, the current sample is complete: the reader
 * answers and leaves that member's data unread in the chunk, so nothing more is parsed until the
 * pipeline pulls again (and the ByteSource reads no further than its own bounded read-ahead).
 *
 * Memory bound: one stream chunk of the ByteSource (1 MiB for local files, read into two buffers
 * used in turn), held by reference until parsed, plus what the ByteSource reads ahead (one more chunk for a file, at most
 * `readAheadBytes` for HTTP and S3); the sample being assembled (each member in a buffer of its
 * size, at most `maxMemberSize`, which grows with the bytes that arrive when the member spans chunks, see
 * {@link TarParser}); a 512-byte block for a header split across chunks, and a
 * pending GNU long name or pax header (at most 1 MiB, see {@link TarParser}). For a gzip shard add
 * the one compressed chunk being inflated and the inflater's output (its stream high-water mark
 * plus one {@link INFLATE_CHUNK}; see `inflateChunks` in `sources/core/inflate.ts`).
 */
export class ShardReader {
  readonly #source: ByteSource;
  readonly #options: ShardReaderOptions;
  readonly #signal: AbortSignal | undefined;
  readonly #tar: TarParser;
  #input: AsyncIterator<Uint8Array> | undefined;
  #raw: AsyncIterator<Uint8Array> | undefined;
  /** The first chunk, asked for by {@link ShardReader.start} before the first pull. */
  #opening: Promise<IteratorResult<Uint8Array>> | undefined;
  /**
   * Stops the inflater of a gzip shard at once on close, even mid-read. Made only for gzip: an
   * abort builds a DOMException, which cost 10% of reading samples one range at a time.
   */
  #inflaterStop: AbortController | undefined;
  #compressedBytes = 0;
  #inputDone = false;
  #current: MutableSample | undefined;
  /** The first member of the next sample: header parsed, data not yet read. */
  #held: Member | undefined;
  #finished = false;
  #closed = false;
  #error: unknown;
  /** The resume offset not reached yet: members whose headers start before it are skipped. */
  #skipTo: number | undefined;
  /** {@link TarHeader.start} of the first member of the sample being assembled. */
  #currentStart = 0;
  /**
   * Where the sample last answered begins in the tar stream: {@link TarHeader.start} of its first
   * member (its members are contiguous, so reading from there gives the sample again).
   */
  sampleStart = 0;

  constructor(source: ByteSource, options: ShardReaderOptions, signal?: AbortSignal) {
    this.#source = source;
    this.#options = options;
    this.#signal = signal;
    this.#skipTo = options.resumeAt?.offset;
    const seeks = options.resumeAt?.inflated === false;
    this.#tar = new TarParser(source.name, {
      maxMemberSize: options.maxMemberSize,
      offset: seeks ? options.resumeAt!.offset : options.offset,
    });
  }

  /** Whether the shard is gzip-compressed (known once its first chunk was read). */
  get inflated(): boolean {
    return this.#inflaterStop !== undefined;
  }

  /** The shard's name. */
  get name(): string {
    return this.#source.name;
  }

  /**
   * The next sample, or `null` after the last one. One call at a time: the pipeline's pull.
   */
  next(): Promise<WebDatasetSample | null> {
    if (this.#error !== undefined) return Promise.reject(this.#error);
    if (this.#closed) return Promise.reject(new ReaderClosed('the shard reader is closed'));
    if (this.#finished) return Promise.resolve(null);
    return this.#read();
  }

  /**
   * Start the stream now and fetch its first chunk (and the source's read-ahead), so that the
   * first {@link ShardReader.next} does not wait for it: the shard after the one being read is
   * started so (a GET's first byte took 8-16 ms from Ceph RGW). A failure waits for that first
   * `next()`. Idempotent; `next()` calls it when nobody did.
   */
  start(): void {
    if (this.#input !== undefined || this.#opening !== undefined || this.#closed) return;
    this.#opening = this.#open();
    this.#opening.catch(noop);
  }

  /**
   * Release the inflater and the ByteSource's stream at once. The promise settles when the
   * stream's own cleanup (a file handle's close) has run.
   */
  close(): Promise<void> {
    if (this.#closed) return Promise.resolve();
    this.#closed = true;
    this.#held = undefined;
    this.#current = undefined;
    this.#inflaterStop?.abort();
    // The raw stream first: with gzip, #input is the inflater's iterator and #raw the file's.
    const releases = [this.#raw, this.#input].map((iterator) => iterator?.return?.().then(noop, noop));
    return Promise.all(releases).then(noop);
  }

  async #read(): Promise<WebDatasetSample | null> {
    // The parser answers from the chunk it holds without waiting, and a chunk holds many members:
    // so the loop asks it directly and awaits only when it needs the next chunk. (An async helper
    // per header and per member cost four promises per member, 10% of reading a local shard.)
    const tar = this.#tar;
    try {
      for (;;) {
        let member = this.#held;
        this.#held = undefined;
        if (member === undefined) {
          let header = tar.header();
          while (header === undefined) {
            await this.#feed();
            header = tar.header();
          }
          if (header === null) {
            if (this.#skipTo !== undefined) throw this.#notAtSample('the archive ends before it');
            return await this.#finish();
          }
          if (this.#skipTo !== undefined) {
            if (header.start > this.#skipTo) throw this.#notAtSample(`a member's headers start at byte ${header.start}`);
            if (header.start < this.#skipTo) {
              while (!tar.skip()) await this.#feed();
              continue;
            }
            this.#skipTo = undefined;
          }
          const name = header.name;
          // Checked for every member type: a shard holding such a name is hostile or broken,
          // whether or not this reader would have used the member.
          if (isUnsafeMemberName(name)) throw new UnsafeMemberError(this.#source.name, name);
          // Directories, links, devices: WebDataset reads regular files only. Links are never followed.
          const split = header.type === 'file' && !isMetaMember(name) ? splitMemberName(name) : undefined;
          if (split === undefined) {
            while (!tar.skip()) await this.#feed();
            continue;
          }
          if (RESERVED_FIELDS.has(split.extension)) {
            throw new ReservedFieldError(this.#source.name, header.offset, name, split.extension);
          }
          member = { header, key: split.key, extension: split.extension };
          const current = this.#current;
          if (current !== undefined && current.__key__ !== split.key) {
            // The first member of the next sample: hold it unread until the pipeline asks for more.
            this.#held = member;
            this.#current = undefined;
            const sample = this.#complete(current);
            if (sample !== undefined) return sample;
            continue;
          }
        }
        const { key, extension } = member;
        let sample = this.#current;
        if (sample === undefined) {
          sample = { __key__: key, __url__: this.#source.name };
          this.#current = sample;
          this.#currentStart = member.header.start;
        } else if (Object.hasOwn(sample, extension)) {
          throw new SampleFieldError('RXFEED_ERR_DUPLICATE_FIELD', this.#source.name, key, extension);
        }
        let bytes = tar.data();
        while (bytes === undefined) {
          await this.#feed();
          bytes = tar.data();
        }
        // Its own buffer: the chunk it came from is not pinned by the sample, and the field can be
        // transferred to a worker without detaching its neighbours.
        setField(sample, extension, bytes);
      }
    } catch (error) {
      // Before the resume point is reached, a broken header means the offset is not a member's.
      const misplaced = this.#skipTo !== undefined && (error instanceof CorruptShardError || error instanceof TruncatedShardError);
      throw this.#fail(misplaced ? this.#notAtSample(`reading there fails: ${error.message}`) : error);
    }
  }

  /** A resume offset that does not fit the shard (see {@link ShardReaderOptions.resumeAt}). */
  #notAtSample(why: string): LoaderStateError {
    return new LoaderStateError(
      'RXFEED_ERR_STATE_INVALID',
      `fromWebDataset: the state resumes at byte ${this.#skipTo} of ${this.#source.name}, but ${why}; was it saved with other shards?`,
      'fromWebDataset',
    );
  }

  /**
   * The archive has ended: read what follows its end blocks (so that a gzip stream is checked to
   * its end), then give the last sample, or `null` when there is none (or 'skip' dropped it).
   */
  async #finish(): Promise<WebDatasetSample | null> {
    while (!this.#inputDone) await this.#feed();
    this.#finished = true;
    const current = this.#current;
    this.#current = undefined;
    return (current === undefined ? undefined : this.#complete(current)) ?? null;
  }

  /** Give the parser the stream's next chunk, or tell it the stream has ended. */
  async #feed(): Promise<void> {
    let result: IteratorResult<Uint8Array>;
    try {
      this.start();
      const opening = this.#opening;
      this.#opening = undefined;
      result = await (opening ?? this.#input!.next());
    } catch (error) {
      throw this.#inputError(error);
    }
    if (this.#closed) throw new ReaderClosed('the shard reader is closed');
    if (result.done === true) {
      this.#inputDone = true;
      this.#tar.end();
    } else {
      this.#tar.push(result.value);
    }
  }

  /** Start the stream and sniff the first chunk for gzip's magic number. */
  async #open(): Promise<IteratorResult<Uint8Array>> {
    // A local file is read into two buffers in turn: the parser copies out every byte it keeps
    // before it asks for the next chunk, and so does the inflater (it asks only once zlib has
    // taken the chunk before).
    const reusing = (this.#source as Partial<ReusingStream>)[reusingStream];
    const resume = this.#options.resumeAt;
    const start = resume?.inflated === false ? resume.offset : 0;
    const chunks = reusing === undefined ? this.#source.stream(start, this.#signal) : reusing.call(this.#source, start, this.#signal);
    const raw = chunks[Symbol.asyncIterator]();
    this.#raw = raw;
    const first = await raw.next();
    if (first.done === true) return first;
    const chunk = first.value;
    if (this.#options.offset !== undefined || start > 0 || chunk.byteLength < 2 || chunk[0] !== GZIP_MAGIC_0 || chunk[1] !== GZIP_MAGIC_1) {
      this.#input = raw;
      return first;
    }
    this.#compressedBytes = chunk.byteLength;
    const counted = async function* (this: ShardReader): AsyncGenerator<Uint8Array> {
      yield chunk;
      for (;;) {
        const next = await raw.next();
        if (next.done === true) return;
        this.#compressedBytes += next.value.byteLength;
        yield next.value;
      }
    }.call(this);
    const input = inflateChunks(counted, 'gzip', { chunkSize: INFLATE_CHUNK, signal: (this.#inflaterStop = new AbortController()).signal });
    this.#input = input;
    return input.next();
  }

  /**
   * Apply the missing-field policy: the sample to answer, or `undefined` when 'skip' dropped it
   * (the caller reads on for the same pull).
   */
  #complete(sample: MutableSample): WebDatasetSample | undefined {
    const expected = this.#options.extensions;
    if (expected !== undefined) {
      for (const extension of expected) {
        if (Object.hasOwn(sample, extension)) continue;
        switch (this.#options.missing) {
          case 'zero':
            setField(sample, extension, EMPTY.slice());
            continue;
          case 'skip':
            return undefined;
          case 'error':
            throw new SampleFieldError('RXFEED_ERR_MISSING_FIELD', this.#source.name, sample.__key__, extension);
        }
      }
    }
    this.sampleStart = this.#currentStart;
    return sample;
  }

  /** Remember the first error: every later pull fails with it. */
  #fail(error: unknown): unknown {
    if (!this.#closed && this.#error === undefined) this.#error = error;
    return error;
  }

  /** Name an error of the inflater (zlib) or of the ByteSource. */
  #inputError(error: unknown): unknown {
    if (!(error instanceof InflateError)) return error;
    if (error.truncated) {
      return new TruncatedShardError(this.#source.name, this.#compressedBytes, true, this.#tar.member, { cause: error.cause });
    }
    // Z_DATA_ERROR for corrupt data; any other zlib code (Z_NEED_DICT, Z_STREAM_ERROR) is a
    // stream the inflater cannot read either.
    return new CorruptShardError(this.#source.name, this.#compressedBytes, error.message, { cause: error.cause });
    return error;
  }
}
