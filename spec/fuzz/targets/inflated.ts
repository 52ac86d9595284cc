import { constants, gunzipSync, inflateSync } from 'node:zlib';

/** Most bytes a target inflates to measure an input (more is a bomb: the bound is then relative to this). */
const MEASURE_LIMIT = 64 * 1024 * 1024;

/**
 * The input size an allocation bound is relative to: for gzip or zlib bytes, what they inflate to
 * (as far as they go; a cut stream counts what it gave), else the bytes themselves. A parser may
 * hold inflated bytes, never more than arrive.
 */
export function inflatedSize(bytes: Uint8Array): number {
  const options = { finishFlush: constants.Z_SYNC_FLUSH, maxOutputLength: MEASURE_LIMIT };
  let inflated = 0;
  try {
    if (bytes[0] === 0x1f && bytes[1] === 0x8b) inflated = gunzipSync(bytes, options).byteLength;
    else if (bytes[0] === 0x78) inflated = inflateSync(bytes, options).byteLength;
  } catch {
    // Not a readable stream: the raw size is the measure.
  }
  return Math.max(bytes.byteLength, inflated);
}
