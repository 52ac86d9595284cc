/**
 * Errors raised while reading WebDataset shards. Each names the shard and, where there is one, the
 * member and the byte offset, so a bad shard can be found and inspected with `tar tvf`.
 *
 * @module
 */
import { RxfeedError } from '../../src/errors.js';

/**
 * A shard ended before its tar stream did: a member's data, its padding or a header was cut short,
 * or the gzip stream of a `.tgz` ended early.
 * @example
 * ```ts
 * import { TruncatedShardError } from 'rxfeed/webdataset';
 * declare const error: unknown;
 * if (error instanceof TruncatedShardError) console.error(`re-copy ${error.shard}: ends at ${error.offset}`);
 * ```
 * @public
 */
export class TruncatedShardError extends RxfeedError {
  /** The shard (path, URL or object name). */
  readonly shard: string;
  /**
   * Bytes of the shard received before it ended: offset in the tar stream for a plain tar, in the
   * compressed file for a gzip-compressed one (see {@link TruncatedShardError.compressed}).
   */
  readonly offset: number;
  /** Whether {@link TruncatedShardError.offset} counts compressed bytes. */
  readonly compressed: boolean;
  /** The member being read when the shard ended, if any. */
  readonly member: string | undefined;

  constructor(shard: string, offset: number, compressed: boolean, member: string | undefined, options?: ErrorOptions) {
    const where = compressed ? `after ${offset} compressed bytes` : `at byte ${offset}`;
    const inside = member === undefined ? '' : ` inside member '${member}'`;
    super('RXFEED_ERR_TRUNCATED_SHARD', `shard ${shard} is truncated: it ended ${where}${inside}`, options);
    this.shard = shard;
    this.offset = offset;
    this.compressed = compressed;
    this.member = member;
  }
}

/**
 * A shard is not a readable tar stream: a header checksum failed, a header is malformed, or the
 * gzip data is corrupt.
 * @example
 * ```ts
 * import { CorruptShardError } from 'rxfeed/webdataset';
 * declare const error: unknown;
 * if (error instanceof CorruptShardError) console.error(`inspect ${error.shard} near byte ${error.offset}`);
 * ```
 * @public
 */
export class CorruptShardError extends RxfeedError {
  /** The shard (path, URL or object name). */
  readonly shard: string;
  /** Bytes of the tar stream read before the bad header (compressed bytes for a corrupt gzip stream). */
  readonly offset: number;

  constructor(shard: string, offset: number, reason: string, options?: ErrorOptions) {
    super('RXFEED_ERR_CORRUPT_SHARD', `shard ${shard} is corrupt near byte ${offset}: ${reason}`, options);
    this.shard = shard;
    this.offset = offset;
  }
}

/**
 * A member name could escape an extraction directory: an absolute path or a `..` segment. Such
 * names never come from `tar` itself on ordinary input, so the shard is rejected rather than the
 * member skipped.
 * @example
 * ```ts
 * import { UnsafeMemberError } from 'rxfeed/webdataset';
 * declare const error: unknown;
 * if (error instanceof UnsafeMemberError) console.error(`${error.shard} holds '${error.member}'`);
 * ```
 * @public
 */
export class UnsafeMemberError extends RxfeedError {
  /** The shard (path, URL or object name). */
  readonly shard: string;
  /** The member name as stored in the tar header. */
  readonly member: string;

  constructor(shard: string, member: string) {
    super('RXFEED_ERR_UNSAFE_MEMBER', `shard ${shard} has member '${member}' with an absolute path or a '..' segment; refusing to read it`);
    this.shard = shard;
    this.member = member;
  }
}

/**
 * A sample lacks an expected extension under `missing: 'error'`, or holds one extension twice.
 * @example
 * ```ts
 * import { SampleFieldError } from 'rxfeed/webdataset';
 * declare const error: unknown;
 * if (error instanceof SampleFieldError && error.code === 'RXFEED_ERR_MISSING_FIELD') {
 *   console.error(`${error.shard}: ${error.key} has no .${error.extension}`);
 * }
 * ```
 * @public
 */
export class SampleFieldError extends RxfeedError {
  /** The shard (path, URL or object name). */
  readonly shard: string;
  /** The sample's `__key__`. */
  readonly key: string;
  /** The extension that was missing or repeated. */
  readonly extension: string;

  constructor(code: 'RXFEED_ERR_MISSING_FIELD' | 'RXFEED_ERR_DUPLICATE_FIELD', shard: string, key: string, extension: string) {
    const what = code === 'RXFEED_ERR_MISSING_FIELD' ? `has no member '${key}.${extension}'` : `has member '${key}.${extension}' twice`;
    super(code, `shard ${shard}: sample '${key}' ${what}`);
    this.shard = shard;
    this.key = key;
    this.extension = extension;
  }
}

