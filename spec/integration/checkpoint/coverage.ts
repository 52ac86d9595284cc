// The checker of the kill-and-resume run (issue 13), as pure functions over what the trainers
// wrote: which checkpoint a restarted job resumes from, which logged batches survive the roll-back
// of a kill, and whether each epoch of that history is exactly the uninterrupted run's.

/** One batch a trainer logged: its step (counted across runs and epochs), its epoch, its sample ids. */
export interface LogLine {
  readonly step: number;
  readonly epoch: number;
  readonly ids: readonly number[];
}

/** What one run (one world size, until killed or done) logged, one list of lines per rank. */
export interface RunLog {
  readonly run: string;
  readonly ranks: readonly (readonly LogLine[])[];
}

/** One rank's checkpoint file, as its name says. */
export interface CheckpointFile {
  readonly run: string;
  readonly step: number;
  readonly rank: number;
  readonly worldSize: number;
}

/** Where a restarted job resumes: a step every rank of one run checkpointed. */
export interface CompleteCheckpoint {
  readonly run: string;
  readonly step: number;
  readonly worldSize: number;
}

/**
 * The file name of a rank's checkpoint. The run and its world size are in it so that a file an
 * earlier run left at a step a later run reaches again is never taken for the later run's.
 */
export function checkpointName(file: CheckpointFile): string {
  return `ckpt-${file.run}-step${file.step}-rank${file.rank}-of${file.worldSize}.json`;
}

const CHECKPOINT_NAME = /^ckpt-([a-z0-9]+)-step(\d+)-rank(\d+)-of(\d+)\.json$/;

/** A checkpoint file's name read back; undefined for any other file (a temporary one, a log). */
export function parseCheckpointName(name: string): CheckpointFile | undefined {
  const match = CHECKPOINT_NAME.exec(name);
  if (match === null) return undefined;
  const [run, step, rank, worldSize] = [match[1]!, Number(match[2]), Number(match[3]), Number(match[4])];
  return rank < worldSize ? { run, step, rank, worldSize } : undefined;
}

/**
 * The highest step that every rank of a run checkpointed (undefined: none, start afresh). A step
 * only some ranks reached before the kill is not complete: resuming there would need the missing
 * ranks' states.
 */
export function lastCompleteCheckpoint(names: readonly string[]): CompleteCheckpoint | undefined {
  const ranks = new Map<string, Set<number>>();
  for (const name of names) {
    const file = parseCheckpointName(name);
    if (file === undefined) continue;
    const key = `${file.run}/${file.step}/${file.worldSize}`;
    const seen = ranks.get(key) ?? new Set<number>();
    seen.add(file.rank);
    ranks.set(key, seen);
  }
  let best: CompleteCheckpoint | undefined;
  for (const [key, seen] of ranks) {
    const [run, step, worldSize] = key.split('/') as [string, string, string];
    if (seen.size !== Number(worldSize)) continue;
    if (best === undefined || Number(step) > best.step) best = { run, step: Number(step), worldSize: Number(worldSize) };
  }
  return best;
}

/**
 * A trainer's log (one JSON line per batch) read back.
 *
 * @throws Error naming `where` and the line when a line is not a log line: the trainer writes each
 *   whole with one append, so a torn line means the log is not what the checker assumes.
 */
export function parseLog(text: string, where: string): LogLine[] {
  return text
    .split('\n')
    .filter((line) => line !== '')
    .map((line, i) => {
      const value = JSON.parse(line) as Partial<LogLine>;
      const { step, epoch, ids } = value;
      if (!Number.isSafeInteger(step) || !Number.isSafeInteger(epoch) || !Array.isArray(ids) || !ids.every(Number.isSafeInteger)) {
        throw new Error(`${where}: line ${i + 1} is not {step, epoch, ids}: ${line.slice(0, 200)}`);
      }
      return { step: step!, epoch: epoch!, ids };
    });
}

/**
 * The batches that count: a kill rolls the model back to the checkpoint the next run resumes
 * from, so what any rank of a run trained on after that step is discarded (it is read again).
 * `resumedFrom[k]` is the step run `k + 1` resumed from; the last run's lines all count.
 */
