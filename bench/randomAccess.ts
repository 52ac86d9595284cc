/**
 * Random access benchmarks (issue 11): `npx tsc -p tsconfig.json && node dist/bench/randomAccess.js [--rounds N] [--only sections]`.
 *
 * 1. The samplers: indices/s of `orderOf(globalShuffle(...), N, epoch).at(p)` for N = 10^6, 10^9,
 *    2^53 - 1, of a `blockShuffle` order, and memory before/after (flat in N); Fisher-Yates
 *    `permutation(10^7)` for reference.
 * 2. TFRecord from local disk (page cache warm): a global shuffle through `fromRandomAccess` against
 *    `fromTFRecord` reading the same files front to back, raw records and decoded Examples.
 * 3. WebDataset shards over nginx and Ceph RGW (read from `.tmp/<server>.env` by scripts/bench.js,
 *    skipped when unset): block shuffle and global shuffle against streaming the shards.
 * 4. Index build: MB/s of the scans and the sidecars' bytes per sample (printed as 4a and 4b).
 * 5. Shuffle quality of the global shuffle, the block shuffle and `shuffleBuffer`.
 *
 * Files go to `.tmp/bench/tfrecord-ra/` and `.tmp/bench/wds-ra/` (and nginx's `www/wds-ra-bench/`,
 * the RGW bucket `rxfeed-bench` under `wds-ra/`). The local and remote parts are in
 * `randomAccessLocal.ts` and `randomAccessRemote.ts`.
 *
 * @module
 */
import { qualitySection, samplerSection, tfrecordSection } from './randomAccessLocal.js';
import { webDatasetSection } from './randomAccessRemote.js';

// `--only sampler,tfrecord,webdataset,quality` runs some sections (default: all).
const onlyArg = process.argv.indexOf('--only');
const only = onlyArg > 0 ? new Set((process.argv[onlyArg + 1] ?? '').split(',')) : undefined;
const runs = (section: string): boolean => only === undefined || only.has(section);

if (runs('sampler')) samplerSection();
if (runs('tfrecord')) await tfrecordSection();
if (runs('webdataset')) await webDatasetSection();
if (runs('quality')) await qualitySection();
