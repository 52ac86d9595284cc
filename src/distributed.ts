/**
 * Where this process sits in a distributed job: rank and world size, as torchrun sets them.
 *
 * @module
 */
import { InvalidArgumentError } from './errors.js';

/**
 * A rank x worker position. `rank`/`worldSize` split the job across processes (torchrun's `RANK`
 * and `WORLD_SIZE`), `workerIndex`/`numWorkers` split one rank's share across its loading workers.
 * @public
 */
export interface Placement {
  readonly rank: number;
  readonly worldSize: number;
  readonly workerIndex: number;
  readonly numWorkers: number;
}

function integerFromEnv(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new InvalidArgumentError(`env ${name}`, `must be a non-negative integer, got '${raw}'`);
  }
  return value;
}

/**
 * Fill in a placement: explicit options win, then `RANK` and `WORLD_SIZE` from the environment,
 * then a single process (rank 0 of 1) with one worker. Validates every field.
 *
 * @param options - Any fields the caller knows.
 * @param where - Name used in errors, e.g. `shard`.
 * @returns A complete, validated placement.
 * @public
 */
export function resolvePlacement(options: Partial<Placement> = {}, where = 'placement'): Placement {
  const rank = options.rank ?? integerFromEnv('RANK', 0);
  const worldSize = options.worldSize ?? integerFromEnv('WORLD_SIZE', 1);
  const workerIndex = options.workerIndex ?? 0;
  const numWorkers = options.numWorkers ?? 1;
  for (const [name, value] of Object.entries({ rank, worldSize, workerIndex, numWorkers })) {
    if (!Number.isSafeInteger(value) || value < 0) {
      throw new InvalidArgumentError(`${where}.${name}`, `must be a non-negative integer, got ${value}`);
    }
  }
  if (worldSize < 1) throw new InvalidArgumentError(`${where}.worldSize`, 'must be at least 1');
  if (numWorkers < 1) throw new InvalidArgumentError(`${where}.numWorkers`, 'must be at least 1');
  if (rank >= worldSize) {
    throw new InvalidArgumentError(`${where}.rank`, `${rank} is not below worldSize ${worldSize}`);
  }
  if (workerIndex >= numWorkers) {
    throw new InvalidArgumentError(`${where}.workerIndex`, `${workerIndex} is not below numWorkers ${numWorkers}`);
  }
  return { rank, worldSize, workerIndex, numWorkers };
}