export function effectiveHistory(runs: readonly RunLog[], resumedFrom: readonly number[]): LogLine[] {
  if (resumedFrom.length !== runs.length - 1) {
    throw new Error(`effectiveHistory: ${runs.length} runs need ${runs.length - 1} resume steps, got ${resumedFrom.length}`);
  }
  return runs.flatMap((run, k) => {
    // A later run may resume from an earlier step still (when a run checkpointed nothing whole):
    // every later roll-back applies.
    const limit = Math.min(Infinity, ...resumedFrom.slice(k));
    return run.ranks.flatMap((lines) => lines.filter((line) => line.step <= limit));
  });
}

/**
 * The global steps of an uninterrupted run: step `t` reads positions `[t * G, (t + 1) * G)` of the
 * epoch's order. The last `length % G` positions are left out with `'drop'`, and are the last,
 * short step with `'pad'` (its pad rows carry no sample).
 *
 * @param at - The sample id at a position of the epoch's order.
 */
export function uninterruptedSteps(
  length: number,
  globalBatch: number,
  at: (position: number) => number,
  endOfEpoch: 'drop' | 'pad' = 'drop',
): number[][] {
  const steps = endOfEpoch === 'drop' ? Math.floor(length / globalBatch) : Math.ceil(length / globalBatch);
  return Array.from({ length: steps }, (_, t) =>
    Array.from({ length: Math.min(globalBatch, length - t * globalBatch) }, (_, k) => at(t * globalBatch + k)),
  );
}

/** How one epoch of a history compares with the uninterrupted run's steps. */
export interface EpochReport {
  readonly epoch: number;
  /** Sample rows received in the epoch, repeats counted. */
  readonly rows: number;
  /** Ids the uninterrupted run reads and the history never received. */
  readonly lost: readonly number[];
  /** Ids received more than once. */
  readonly duplicated: readonly number[];
  /** Ids received that the uninterrupted run does not read (its dropped tail, or no sample at all). */
  readonly unexpected: readonly number[];
  /** Steps `t` (in the epoch, from 0) whose ids, over every rank, are not the uninterrupted run's step `t`. */
  readonly misplacedSteps: readonly number[];
}

/**
 * Compare epoch `epoch` of `history` with the uninterrupted run's `steps`: every sample exactly
 * once, and each global step (the lines of one step number, over every rank that logged it, in
 * step order) the same samples as the uninterrupted run's step at that place.
 */
export function checkEpoch(history: readonly LogLine[], epoch: number, steps: readonly (readonly number[])[]): EpochReport {
  const lines = history.filter((line) => line.epoch === epoch);
  const counts = new Map<number, number>();
  for (const line of lines) for (const id of line.ids) counts.set(id, (counts.get(id) ?? 0) + 1);
  const expected = new Set(steps.flat());
  const byStep = new Map<number, number[]>();
  for (const line of lines) byStep.set(line.step, [...(byStep.get(line.step) ?? []), ...line.ids]);
  const sortedIds = (ids: readonly number[]): string => JSON.stringify([...ids].sort((a, b) => a - b));
  const stepNumbers = [...byStep.keys()].sort((a, b) => a - b);
  const misplacedSteps: number[] = [];
  for (let t = 0; t < Math.max(stepNumbers.length, steps.length); t++) {
    const got = t < stepNumbers.length ? byStep.get(stepNumbers[t]!)! : [];
    if (sortedIds(got) !== sortedIds(steps[t] ?? [])) misplacedSteps.push(t);
  }
  const ascending = (ids: Iterable<number>): number[] => [...ids].sort((a, b) => a - b);
  return {
    epoch,
    rows: lines.reduce((sum, line) => sum + line.ids.length, 0),
    lost: ascending([...expected].filter((id) => !counts.has(id))),
    duplicated: ascending([...counts].filter(([, count]) => count > 1).map(([id]) => id)),
    unexpected: ascending([...counts.keys()].filter((id) => !expected.has(id))),
    misplacedSteps,
  };
}
