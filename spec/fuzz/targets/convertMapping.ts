import { exampleToSample, featureOf, sampleToExample } from '../../../src/cli/convert.js';
import { decodeExample } from '../../../sources/tfrecord/example.js';
import { encodeExample, type ExampleInput, type FeatureInput } from '../../../sources/tfrecord/exampleEncoder.js';
import type { Example, FeatureValue } from '../../../sources/tfrecord/exampleReader.js';
import { FuzzInvariantError } from './memorySource.js';
import type { FuzzTarget } from './target.js';

/**
 * One case of the convert mapping: a WebDataset sample's fields (name and bytes) mapped to an
 * Example; or an Example, from a serialised record or built feature by feature, mapped to a
 * sample and back.
 */
export type ConvertInput =
  | { readonly kind: 'sample'; readonly fields: readonly (readonly [string, Uint8Array])[] }
  | { readonly kind: 'record'; readonly bytes: Uint8Array }
  | { readonly kind: 'example'; readonly features: readonly (readonly [string, FeatureValue])[] };

function sameFeature(a: FeatureInput | undefined, b: FeatureValue): boolean {
  if (a === null || b === null || a === undefined) return a === b;
  if (Array.isArray(b)) {
    const list = a as readonly (Uint8Array | string)[];
    return Array.isArray(a) && list.length === b.length && list.every((bytes, i) => Buffer.from(bytes as Uint8Array).equals(b[i]!));
  }
  const typed = b as ArrayLike<number | bigint>;
  const other = a as ArrayLike<number | bigint>;
  return (
    a.constructor === b.constructor && other.length === typed.length && Array.from(typed).every((value, i) => Object.is(value, other[i]))
  );
}

function describeFeature(value: FeatureInput | undefined): string {
  if (value === null || value === undefined) return String(value);
  if (Array.isArray(value)) return `bytes[${value.length}]`;
  const typed = value as ArrayLike<number | bigint>;
  return `${value.constructor.name}[${Array.from(typed).slice(0, 4).map(String).join(', ')}${typed.length > 4 ? ', ...' : ''}]`;
}

/**
 * `sampleToExample` on a sample: it returns an Example that `encodeExample` takes, or throws
 * typed. `exampleToSample` then `sampleToExample` on an Example: the same Example back.
 */
export const target: FuzzTarget<ConvertInput> = {
  inputBytes: (input) =>
    input.kind === 'record'
      ? input.bytes.byteLength
      : input.kind === 'sample'
        ? input.fields.reduce((sum, [name, bytes]) => sum + name.length + bytes.byteLength, 0)
        : input.features.reduce(
            (sum, [name, value]) =>
              sum +
              name.length +
              (value === null ? 0 : Array.isArray(value) ? value.reduce((s, b) => s + b.byteLength, 0) : value.byteLength),
            0,
          ),
  run: async (input) => {
    if (input.kind === 'sample') {
      const sample: Record<string, Uint8Array | string> = { __key__: 'fuzz' };
      for (const [name, bytes] of input.fields)
        Object.defineProperty(sample, name, { value: bytes, enumerable: true, configurable: true, writable: true });
      const example = sampleToExample(sample as { __key__: string } & Record<string, Uint8Array>);
      try {
        encodeExample(example);
      } catch (error) {
        throw new FuzzInvariantError(
          `sampleToExample returned an Example that encodeExample refuses: ${(error as Error).message.slice(0, 200)}`,
        );
      }
      // int64 values are the JSON's exactly: none wrapped past 64 bits. The last field naming a feature is the one kept.
      const last = new Map<string, Uint8Array>();
      for (const [name, bytes] of input.fields) {
        const typed = /^(.*)\.int64\.json$/.exec(name);
        if (typed !== null) last.set(featureOf(typed[1]!), bytes);
      }
      for (const [feature, bytes] of last) {
        const values = example[feature];
        if (!(values instanceof BigInt64Array)) continue;
        const list = JSON.parse(new TextDecoder().decode(bytes)) as (number | string)[];
        const wrong = list.findIndex((entry, i) => BigInt(entry) !== values[i]);
        if (wrong >= 0)
          throw new FuzzInvariantError(
            `int64 feature ${JSON.stringify(feature)}: ${String(list[wrong]).slice(0, 40)} became ${values[wrong]}`,
          );
      }
      return;
    }
    let example: Example;
    if (input.kind === 'record') example = decodeExample(input.bytes);
    else {
      example = {};
      for (const [name, value] of input.features)
        Object.defineProperty(example, name, { value, enumerable: true, configurable: true, writable: true });
    }
    let back: ExampleInput;
    try {
      back = sampleToExample(exampleToSample(example, 0));
    } catch (error) {
      // Every decoded Example has a sample form: failing to map one back is a broken round trip, typed or not.
      throw new FuzzInvariantError(
        `the round trip failed: ${error instanceof Error ? `${error.constructor.name}: ${error.message.slice(0, 300)}` : String(error)}`,
      );
    }
    // A feature of no kind (null) has no member to be written as: convert leaves it out.
    const names = Object.keys(example)
      .filter((name) => example[name] !== null)
      .sort();
    const backNames = Object.keys(back).sort();
    if (JSON.stringify(names) !== JSON.stringify(backNames)) {
      throw new FuzzInvariantError(
        `features ${JSON.stringify(names).slice(0, 300)} came back as ${JSON.stringify(backNames).slice(0, 300)}`,
      );
    }
    for (const name of names) {
      if (!sameFeature(back[name], example[name]!)) {
        throw new FuzzInvariantError(
          `feature ${JSON.stringify(name)}: ${describeFeature(example[name])} came back as ${describeFeature(back[name])}`,
        );
      }
    }
  },
};
