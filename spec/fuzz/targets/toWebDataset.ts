import { readdirSync, statSync } from 'node:fs';
import { basename, join } from 'node:path';
import { lastValueFrom, tap, toArray } from 'rxjs';
import { fromItems } from '../../../sources/core/fromItems.js';
import { InvalidArgumentError, RxfeedError } from '../../../src/errors.js';
import { SampleWriteError } from '../../../sources/webdataset/errors.js';
import { fromWebDataset } from '../../../sources/webdataset/fromWebDataset.js';
import { toWebDataset, type WebDatasetShardWritten } from '../../../sources/webdataset/toWebDataset.js';
import { FuzzInvariantError } from './memorySource.js';
import { inScratch } from './scratch.js';
import type { FuzzTarget } from './target.js';

/**
 * A field's value, described: the IPC between harness and worker cannot carry getters,
 * functions or symbols, so the worker builds the hostile value from this.
 */
export type ValueSpec =
  | { readonly kind: 'bytes'; readonly bytes: Uint8Array }
  | { readonly kind: 'string'; readonly text: string }
  | { readonly kind: 'number'; readonly value: number }
  | { readonly kind: 'bigint'; readonly value: bigint }
  | { readonly kind: 'json'; readonly value: unknown }
  | { readonly kind: 'typed'; readonly type: string; readonly length: number }
  | {
      readonly kind: 'hostile';
      readonly what:
        | 'cyclic'
        | 'json-bigint'
        | 'toJSON-throws'
        | 'json-getter-throws'
        | 'getter-throws'
        | 'deep-json'
        | 'class'
        | 'null'
        | 'true'
        | 'undefined'
        | 'date'
        | 'map'
        | 'function'
        | 'symbol'
        | 'promise';
    };

/** One sample, described: its `__key__` (or a non-string one) and its fields in order. */
export interface SampleSpec {
  readonly key: string | number | null | undefined;
  readonly fields: readonly (readonly [string, ValueSpec])[];
  /** Send this instead of an object. */
  readonly notObject?: 'null' | 'string' | 'array';
}

/** Samples written by one case, and the writer's limits. */
export interface WriteInput {
  readonly samples: readonly SampleSpec[];
  readonly maxCount: number;
  readonly maxSize: number;
}

class Thrower extends Error {}

function valueOf(spec: ValueSpec): unknown {
  switch (spec.kind) {
    case 'bytes':
      return spec.bytes;
    case 'string':
      return spec.text;
    case 'number':
    case 'bigint':
    case 'json':
      return spec.value;
    case 'typed': {
      const make = globalThis[spec.type as 'Float32Array'] as unknown as new (length: number) => unknown;
      if (spec.type === 'DataView') return new DataView(new ArrayBuffer(spec.length));
      return new make(spec.length);
    }
    case 'hostile':
      switch (spec.what) {
        case 'cyclic': {
          const cycle: Record<string, unknown> = { a: 1 };
          cycle.self = cycle;
          return cycle;
        }
        case 'json-bigint':
          return { n: 1n };
        case 'toJSON-throws':
          return {
            toJSON: () => {
              throw new Thrower('toJSON of the sample');
            },
          };
        case 'json-getter-throws':
          return Object.defineProperty({}, 'x', {
            enumerable: true,
            get: () => {
              throw new Thrower('getter inside the value');
            },
          });
        case 'deep-json': {
          let deep: unknown[] = [];
          for (let i = 0; i < 20_000; i++) deep = [deep];
          return deep;
        }
        case 'class':
          return new (class Point {
            x = 1;
          })();
        case 'null':
          return null;
        case 'true':
          return true;
        case 'undefined':
          return undefined;
        case 'date':
          return new Date(0);
        case 'map':
          return new Map([['a', 1]]);
        case 'function':
          return () => 1;
        case 'symbol':
          return Symbol('s');
        case 'promise':
          return Promise.resolve(1);
        case 'getter-throws':
          return undefined; // a getter on the sample itself: see sampleOf
      }
  }
}

function sampleOf(spec: SampleSpec): unknown {
  if (spec.notObject === 'null') return null;
  if (spec.notObject === 'string') return String(spec.key);
  if (spec.notObject === 'array') return [spec.key];
  // Own properties by definition, so `__proto__` is a field like any other.
  const sample: Record<string, unknown> = {};
  if (spec.key !== undefined)
    Object.defineProperty(sample, '__key__', { value: spec.key, enumerable: true, configurable: true, writable: true });
  for (const [name, value] of spec.fields) {
    const descriptor: PropertyDescriptor =
      value.kind === 'hostile' && value.what === 'getter-throws'
        ? {
            enumerable: true,
            configurable: true,
            get: () => {
              throw new Thrower('getter of the sample');
            },
          }
        : { value: valueOf(value), enumerable: true, configurable: true, writable: true };
    Object.defineProperty(sample, name, descriptor);
  }
  return sample;
}

