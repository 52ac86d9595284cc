/**
 * Random access over WebDataset shards (issue 11): the block shuffle over nginx and Ceph RGW
 * against streaming the same shards, the global shuffle beside it, and the sample index (local
 * and remote scans, the sidecar's size).
 *
 * @module
 */
import { rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { fromRandomAccess } from '../sources/core/fromRandomAccess.js';
import type { RandomAccess } from '../sources/core/randomAccess.js';
import { fromWebDataset, webDatasetIndexed, type WebDatasetInput, type WebDatasetSample } from '../sources/webdataset/index.js';
import { sidecarPath } from '../sources/webdataset/sampleIndex.js';
import { blockShuffle, globalShuffle, orderOf, type SamplerSpec } from '../src/sampler.js';
import { benchS3Store, benchShards, publishToNginx, publishToS3, section } from './benchShards.js';
import { consume, root } from './randomAccessLocal.js';
import { compare, fmt, median, method, printTable } from './rounds.js';

const SHARDS = 16;
const PER_SHARD = 1_250;
const SAMPLES = SHARDS * PER_SHARD;
const dir = join(root, '.tmp', 'bench', 'wds-ra');

/** Build the index `runs` times (after a warm-up); answers the last dataset and the median seconds. */
async function timedIndex(
  build: () => Promise<RandomAccess<WebDatasetSample>>,
  runs: number,
): Promise<{ dataset: RandomAccess<WebDatasetSample>; seconds: number }> {
  const times: number[] = [];
  let dataset: RandomAccess<WebDatasetSample> | undefined;
  for (let run = 0; run <= runs; run++) {
    await dataset?.close();
    const start = performance.now();
    dataset = await build();
    if (run > 0) times.push((performance.now() - start) / 1000);
  }
  return { dataset: dataset!, seconds: median(times) };
}

const indexRows: string[][] = [];

/** Sequential, block shuffle (k = 4) and global shuffle over one store, interleaved. */
async function remote(store: string, input: WebDatasetInput, bytes: number): Promise<void> {
  const { dataset, seconds } = await timedIndex(() => webDatasetIndexed(input), 3);
  indexRows.push([`remote scan (${store}, one GET per shard), median of 3`, `${fmt(seconds, 3)} s, ${fmt(bytes / seconds / 1e6)} MB/s`]);
  // The block shuffle as it is meant to run over a store: whole shards cached (2k of them, so the
  // next block's shards arrive while this block is read) and reads far enough ahead to start them.
  const cached = await webDatasetIndexed(input, { cacheShards: 8 });
  try {
    await compare(
      `3. WebDataset over ${store}: ${SHARDS} shards x ${PER_SHARD} samples; sequential vs block shuffle (goal >= 0.8) and global shuffle (contrast)`,
      [
        { name: 'fromWebDataset (stream)', run: () => consume(fromWebDataset(input)) },
        {
          name: 'blockShuffle k = 4, cacheShards 8, reads 16 x 512 ahead',
          run: (round) =>
            consume(
              fromRandomAccess(cached, { sampler: blockShuffle({ seed: round, shardsPerBlock: 4 }), readSize: 512, readsInFlight: 16 }),
            ),
        },
        {
          name: 'blockShuffle k = 4, no cache',
          run: (round) => consume(fromRandomAccess(dataset, { sampler: blockShuffle({ seed: round, shardsPerBlock: 4 }), readSize: 64 })),
        },
        {
          name: 'globalShuffle, readSize 64',
          run: (round) => consume(fromRandomAccess(dataset, { sampler: globalShuffle({ seed: round }), readSize: 64 })),
        },
      ],
      SAMPLES,
      bytes,
    );
  } finally {
    await dataset.close();
    await cached.close();
  }
}

/**
 * Range reads one epoch costs with `readSize` 64 (what `fromRandomAccess` asks the dataset at a
 * time): the distinct indices of each read, sorted, cut into runs of neighbours inside one shard
 * (at most 256), as `readCoalesced` does. Each run is one Range GET.
 */
function rangeReadsPerEpoch(sampler: SamplerSpec, shardEnds: readonly number[]): number {
  const order = orderOf(sampler, SAMPLES, 0, shardEnds);
  let reads = 0;
  for (let first = 0; first < order.length; first += 64) {
    const indices = Array.from({ length: Math.min(64, order.length - first) }, (_, offset) => order.at(first + offset)).sort(
      (a, b) => a - b,
    );
    let runLength = 0;
    indices.forEach((index, at) => {
      const previous = indices[at - 1];
      const sameShard = previous !== undefined && Math.floor(previous / PER_SHARD) === Math.floor(index / PER_SHARD);
      if (previous !== undefined && index === previous + 1 && sameShard && runLength < 256) runLength++;
      else {
        reads++;
        runLength = 1;
      }
    });
  }
  return reads;
}

export async function webDatasetSection(): Promise<void> {
  const paths = await benchShards(dir, 'ra', SHARDS, SAMPLES);
  let bytes = 0;
  for (const path of paths) bytes += (await stat(path)).size;
  console.log(`\n3. WebDataset: ${SHARDS} shards x ${PER_SHARD} samples (12 KiB .bin + .cls), ${fmt(bytes / 1e6, 1)} MB`);
  console.log('Index of the remote shards: built once per store by a scan before its rounds (timed in 4b), not from sidecars.');
  method();

  // 4 (local part): the seeking header scan, then the sidecars it writes and loads.
  for (const path of paths) await rm(sidecarPath(path), { force: true });
  const scan = await timedIndex(() => webDatasetIndexed(paths), 3);
  await scan.dataset.close();
  indexRows.push([
    'local scan (seeking, headers only), median of 3',
    `${fmt(scan.seconds, 3)} s, ${fmt(bytes / scan.seconds / 1e6)} MB/s of shard`,
  ]);
  await (await webDatasetIndexed(paths, { saveIndex: true })).close();
  let sidecarBytes = 0;
  for (const path of paths) sidecarBytes += (await stat(sidecarPath(path))).size;
  const loaded = await timedIndex(() => webDatasetIndexed(paths), 3);
  await loaded.dataset.close();
  indexRows.push(['open from the sidecars, median of 3', `${fmt(loaded.seconds, 3)} s`]);
  indexRows.push(['sidecar <shard>.idx.json', `${fmt(sidecarBytes)} B, ${fmt(sidecarBytes / SAMPLES, 1)} B/sample`]);

  const endpoint = process.env.RXFEED_HTTP_ENDPOINT;
  if (endpoint !== undefined && endpoint !== '') {
    await section('nginx', async () => {
      const names = await publishToNginx(root, 'wds-ra-bench', paths);
      await remote(
        'nginx (HTTP Range GETs)',
        names.map((name) => `${endpoint}/www/${name}`),
        bytes,
      );
    });
  } else {
    console.log('\nnginx: skipped (RXFEED_HTTP_ENDPOINT not set; run scripts/start-nginx.sh)');
  }

  const store = benchS3Store();
  if (store !== undefined) {
    await section('s3', async () => {
      const keys = await publishToS3(store, 'wds-ra', paths);
      await remote('s3 (Ceph RGW)', { store, keys }, bytes);
    });
  } else {
    console.log('\ns3: skipped (RXFEED_S3_ENDPOINT not set; run scripts/start-rgw.sh)');
  }
  const shardEnds = Array.from({ length: SHARDS }, (_, shard) => (shard + 1) * PER_SHARD);
  const perEpoch = (sampler: SamplerSpec): string => fmt(rangeReadsPerEpoch(sampler, shardEnds));
  console.log(
    `\nRange GETs per epoch of ${SAMPLES} samples (readSize 64, seed 1): blockShuffle k = 4: ${perEpoch(blockShuffle({ seed: 1, shardsPerBlock: 4 }))}, ` +
      `globalShuffle: ${perEpoch(globalShuffle({ seed: 1 }))}; fromWebDataset streams ${SHARDS} GETs, and so does blockShuffle with cacheShards.`,
  );
  printTable('4b. WebDataset sample index (excluded from the timed loops)', ['measure', 'value'], indexRows);
}
