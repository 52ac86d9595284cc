/**
 * Reads the samples of one WebDataset shard from a ByteSource, on demand, with tar-stream.
 *
 * @module
 */
import { Readable, pipeline } from 'node:stream';
import { createGunzip, type Gunzip } from 'node:zlib';
import tar, { type ExtractEvents, type Header } from 'tar-stream';

/** tar-stream's readable for one member's data (not exported by its types under a name). */
type Source = ExtractEvents['entry'][1];
import type { ByteSource } from '../core/byteSource.js';
import { CorruptShardError, SampleFieldError, TruncatedShardError, UnsafeMemberError } from './errors.js';
import { isMetaMember, isUnsafeMemberName, splitMemberName } from './memberName.js';

/**
 * One WebDataset sample: the members of a shard that share a key, by extension.
 *
 * `__key__` is the key (`train/000123` for `train/000123.png`), `__url__` the shard it came from,
 * and every other property the bytes of one member, named by its extension (`png`, `cls`,
 * `seg.png`; lower-cased). Each field owns its own `ArrayBuffer`, exactly its size: safe to keep, to
 * transfer to a worker thread, or to hand to a decoder that detaches it.
 *
 * `E` names the extensions `fromWebDataset` was told to expect (its `extensions` option): those
 * fields are typed `Uint8Array`, since the missing-field policy guarantees them (present, or
 * zero-length under `'zero'`). Any other field is `Uint8Array | string` to the type checker.
 *
 * @typeParam E - The expected extensions, e.g. `'png' | 'cls'`; none by default.
 * @example
 * ```ts
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
}

/** gzip's magic number: a shard starting with it is inflated whatever its name says. */
const GZIP_MAGIC_0 = 0x1f;
const GZIP_MAGIC_1 = 0x8b;
/** Output chunk of the inflater: the bound on inflated bytes held ahead of the tar parser. */
const INFLATE_CHUNK = 64 * 1024;
const EMPTY = new Uint8Array(0);
const noop = (): void => undefined;

type MutableSample = { __key__: string; __url__: string; [extension: string]: Uint8Array | string };

/** A member whose header was parsed but whose data the tar parser holds until we read it. */
interface Entry {
  readonly header: Header;
  readonly stream: Source;
  readonly next: (error?: Error | null) => void;
  readonly key: string;
  readonly extension: string;
}

interface Waiter {
  resolve(sample: WebDatasetSample | null): void;
  reject(error: unknown): void;
}

/**
 * Streams one shard through tar-stream's `extract()` and groups consecutive members by key.
 *
 * It works only while a {@link ShardReader.next} call waits: it then reads one chunk of the
 * ByteSource's stream at a time, writes it to the tar parser, and reads each member as the parser
 * announces it. When a member of the *next* sample is announced, the current sample is complete:
 * the reader answers and leaves that member unread (tar-stream holds it until `next()` is called),
 * so nothing more is read until the pipeline pulls again.
 *
 * Memory bound: one stream chunk of the ByteSource (256 KiB for local files) in the tar parser,
 * the sample being assembled (its members copied once into their own buffers), and for a gzip
 * shard one compressed chunk held ahead by `Readable.from`, up to 16 KiB queued at the inflater's
 * input (its default high-water mark) and up to 16 KiB plus one {@link INFLATE_CHUNK} at its output.
 */
export class ShardReader {
  readonly #source: ByteSource;
  readonly #options: ShardReaderOptions;
  readonly #signal: AbortSignal | undefined;
  readonly #extract = tar.extract({ highWaterMark: 1 });
  #input: AsyncIterator<Uint8Array> | undefined;
  #raw: AsyncIterator<Uint8Array> | undefined;
  #gunzip: Gunzip | undefined;
  #compressedBytes = 0;
  /** Bytes of the tar stream written to the parser. */
  #tarBytes = 0;
  /** Offset in the tar stream of the header after the last member announced. */
  #nextHeader = 0;
  #current: MutableSample | undefined;
  /** The member being read, named in a truncation error. */
  #member: string | undefined;
  #held: Entry | undefined;
  #waiter: Waiter | undefined;
  #reading = false;
  #writing = false;
  #inputDone = false;
  #finished = false;
  #closed = false;
  #error: unknown;

