/**
 * Decoding of serialized `tf.train.Example` and `tf.train.SequenceExample` messages: the public
 * entry points and their options, over the `ExampleReader` wire decoder
 * (`exampleReader.ts`); encoding is in `exampleEncoder.ts`.
 *
 * @module
 */
import { InvalidArgumentError } from '../../src/errors.js';
import { ExampleReader, type Example, type Int64Mode, type SequenceExample } from './exampleReader.js';

export type { Example, FeatureValue, Int64Mode, SequenceExample } from './exampleReader.js';

/**
 * Options of {@link decodeExample} and {@link decodeSequenceExample}.
 * @public
 */
export interface ExampleDecodeOptions {
  /** How int64 lists are returned (default `bigint`). */
  readonly int64?: Int64Mode;
}

/**
 * The int64 mode an option asks for (`bigint` when absent), or an `InvalidArgumentError` naming
 * the option.
 * @internal
 */
export function int64ModeOf(value: unknown, option: string): Int64Mode {
  const mode = value ?? 'bigint';
  if (mode !== 'bigint' && mode !== 'number' && mode !== 'int32') {
    const shown = typeof mode === 'string' ? JSON.stringify(mode.slice(0, 40)) : typeof mode;
    throw new InvalidArgumentError(option, `must be 'bigint', 'number' or 'int32', got ${shown}`);
  }
  return mode;
}

/** The bytes and options of a decode call, checked. */
function decodeArgs(bytes: unknown, options: ExampleDecodeOptions | undefined, caller: string): Int64Mode {
  if (!(bytes instanceof Uint8Array)) throw new InvalidArgumentError(`${caller}.bytes`, 'must be a Uint8Array');
  if (options !== undefined && (typeof options !== 'object' || options === null)) {
    throw new InvalidArgumentError(`${caller}.options`, 'must be an object');
  }
  return int64ModeOf(options?.int64, `${caller}.int64`);
}

/**
 * Decodes a serialized `tf.train.Example`.
 *
 * @example
 * ```ts
 * import { decodeExample } from 'rxfeed/tfrecord';
 * declare const record: Uint8Array;
 * const example = decodeExample(record);
 * const label = (example.label as BigInt64Array)[0];
 * ```
 *
 * @param bytes - The serialized message (e.g. one TFRecord record). Only read during the call.
 * @param options - See {@link ExampleDecodeOptions}.
 * @returns The features by name, as fresh typed arrays.
 * @throws {@link MalformedExampleError} when the bytes are not a valid message;
 *   {@link FeatureError} (`precision`) when an int64 does not fit the chosen mode;
 *   `InvalidArgumentError` when `bytes` is not a Uint8Array or `options.int64` is not a mode.
 * @public
 */
export function decodeExample(bytes: Uint8Array, options?: ExampleDecodeOptions): Example {
  return new ExampleReader(bytes, decodeArgs(bytes, options, 'decodeExample')).example();
}

/**
 * Decodes a serialized `tf.train.SequenceExample`.
 *
 * @example
 * ```ts
 * import { decodeSequenceExample } from 'rxfeed/tfrecord';
 * declare const record: Uint8Array;
 * const { context, featureLists } = decodeSequenceExample(record);
 * const steps = featureLists.tokens?.length ?? 0;
 * ```
 *
 * @param bytes - The serialized message. Only read during the call.
 * @param options - See {@link ExampleDecodeOptions}.
 * @returns The context features and the feature lists, as fresh typed arrays.
 * @throws {@link MalformedExampleError} when the bytes are not a valid message;
 *   `InvalidArgumentError` when `bytes` is not a Uint8Array or `options.int64` is not a mode.
 * @public
 */
export function decodeSequenceExample(bytes: Uint8Array, options?: ExampleDecodeOptions): SequenceExample {
  return new ExampleReader(bytes, decodeArgs(bytes, options, 'decodeSequenceExample')).sequenceExample();
}