/**
 * A member is larger than the reader will hold in memory (`maxMemberSize` of `fromWebDataset`,
 * 1 GiB by default). Its header's size is checked before any of its data is buffered, so a
 * header claiming gigabytes costs nothing: the shard fails here instead.
 * @example
 * ```ts
 * import { MemberTooLargeError } from 'rxfeed/webdataset';
 * declare const error: unknown;
 * if (error instanceof MemberTooLargeError) console.error(`${error.shard}: '${error.member}' is ${error.size} bytes`);
 * ```
 * @public
 */
export class MemberTooLargeError extends RxfeedError {
  /** The shard (path, URL or object name). */
  readonly shard: string;
  /** Offset in the tar stream of the member's header block. */
  readonly offset: number;
  /** The member name. */
  readonly member: string;
  /** The size its header (or pax `size` record) declares, in bytes. */
  readonly size: number;
  /** The limit in force, in bytes. */
  readonly limit: number;

  constructor(shard: string, offset: number, member: string, size: number, limit: number) {
    super(
      'RXFEED_ERR_MEMBER_TOO_LARGE',
      `shard ${shard}: member '${member}' at byte ${offset} declares ${size} bytes, more than maxMemberSize (${limit})`,
    );
    this.shard = shard;
    this.offset = offset;
    this.member = member;
    this.size = size;
    this.limit = limit;
  }
}

/**
 * A member's extension is a name WebDataset reserves for sample metadata (`x.__key__`,
 * `x.__url__`): reading it would overwrite the sample's key or shard name with bytes, so the
 * shard is rejected.
 * @example
 * ```ts
 * import { ReservedFieldError } from 'rxfeed/webdataset';
 * declare const error: unknown;
 * if (error instanceof ReservedFieldError) console.error(`${error.shard} holds '${error.member}' at ${error.offset}`);
 * ```
 * @public
 */
export class ReservedFieldError extends RxfeedError {
  /** The shard (path, URL or object name). */
  readonly shard: string;
  /** Offset in the tar stream of the member's header block. */
  readonly offset: number;
  /** The member name as stored in the tar header. */
  readonly member: string;
  /** The reserved field its extension names (`__key__` or `__url__`). */
  readonly extension: string;

  constructor(shard: string, offset: number, member: string, extension: string) {
    super(
      'RXFEED_ERR_RESERVED_FIELD',
      `shard ${shard}: member '${member}' at byte ${offset} would overwrite the reserved field '${extension}'`,
    );
    this.shard = shard;
    this.offset = offset;
    this.member = member;
    this.extension = extension;
  }
}

/**
 * A sample index file (a `.idx.json` sidecar) or a `wids` shard descriptor is malformed: not the
 * expected JSON, or an entry that is out of order, outside the shard, or of an implausible size.
 * Such files are untrusted input, so every entry is checked before it is used.
 * @example
 * ```ts
 * import { SampleIndexError } from 'rxfeed/webdataset';
 * declare const error: unknown;
 * if (error instanceof SampleIndexError) console.error(`fix or delete ${error.file} (${error.entry})`);
 * ```
 * @public
 */
export class SampleIndexError extends RxfeedError {
  /** The index file or descriptor (a path, a URL, or `(descriptor)` for one given as an object). */
  readonly file: string;
  /** The entry that is wrong, e.g. `samples[12]` or `shardlist[3].nsamples`; `''` for the file as a whole. */
  readonly entry: string;

  constructor(file: string, entry: string, reason: string, options?: ErrorOptions) {
    super('RXFEED_ERR_SAMPLE_INDEX', `${file}${entry === '' ? '' : ` ${entry}`}: ${reason}`, options);
    this.file = file;
    this.entry = entry;
  }
}

/**
 * A shard disagrees with the index it is read through: the bytes at an indexed offset do not
 * hold the sample the index names (the shard was rewritten after its sidecar was saved), the
 * sidecar was saved for a shard of another size, or a `wids` descriptor's `nsamples` differs
 * from the samples the shard holds. Rebuild the index (delete the sidecar, or fix the descriptor).
 * @example
 * ```ts
 * import { StaleIndexError } from 'rxfeed/webdataset';
 * declare const error: unknown;
 * if (error instanceof StaleIndexError) console.error(`${error.shard} changed near byte ${error.offset}`);
 * ```
 * @public
 */