  constructor(source: ByteSource, options: ShardReaderOptions, signal?: AbortSignal) {
    this.#source = source;
    this.#options = options;
    this.#signal = signal;
    const extract = this.#extract;
    extract.on('entry', (header: Header, stream: Source, next: (error?: Error | null) => void) =>
      this.#onEntry(header, stream, next),
    );
    extract.on('drain', () => {
      this.#writing = false;
      this.#demand();
    });
    extract.on('finish', () => this.#onFinish());
    extract.on('error', (error: unknown) => this.#fail(this.#tarError(error)));
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
    if (this.#finished && this.#current === undefined && this.#held === undefined) return Promise.resolve(null);
    return new Promise((resolve, reject) => {
      this.#waiter = { resolve, reject };
      const held = this.#held;
      if (held !== undefined) {
        this.#held = undefined;
        this.#readMember(held);
      }
      // The parser may have taken its whole chunk already (a held header can be the chunk's last
      // bytes): then the member's data needs the next chunk.
      this.#demand();
    });
  }

  /**
   * Release the tar parser, the inflater and the ByteSource's stream at once. The promise settles
   * when the stream's own cleanup (a file handle's close) has run.
   */
  close(): Promise<void> {
    if (this.#closed) return Promise.resolve();
    this.#closed = true;
    this.#waiter = undefined;
    this.#held = undefined;
    this.#extract.destroy();
    this.#gunzip?.destroy();
    // The raw stream first: with gzip, #input is the inflater's iterator and #raw the file's.
    const releases = [this.#raw, this.#input].map((iterator) => iterator?.return?.().then(noop, noop));
    return Promise.all(releases).then(noop);
  }

  /** Feed the parser one more chunk, unless one is already being read or parsed. */
  #demand(): void {
    if (this.#waiter === undefined || this.#held !== undefined || this.#closed) return;
    if (this.#reading || this.#writing || this.#inputDone) return;
    this.#reading = true;
    const reading = this.#input === undefined ? this.#open() : this.#input.next();
    reading.then(
      (result) => {
        this.#reading = false;
        if (this.#closed) return;
        if (result.done === true) {
          this.#inputDone = true;
          this.#extract.end(null);
          return;
        }
        this.#tarBytes += result.value.byteLength;
        this.#writing = true;
        // With highWaterMark 1 every write answers false and 'drain' follows once the parser has
        // taken the whole chunk: exactly one chunk is ever buffered in it.
        this.#extract.write(result.value);
      },
      (error: unknown) => {
        this.#reading = false;
        this.#fail(this.#inputError(error));
      },
    );
  }

  /** Start the stream and sniff the first chunk for gzip's magic number. */
  async #open(): Promise<IteratorResult<Uint8Array>> {
    const raw = this.#source.stream(0, this.#signal)[Symbol.asyncIterator]();
    this.#raw = raw;
    const first = await raw.next();
    if (first.done === true) return first;
    const chunk = first.value;
    if (chunk.byteLength < 2 || chunk[0] !== GZIP_MAGIC_0 || chunk[1] !== GZIP_MAGIC_1) {
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
    // Readable.from holds one chunk ahead; the inflater's readable side holds at most one output chunk.
    const gunzip = createGunzip({ chunkSize: INFLATE_CHUNK });
    this.#gunzip = gunzip;
    pipeline(Readable.from(counted), gunzip, noop);
    const input = gunzip[Symbol.asyncIterator]() as AsyncIterator<Uint8Array>;
    this.#input = input;
    return input.next();
  }

  #onEntry(header: Header, stream: Source, next: (error?: Error | null) => void): void {
    if (this.#closed) return;
    const size = header.size ?? 0;
    const dataOffset = (header as Header & { byteOffset?: number }).byteOffset ?? this.#nextHeader + 512;
    this.#nextHeader = dataOffset + Math.ceil(size / 512) * 512;
    const name = header.name;
    // Checked for every member type: a shard holding such a name is hostile or broken, whether
    // or not this reader would have used the member.
    if (isUnsafeMemberName(name)) {
      this.#fail(new UnsafeMemberError(this.#source.name, name));
      return;
    }
    if (header.type !== 'file' && header.type !== 'contiguous-file') {
      // Directories, links, devices: WebDataset reads regular files only. Links are never followed.
      this.#skip(stream, next);
      return;
    }
    const split = isMetaMember(name) ? undefined : splitMemberName(name);
    if (split === undefined) {
      this.#skip(stream, next);
      return;
    }
    const entry: Entry = { header, stream, next, key: split.key, extension: split.extension };
    const current = this.#current;
    if (current !== undefined && current.__key__ !== split.key) {
      // The first member of the next sample: hold it unread until the pipeline asks for more.
      this.#held = entry;
      this.#current = undefined;
      this.#complete(current);
      return;
    }
    this.#readMember(entry);
  }

  #skip(stream: Source, next: () => void): void {
    stream.on('error', noop);
    stream.on('end', () => next());
    stream.resume();
  }

  #readMember(entry: Entry): void {
    const { header, stream, next, key, extension } = entry;
    let sample = this.#current;
    if (sample === undefined) {
      sample = { __key__: key, __url__: this.#source.name };
      this.#current = sample;
    } else if (Object.hasOwn(sample, extension)) {
      this.#fail(new SampleFieldError('RXFEED_ERR_DUPLICATE_FIELD', this.#source.name, key, extension));
      return;
    }
    this.#member = header.name;
    const size = header.size ?? 0;
    const target = sample;
    let first: Uint8Array | undefined;
    let bytes: Uint8Array | undefined;
    let filled = 0;
    stream.on('error', noop);
    stream.on('data', (chunk: unknown) => {
      const data = chunk as Uint8Array;
      if (first === undefined && bytes === undefined) {
        first = data; // the usual case: the whole member in one piece of one chunk
        return;
      }
      if (bytes === undefined) {
        bytes = new Uint8Array(size);
        bytes.set(first!, 0);
        filled = first!.byteLength;
      }
      bytes.set(data, filled);
      filled += data.byteLength;
    });
    stream.on('end', () => {
      if (this.#closed) return;
      // A copy into a buffer of its own: the chunk it came from is not pinned by the sample, and
      // the field can be transferred to a worker without detaching its neighbours.
      target[extension] = bytes ?? (first === undefined ? new Uint8Array(0) : new Uint8Array(first));
      this.#member = undefined;
      next();
    });
  }

  #onFinish(): void {
    if (this.#closed) return;
    this.#finished = true;
    const current = this.#current;
    this.#current = undefined;
    if (current !== undefined) this.#complete(current);
    else this.#answer(null);
  }

  /** Apply the missing-field policy, then answer the waiting pull (or read on, for 'skip'). */
  #complete(sample: MutableSample): void {
    const expected = this.#options.extensions;
    if (expected !== undefined) {
      for (const extension of expected) {
        if (Object.hasOwn(sample, extension)) continue;
        switch (this.#options.missing) {
          case 'zero':
            sample[extension] = EMPTY.slice();
            continue;
          case 'skip':
            this.#skipSample();
            return;
          case 'error':
            this.#fail(new SampleFieldError('RXFEED_ERR_MISSING_FIELD', this.#source.name, sample.__key__, extension));
            return;
        }
      }
    }
    this.#answer(sample);
  }

  /** A sample was dropped under 'skip': go on to the next one for the same pull. */
  #skipSample(): void {
    const held = this.#held;
    if (held !== undefined) {
      this.#held = undefined;
      this.#readMember(held);
      this.#demand();
    } else if (this.#finished) {
      this.#answer(null);
    }
    // Otherwise the parser is mid-stream and goes on by itself.
  }

  #answer(sample: WebDatasetSample | null): void {
    const waiter = this.#waiter;
    this.#waiter = undefined;
    waiter?.resolve(sample);
  }

  #fail(error: unknown): void {
    if (this.#closed || this.#error !== undefined) return;
    this.#error = error;
    const waiter = this.#waiter;
    this.#waiter = undefined;
    waiter?.reject(error);
  }

  /** Name an error of the tar parser: a short stream, or a bad header. */
  #tarError(error: unknown): unknown {
    const message = error instanceof Error ? error.message : String(error);
    if (/unexpected end of data/i.test(message)) {
      return new TruncatedShardError(this.#source.name, this.#tarBytes, false, this.#member, { cause: error });
    }
    return new CorruptShardError(this.#source.name, this.#nextHeader, message, { cause: error });
  }

  /** Name an error of the inflater (zlib) or of the ByteSource. */
  #inputError(error: unknown): unknown {
    const code = (error as { code?: unknown } | null)?.code;
    if (code === 'Z_BUF_ERROR') {
      return new TruncatedShardError(this.#source.name, this.#compressedBytes, true, this.#member, { cause: error });
    }
    if (code === 'Z_DATA_ERROR') {
      const message = error instanceof Error ? error.message : String(error);
      return new CorruptShardError(this.#source.name, this.#compressedBytes, `gzip: ${message}`, { cause: error });
    }
    return error;
  }
}
