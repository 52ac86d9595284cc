/** Arbitraries shared by several fuzz specs. */
import fc from 'fast-check';

/** Stream chunk sizes: tiny ones split every header, big ones hold whole members. */
export const chunkSize = fc.oneof(fc.constantFrom(1, 7, 511, 512, 4096, 65536, 262144), fc.integer({ min: 1, max: 9000 }));
