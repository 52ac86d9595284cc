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

/**
 * Placement fields an operator's options may fix; the rest come from the environment.
 * @public
 */
export type PlacementOptions = Partial<Placement>;

/** The environment variables torchrun sets, by placement field. */
const ENVIRONMENT: Partial<Record<keyof Placement, string>> = { rank: 'RANK', worldSize: 'WORLD_SIZE' };
const DEFAULTS: Placement = { rank: 0, worldSize: 1, workerIndex: 0, numWorkers: 1 };
const FIELDS = ['rank', 'worldSize', 'workerIndex', 'numWorkers'] as const;

function integerFromEnv(name: string): number | undefined {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return undefined;
  const value = Number(raw);
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new InvalidArgumentError(`env ${name}`, `must be a non-negative integer, got '${raw.slice(0, 40)}'`);
  }
  return value;
}

/**
 * Fill in a placement: explicit options win, then `RANK` and `WORLD_SIZE` from the environment,
 * then a single process (rank 0 of 1) with one worker. Validates every field, and names where
 * each came from in errors: `shard.rank: 3 (from RANK) is not below worldSize 2 (from WORLD_SIZE)`.
 *
 * Operators resolve their placement from the subscription's context instead, so the environment
 * is read once per loader subscription.
 *
 * @param options - Any fields the caller knows.
 * @param where - Name used in errors, e.g. `shard`.
 * @returns A complete, validated placement.
 * @public
 */
export function resolvePlacement(options: PlacementOptions = {}, where = 'placement'): Placement {
  return resolvePlacementWithin(options, where, {});
}

/**
 * {@link resolvePlacement} with the environment read at most once into `environment.read`, which
 * a subscription's context shares among its operators.
 * @internal
 */
export function resolvePlacementWithin(
  options: PlacementOptions,
  where: string,
  environment: { read?: Partial<Record<keyof Placement, number>> },
  part?: Placement,
): Placement {
  checkIntegers(options, where);
  const values = {} as Record<keyof Placement, number>;
  const origins = {} as Record<keyof Placement, string>;
  for (const name of FIELDS) {
    const explicit = options[name];
    if (explicit !== undefined) {
      values[name] = explicit;
      origins[name] = `${where}.${name}`;
      continue;
    }
    if (part !== undefined) {
      // A worker pipeline's part: the main thread resolved rank and world size already.
      values[name] = part[name];
      origins[name] = 'the worker pipeline';
      continue;
    }
    const variable = ENVIRONMENT[name];
    if (variable !== undefined) {
      environment.read ??= {};
      if (!(name in environment.read)) environment.read[name] = integerFromEnv(variable);
      const fromEnvironment = environment.read[name];
      if (fromEnvironment !== undefined) {
        values[name] = fromEnvironment;
        origins[name] = variable;
        continue;
      }
    }
    values[name] = DEFAULTS[name];
    origins[name] = 'default';
  }
  const shown = (name: keyof Placement): string => `${values[name]} (from ${origins[name]})`;
  if (values.worldSize < 1) throw new InvalidArgumentError(`${where}.worldSize`, `${shown('worldSize')} must be at least 1`);
  if (values.numWorkers < 1) throw new InvalidArgumentError(`${where}.numWorkers`, `${shown('numWorkers')} must be at least 1`);
  if (values.rank >= values.worldSize) {
    throw new InvalidArgumentError(`${where}.rank`, `${shown('rank')} is not below worldSize ${shown('worldSize')}`);
  }
  if (values.workerIndex >= values.numWorkers) {
    throw new InvalidArgumentError(`${where}.workerIndex`, `${shown('workerIndex')} is not below numWorkers ${shown('numWorkers')}`);
  }
  return values;
}

/**
 * Check the placement fields an operator's options give, when the operator is applied: each a
 * non-negative integer, and rank below world size (worker below workers) when both are given.
 * What comes from the environment is checked when the pipeline is subscribed.
 * @internal
 */
export function checkPlacementOptions(options: PlacementOptions, where: string): void {
  checkIntegers(options, where);
  const { rank, worldSize, workerIndex, numWorkers } = options;
  if (worldSize !== undefined && worldSize < 1) throw new InvalidArgumentError(`${where}.worldSize`, 'must be at least 1');
  if (numWorkers !== undefined && numWorkers < 1) throw new InvalidArgumentError(`${where}.numWorkers`, 'must be at least 1');
  if (rank !== undefined && worldSize !== undefined && rank >= worldSize) {
    throw new InvalidArgumentError(`${where}.rank`, `${rank} is not below worldSize ${worldSize}`);
  }
  const workers = numWorkers ?? 1;
  if (workerIndex !== undefined && workerIndex >= workers) {
    throw new InvalidArgumentError(`${where}.workerIndex`, `${workerIndex} is not below numWorkers ${workers}`);
  }
}

/** Each placement field `options` gives is a non-negative integer. */
function checkIntegers(options: PlacementOptions, where: string): void {
  for (const name of FIELDS) {
    const value = options[name];
    if (value !== undefined && !(Number.isSafeInteger(value) && value >= 0)) {
      throw new InvalidArgumentError(`${where}.${name}`, `must be a non-negative integer, got ${String(value)}`);
    }
  }
}
