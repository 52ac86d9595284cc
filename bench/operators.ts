// Operator throughput: items/s through shard + shuffleBuffer + batch + collate, against a raw
// for-loop doing the same work (strided shard, reservoir shuffle, batching, filling typed arrays),
// and the same two without the shuffle, to show what shuffleBuffer costs on its own.
// Only rank 0's half of the items is processed, and that half is what is counted.
// Run: npx tsc -p tsconfig.json && node dist/bench/operators.js [--rounds 5]
import { lastValueFrom, type Observable, reduce } from 'rxjs';
import { batch } from '../operators/batch.js';
import { collate } from '../operators/collate.js';
import { shuffleBuffer } from '../operators/shuffleBuffer.js';
import { fromItems, shard } from '../src/index.js';
import { Random } from '../src/random.js';
import { compare, fmt, method, ratioCell, ROUNDS } from './rounds.js';

const N = 400_000;
const FEATURES = 16;
const SHUFFLE = 8192;
const BATCH = 64;
const WORLD = 2;
/** The items rank 0 of WORLD keeps (strided: i % WORLD === 0), the count every contender must process. */
const PROCESSED = Math.ceil(N / WORLD);

interface Sample {
  readonly features: Float32Array;
  readonly label: number;
}

const samples: Sample[] = Array.from({ length: N }, (_, i) => ({
  features: new Float32Array(FEATURES).fill(i % 97),
  label: i % 10,
}));

/** Keeps the batches' contents alive, so no contender's work can be skipped. */
let checksum = 0;

/** The same work written by hand: what the operators should come close to. Answers the rows batched. */
function rawLoop(shuffle: boolean): number {
  const random = new Random(7);
  const reservoir: Sample[] = [];
  let pending: Sample[] = [];
  let rows = 0;
  const flush = (): void => {
    const features = new Float32Array(pending.length * FEATURES);
    const labels = new Int32Array(pending.length);
    for (let row = 0; row < pending.length; row++) {
      features.set(pending[row]!.features, row * FEATURES);
      labels[row] = pending[row]!.label;
    }
    checksum += labels[0]! + features.length;
    rows += pending.length;
    pending = [];
  };
  const emit = (sample: Sample): void => {
    pending.push(sample);
    if (pending.length === BATCH) flush();
  };
  for (let i = 0; i < N; i++) {
    if (i % WORLD !== 0) continue; // rank 0 of 2, strided
    const sample = samples[i]!;
    if (!shuffle) {
      emit(sample);
      continue;
    }
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
  return rows;
}

/** The operators; answers the rows of the collated batches. */
async function pipeline(shuffle: boolean): Promise<number> {
  // A generator source (size unknown), so shard takes the strided split as the raw loop does.
  const source = fromItems(() => samples, { chunkSize: 256 }).pipe(shard({ rank: 0, worldSize: WORLD }));
  const shuffled: Observable<Sample> = shuffle ? source.pipe(shuffleBuffer(SHUFFLE, { seed: 7 })) : source;
  return lastValueFrom(
    shuffled.pipe(
      batch(BATCH),
      collate(),
      reduce((rows, b) => {
        checksum += (b.label.data as Int32Array)[0]! + b.features.data.length;
        return rows + b.label.shape[0]!;
      }, 0),
    ),
  );
}

console.log(
  `operators: ${fmt(N)} items of ${FEATURES} float32 + a label, rank 0 of ${WORLD} keeps ${fmt(PROCESSED)} ` +
    `(strided), shuffle ${SHUFFLE}, batch ${BATCH}`,
);
method();
const measured = await compare(
  `items/s processed (of ${fmt(PROCESSED)} per run)`,
  [
    { name: 'raw for-loop', run: async () => rawLoop(true) },
    { name: 'shard + shuffleBuffer + batch + collate', run: () => pipeline(true) },
    { name: 'raw for-loop, no shuffle', run: async () => rawLoop(false) },
    { name: 'shard + batch + collate (no shuffleBuffer)', run: () => pipeline(false) },
  ],
  PROCESSED,
);
console.log(`\nper-round ratios, ${ROUNDS} rounds: median (range)`);
console.log(`  operators / raw loop, with shuffle:        ${ratioCell(measured, 1, 0)}`);
console.log(`  operators / raw loop, no shuffle:          ${ratioCell(measured, 3, 2)}`);
console.log(`  operators with shuffleBuffer / without it: ${ratioCell(measured, 1, 3)}`);
console.log(`  raw loop with shuffle / without it:        ${ratioCell(measured, 0, 2)}`);
console.log(`(checksum ${checksum})`);
