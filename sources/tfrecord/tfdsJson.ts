/**
 * Typed reading of the untrusted TFDS JSON files (`dataset_info.json`, `features.json`).
 *
 * Every value is checked before use and every failure is a {@link TfdsMetadataError} naming the
 * file and the JSON path. Only own properties are read, so keys such as `__proto__` or
 * `constructor` are data, never the prototype's members.
 *
 * @module
 */
import { readSync, openSync, fstatSync, closeSync } from 'node:fs';
import { join } from 'node:path';
import { describe, quoted } from '../../src/excerpt.js';
import { TfdsError, TfdsMetadataError } from './errors.js';

/**
 * The largest `dataset_info.json` / `features.json` read, in bytes (64 MiB): ample for a million
 * shard lengths, and a bound on what a hostile file (or `/dev/zero`) can make us hold.
 * @internal
 */
export const MAX_JSON_BYTES = 64 * 1024 * 1024;

/** A parsed JSON object. @internal */
export interface JsonObject {
  readonly [key: string]: unknown;
}

const IDENTIFIER = /^[A-Za-z_$][\w$]*$/;
/** The JSON path of `key` inside `path`: `a.b`, or `a["odd key"]` for a key that is not an identifier. */
export function keyPath(path: string, key: string): string {
  if (IDENTIFIER.test(key)) return path === '' ? key : `${path}.${key}`;
  return `${path}[${quoted(key)}]`;
}

/** Checked access to one JSON document. @internal */
export class JsonReader {
  constructor(
    readonly dataDir: string,
    readonly file: string,
  ) {}

  fail(path: string, message: string): never {
    throw new TfdsMetadataError(this.dataDir, this.file, path, message);
  }

  object(value: unknown, path: string): JsonObject {
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      this.fail(path, `must be an object, got ${describe(value)}`);
    }
    return value as JsonObject;
  }

  array(value: unknown, path: string): readonly unknown[] {
    if (!Array.isArray(value)) this.fail(path, `must be an array, got ${describe(value)}`);
    return value;
  }

  string(value: unknown, path: string): string {
    if (typeof value !== 'string') this.fail(path, `must be a string, got ${describe(value)}`);
    return value;
  }

  /**
   * An integer `>= min`, as a JSON number or a decimal string (protobuf's JSON form of int64,
   * which TFDS writes for `shardLengths` and shape dimensions).
   */
  integer(value: unknown, path: string, min: number): number {
    const n = typeof value === 'number' ? value : typeof value === 'string' && /^-?\d{1,16}$/.test(value) ? Number(value) : NaN;
    if (!Number.isSafeInteger(n) || n < min) {
      this.fail(path, `must be ${min === 0 ? 'a non-negative integer' : `an integer >= ${min}`}, got ${describe(value)}`);
    }
    return n;
  }
}

/**
 * Reads and parses a JSON file of the dataset directory: a regular file of at most
 * {@link MAX_JSON_BYTES}, else a {@link TfdsError} naming it.
 * @internal
 */
export function readJsonFile(dataDir: string, name: string): unknown {
  const path = join(dataDir, name);
  let text: string;
  let fd: number | undefined;
  try {
    fd = openSync(path, 'r');
    if (!fstatSync(fd).isFile()) throw new TfdsError(dataDir, `${name} is not a regular file`);
    // Read to the end, whatever the size claims (/proc files say 0), but never past the bound.
    const chunks: Buffer[] = [];
    let total = 0;
    for (;;) {
      const chunk = Buffer.allocUnsafe(64 * 1024);
      const read = readSync(fd, chunk, 0, chunk.length, null);
      if (read === 0) break;
      total += read;
      if (total > MAX_JSON_BYTES) throw new TfdsError(dataDir, `${name} is larger than ${MAX_JSON_BYTES} bytes`);
      chunks.push(read === chunk.length ? chunk : chunk.subarray(0, read));
    }
    text = Buffer.concat(chunks, total).toString('utf8');
  } catch (error) {
    if (error instanceof TfdsError) throw error;
    throw new TfdsError(dataDir, `cannot read ${name}: ${(error as Error).message}`, { cause: error });
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new TfdsError(dataDir, `${name} is not valid JSON: ${(error as Error).message}`, { cause: error });
  }
}
