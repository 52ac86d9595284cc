import { decodeImage, decodeImageInto } from '../../../src/adapters/decodeImage.js';
import { recordAllocation } from '../meter.js';
import { jpegSeeds } from '../seeds.js';
import { FuzzInvariantError } from './memorySource.js';
import type { FuzzTarget } from './target.js';

/** Encoded image bytes, the decoder to use, and a resize (which takes libjpeg's DCT-scaling path). */
export interface ImageInput {
  readonly bytes: Uint8Array;
  readonly decoder: 'turbojpeg' | 'sharp';
  readonly resize?: readonly [number, number];
  /** Decode into a `[height, width, 3]` slot of a batch tensor instead (`decodeBatch`'s path). */
  readonly into?: readonly [number, number];
}

/** A real JPEG that must still decode after every case. */
let reference: Uint8Array;
let poisoned = false;

/**
 * `decodeImage` with one decoder. The decoded pixels are allocated in native code, where the
 * meter does not see them: their size is recorded by hand. Besides the harness's invariants, the
 * result must hold `height x width x 3` bytes, and the decoder must still decode a real JPEG
 * afterwards: the binding keeps one TurboJPEG handle per thread, and an input that leaves it
 * broken would fail every later image (and make cases depend on their order). Such a case is
 * reported, and the worker restarts clean after it.
 */
export const target: FuzzTarget<ImageInput> = {
  setup: async () => {
    reference = jpegSeeds(1)[0]!.bytes;
  },
  poisoned: () => poisoned,
  inputBytes: (input) => input.bytes.byteLength,
  run: async (input) => {
    try {
      if (input.into !== undefined) {
        const [height, width] = input.into;
        const slot = new Uint8Array(height * width * 3);
        recordAllocation(slot.byteLength);
        await decodeImageInto(input.bytes, slot, input.into, { decoder: input.decoder }, 'fuzz', undefined);
        return;
      }
      const image = await decodeImage(input.bytes, { options: { decoder: input.decoder, resize: input.resize } });
      recordAllocation(image.data.byteLength);
      const [height, width, channels] = image.shape;
      if (image.data.byteLength !== height * width * channels || height < 1 || width < 1) {
        throw new FuzzInvariantError(`decoded ${image.data.byteLength} bytes for shape ${image.shape.join('x')}`);
      }
    } finally {
      const after = await decodeImage(reference, { options: { decoder: input.decoder } }).catch((error: Error) => error);
      if (after instanceof Error) {
        poisoned = true;
        // This failure outranks the case's own outcome.
        throw new FuzzInvariantError(`after this input, a valid JPEG no longer decodes with ${input.decoder}: ${after.message}`);
      }
    }
  },
};
