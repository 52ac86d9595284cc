// Operator throughput: items/s through shard + shuffleBuffer + batch + collate, against a raw
// for-loop doing the same work (strided shard, reservoir shuffle, batching, filling typed arrays).
// Run: npm run build && node dist/bench/operators.js
import { lastValueFrom, reduce } from 'rxjs';
import { batch } from '../operators/batch.js';
import { collate } from '../operators/collate.js';
import { shuffleBuffer } from '../operators/shuffleBuffer.js';
import { fromItems, shard } from '../src/index.js';
import { Random } from '../src/random.js';

const N = 400_000;
const FEATURES = 16;
const SHUFFLE = 8192;
const BATCH = 64;
const WORLD = 2;
const ROUNDS = 5;

interface Sample {
  readonly features: Float32Array;
  readonly label: number;
}

const samples: Sample[] = Array.from({ length: N }, (_, i) => ({
  features: new Float32Array(FEATURES).fill(i % 97),
  label: i % 10,
}));

/** The same work written by hand: what the operators should come close to. */
function rawLoop(): number {
  const random = new Random(7);
  const reservoir: Sample[] = [];
  let pending: Sample[] = [];
  let checksum = 0;
  const flush = (): void => {
    const features = new Float32Array(pending.length * FEATURES);
    const labels = new Int32Array(pending.length);
    for (let row = 0; row < pending.length; row++) {
      features.set(pending[row]!.features, row * FEATURES);
      labels[row] = pending[row]!.label;
    }
    checksum += labels[0]! + features.length;
    pending = [];
  };
  const emit = (sample: Sample): void => {
    pending.push(sample);
    if (pending.length === BATCH) flush();
  };
  for (let i = 0; i < N; i++) {
    if (i % WORLD !== 0) continue; // rank 0 of 2, strided
    const sample = samples[i]!;
    if (reservoir.length < SHUFFLE) {
      reservoir.push(sample);
      continue;
    }
    const slot = random.int(SHUFFLE);
    emit(reservoir[slot]!);
    reservoir[slot] = sample;
  }
  while (reservoir.length > 0) {
    const slot = random.int(reservoir.length);
    emit(reservoir[slot]!);
    reservoir[slot] = reservoir[reservoir.length - 1]!;
    reservoir.pop();
  }
  if (pending.length > 0) flush();
  return checksum;
}

async function pipeline(): Promise<number> {
  // A generator source (size unknown), so shard takes the strided split as the raw loop does.
  const source = fromItems(() => samples, { chunkSize: 256 });
  return lastValueFrom(
    source.pipe(
      shard({ rank: 0, worldSize: WORLD }),
      shuffleBuffer(SHUFFLE, { seed: 7 }),
      batch(BATCH),
      collate(),
      reduce((sum, b) => sum + (b.label.data as Int32Array)[0]! + b.features.data.length, 0),
    ),
  );
}

async function measure(name: string, run: () => number | Promise<number>): Promise<number> {
  await run(); // warm-up
  const rates: number[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    const started = performance.now();
    await run();
    rates.push(N / ((performance.now() - started) / 1000));
  }
  rates.sort((a, b) => a - b);
  const median = rates[Math.floor(rates.length / 2)]!;
  console.log(`${name.padEnd(44)} ${Math.round(median).toLocaleString('en-US').padStart(12)} items/s`);
  return median;
}

console.log(
  `operators: ${N.toLocaleString('en-US')} items of ${FEATURES} float32 + a label, rank 0 of ${WORLD}, shuffle ${SHUFFLE}, batch ${BATCH}; median of ${ROUNDS}`,
);
const raw = await measure('raw for-loop (reference)', rawLoop);
const piped = await measure('shard + shuffleBuffer + batch + collate', pipeline);
console.log(`${'ratio pipeline / raw'.padEnd(44)} ${(piped / raw).toFixed(2).padStart(12)}x`);
