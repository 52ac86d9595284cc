import { decodeExample, decodeSequenceExample, type Int64Mode } from '../../../sources/tfrecord/example.js';
import type { FuzzTarget } from './target.js';

/** One serialised record, decoded as an Example or a SequenceExample. */
export interface ExampleInput {
  readonly bytes: Uint8Array;
  readonly kind: 'example' | 'sequence';
  readonly int64: Int64Mode;
}

/** `decodeExample` / `decodeSequenceExample`. */
export const target: FuzzTarget<ExampleInput> = {
  inputBytes: (input) => input.bytes.byteLength,
  run: async (input) => {
    if (input.kind === 'example') decodeExample(input.bytes, { int64: input.int64 });
    else decodeSequenceExample(input.bytes, { int64: input.int64 });
  },
};