export class StaleIndexError extends RxfeedError {
  /** The shard (path, URL or object name). */
  readonly shard: string;
  /** Offset in the shard where it disagrees with the index (0 when the whole shard does). */
  readonly offset: number;

  constructor(shard: string, offset: number, reason: string, options?: ErrorOptions) {
    super('RXFEED_ERR_STALE_INDEX', `shard ${shard} disagrees with its sample index at byte ${offset}: ${reason}`, options);
    this.shard = shard;
    this.offset = offset;
  }
}

/**
 * A gzip-compressed shard (`.tgz`, `.tar.gz`) was given to a random-access dataset: a sample in
 * the middle of a gzip stream cannot be reached without inflating everything before it, so such
 * a shard can only be streamed (`fromWebDataset`). Recompress it as a plain tar (compress the
 * members instead, as `.txt.gz` or `.jpg` already are) to read it by index.
 * @example
 * ```ts
 * import { CompressedShardError } from 'rxfeed/webdataset';
 * declare const error: unknown;
 * if (error instanceof CompressedShardError) console.error(`gunzip ${error.shard} to index it`);
 * ```
 * @public
 */
export class CompressedShardError extends RxfeedError {
  /** The shard (path, URL or object name). */
  readonly shard: string;

  constructor(shard: string) {
    super('RXFEED_ERR_COMPRESSED_SHARD', `shard ${shard} is gzip-compressed: its samples cannot be read by byte range, only streamed`);
    this.shard = shard;
  }
}

/**
 * A sample given to `toWebDataset` cannot be written so that it reads back as itself:
 *
 * - `RXFEED_ERR_SAMPLE_KEY`: its `__key__` is missing, not a string, empty, holds a `.` (WebDataset
 *   splits member names at the first dot, so the key would read back cut), a `\`, a NUL or
 *   another control character, starts or ends with `/` or has an empty `//` segment, holds a lone
 *   UTF-16 surrogate (tar names are UTF-8: it would read back as U+FFFD), or repeats the key of
 *   the sample just before it (the reader would merge the two samples); or its getter throws.
 * - `RXFEED_ERR_SAMPLE_FIELD`: a field name is upper-case (readers lower-case extensions),
 *   holds `/`, `\`, a control character or a lone surrogate, or starts or ends with `.`; or its
 *   getter throws (the error is the `cause`); or its value is not one
 *   of the encodable kinds (`Uint8Array`, string, number, bigint, and plain objects or arrays for
 *   a field ending in `json`).
 * @example
 * ```ts
 * import { SampleWriteError } from 'rxfeed/webdataset';
 * declare const error: unknown;
 * if (error instanceof SampleWriteError) console.error(`sample ${error.sample} (${error.key}): ${error.field ?? '__key__'}`);
 * ```
 * @public
 */
export class SampleWriteError extends RxfeedError {
  declare readonly code: 'RXFEED_ERR_SAMPLE_KEY' | 'RXFEED_ERR_SAMPLE_FIELD';
  /** Position of the sample in the written stream, from 0. */
  readonly sample: number;
  /** The sample's `__key__` (a bounded excerpt of it when it is not a valid key). */
  readonly key: string;
  /** The field at fault; `undefined` when the key is. */
  readonly field: string | undefined;

  constructor(
    code: 'RXFEED_ERR_SAMPLE_KEY' | 'RXFEED_ERR_SAMPLE_FIELD',
    sample: number,
    key: string,
    field: string | undefined,
    reason: string,
  ) {
    const where = field === undefined ? `__key__ ${JSON.stringify(key)}` : `field ${JSON.stringify(field)} of ${JSON.stringify(key)}`;
    super(code, `sample ${sample}: ${where} ${reason}`);
    this.sample = sample;
    this.key = key;
    this.field = field;
  }
}

/**
 * Writing a shard file failed (disk full, permission denied, the directory vanished): its
 * temporary file is removed and the shard is not written. `cause` holds the file system's error.
 * @example
 * ```ts
 * import { ShardWriteError } from 'rxfeed/webdataset';
 * declare const error: unknown;
 * if (error instanceof ShardWriteError) console.error(`${error.shard} failed after ${error.offset} bytes`, error.cause);
 * ```
 * @public
 */
export class ShardWriteError extends RxfeedError {
  /** The shard's final path. */
  readonly shard: string;
  /** Bytes of the shard written before the failure. */
  readonly offset: number;

  constructor(shard: string, offset: number, reason: string, options?: ErrorOptions) {
    super('RXFEED_ERR_SHARD_WRITE', `shard ${shard}: ${reason} after ${offset} bytes`, options);
    this.shard = shard;
    this.offset = offset;
  }
}