/** The bytes a field must read back as, or `undefined` when it is not written. */
function expectedBytes(name: string, spec: ValueSpec): Buffer | undefined {
  if (name.startsWith('_')) return undefined;
  switch (spec.kind) {
    case 'bytes':
      return Buffer.from(spec.bytes);
    case 'string':
      return Buffer.from(spec.text, 'utf8');
    case 'number':
    case 'bigint':
      return Buffer.from(String(spec.value), 'latin1');
    case 'json':
      // A JSON string or number is a string or number field like any other.
      if (typeof spec.value === 'string') return Buffer.from(spec.value, 'utf8');
      if (typeof spec.value === 'number') return Buffer.from(String(spec.value), 'latin1');
      return Buffer.from(JSON.stringify(spec.value), 'utf8');
    case 'hostile':
      return spec.what === 'undefined' ? undefined : Buffer.alloc(0);
    default:
      return Buffer.alloc(0);
  }
}

function valueBytes(spec: ValueSpec): number {
  switch (spec.kind) {
    case 'bytes':
      return spec.bytes.byteLength;
    case 'string':
      return Buffer.byteLength(spec.text);
    case 'json':
      return Buffer.byteLength(JSON.stringify(spec.value));
    default:
      return 32;
  }
}

/**
 * `toWebDataset` to a fresh folder, then `fromWebDataset` over the shards it emitted. Besides
 * ending typed: a failed write leaves only its complete shards (no temporary file, no partial
 * shard) and fails with a `SampleWriteError` or `InvalidArgumentError`; the shards read back as
 * exactly the samples before the failure (all of them when none failed): keys, fields and bytes;
 * each shard holds at most `maxCount` samples and `maxSize` bytes unless it holds one sample.
 */
export const target: FuzzTarget<WriteInput> = {
  inputBytes: (input) =>
    input.samples.reduce(
      (sum, sample) =>
        sum + Buffer.byteLength(String(sample.key)) + sample.fields.reduce((s, [name, value]) => s + name.length + valueBytes(value), 0),
      0,
    ),
  run: (input) =>
    inScratch('toWebDataset', async (dir) => {
      const written: WebDatasetShardWritten[] = [];
      let failure: { error: unknown } | undefined;
      try {
        await lastValueFrom(
          fromItems(input.samples.map(sampleOf) as never[]).pipe(
            toWebDataset(join(dir, 'fuzz-%03d.tar'), { maxCount: input.maxCount, maxSize: input.maxSize }),
            tap((shard) => written.push(shard)),
            toArray(),
          ),
        );
      } catch (error) {
        failure = { error };
      }
      const left = readdirSync(dir).sort();
      const shards = written.map((shard) => basename(shard.path!)).sort();
      if (JSON.stringify(left) !== JSON.stringify(shards)) {
        throw new FuzzInvariantError(`the folder holds ${JSON.stringify(left)}, the shards emitted are ${JSON.stringify(shards)}`);
      }
      for (const shard of written) {
        const size = statSync(shard.path!).size;
        if (size !== shard.bytes) throw new FuzzInvariantError(`${shard.path}: ${size} bytes, emitted as ${shard.bytes}`);
        if (shard.samples > input.maxCount || (shard.samples > 1 && size > input.maxSize)) {
          throw new FuzzInvariantError(
            `${shard.path}: ${shard.samples} samples in ${size} bytes, past maxCount ${input.maxCount} / maxSize ${input.maxSize}`,
          );
        }
      }
      const read = written.length === 0 ? [] : await lastValueFrom(fromWebDataset(written.map((shard) => shard.path!)).pipe(toArray()));
      const count = written.reduce((sum, shard) => sum + shard.samples, 0);
      if (read.length !== count) throw new FuzzInvariantError(`read back ${read.length} samples, the shards were emitted with ${count}`);
      if (failure === undefined && count !== input.samples.length) {
        throw new FuzzInvariantError(`wrote ${count} of ${input.samples.length} samples without failing`);
      }
      read.forEach((sample, index) => {
        const spec = input.samples[index]!;
        const record = sample as unknown as Record<string, unknown>;
        if (record.__key__ !== spec.key)
          throw new FuzzInvariantError(
            `sample ${index}: key ${JSON.stringify(record.__key__)} read back, ${JSON.stringify(spec.key)} written`,
          );
        const expected = new Map<string, Buffer>();
        // A field named twice holds its last value, as the sample object did.
        for (const [name, value] of spec.fields) {
          const bytes = expectedBytes(name, value);
          if (bytes === undefined) expected.delete(name);
          else expected.set(name, bytes);
        }
        const fields = Object.keys(record).filter((name) => !name.startsWith('__'));
        if (JSON.stringify(fields.sort()) !== JSON.stringify([...expected.keys()].sort())) {
          throw new FuzzInvariantError(
            `sample ${index}: fields ${JSON.stringify(fields)} read back, ${JSON.stringify([...expected.keys()])} written`,
          );
        }
        for (const [name, bytes] of expected) {
          if (!bytes.equals(record[name] as Uint8Array))
            throw new FuzzInvariantError(`sample ${index} field ${JSON.stringify(name)}: other bytes read back`);
        }
      });
      if (failure !== undefined) {
        const { error } = failure;
        if (error instanceof RxfeedError && !(error instanceof SampleWriteError || error instanceof InvalidArgumentError)) {
          throw new FuzzInvariantError(`the write failed with ${error.code}, not a sample's error: ${error.message.slice(0, 200)}`);
        }
        if (error instanceof SampleWriteError && error.sample < count) {
          throw new FuzzInvariantError(`the write failed at sample ${error.sample}, yet ${count} samples were written`);
        }
        throw error;
      }
    }),
};
