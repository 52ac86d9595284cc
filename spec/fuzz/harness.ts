/**
 * The fuzz harness (parent side): runs each generated case in the fuzz worker, a child process
 * (see `worker.ts`), with a deadline, and checks the three invariants of issue 9 on its outcome:
 *
 * 1. the case ends: a deadline per case (`RXFEED_FUZZ_DEADLINE_MS`, default 2 s; a case over it is
 *    tried once more with 5x the time before it counts as a hang, so a loaded machine does not
 *    report one), after which the worker is killed and a fresh one started;
 * 2. it ends normally or with an `RxfeedError` whose `code` is `RXFEED_ERR_*`: anything else
 *    (a plain Error, an unhandled rejection, a native abort or OOM kill of the worker) fails;
 * 3. the largest single allocation stays within `perByte x inputBytes + constant`, the bound each
 *    parser's spec states (see `meter.ts` for what is metered).
 *
 * Budget: CI runs each property with a fixed seed and `RXFEED_FUZZ_RUNS` cases (default per spec);
 * `npm run fuzz` (scripts/fuzz.js) sets `RXFEED_FUZZ_TIME_MS` per parser and a seed instead.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import type { WorkerOutcome, WorkerRequest } from './worker.js';

/** How one case ended. */
export type Outcome =
  | WorkerOutcome
  | {
      readonly kind: 'hang' | 'crash';
      readonly error: string;
      readonly largest: number;
      readonly inputBytes: number;
      readonly code?: undefined;
    };

/** The allocation bound of a parser: the largest single allocation may be `perByte x input bytes + constant`. */
export interface AllocationBound {
  readonly perByte: number;
  readonly constant: number;
}

/** The fuzz settings of this run, from the environment. */
export interface FuzzConfig {
  readonly seed: number;
  /** Cases per property in CI mode; ignored when `timeLimitMs` is set. */
  readonly numRuns: number | undefined;
  /** Campaign mode: run each property for this long. */
  readonly timeLimitMs: number | undefined;
  readonly deadlineMs: number;
  /** Where stats and counterexamples go. */
  readonly reportDir: string;
  /** Replay one failing path that fast-check printed. */
  readonly path: string | undefined;
  /**
   * Survey mode: do not stop (nor shrink) at the first failing case; count every kind of failure
   * over the whole budget and save the first input of each.
   */
  readonly keepGoing: boolean;
}

/** The CI seed: fixed, so the suite runs the same cases every time. */
export const CI_SEED = 20261129;

function intFromEnv(name: string): number | undefined {
  const text = process.env[name];
  if (text === undefined || text === '') return undefined;
  const value = Number(text);
  if (!Number.isSafeInteger(value)) throw new Error(`${name} must be an integer, got ${text}`);
  return value;
}

/** The settings, from the environment as it is now. */
export function fuzzConfig(): FuzzConfig {
  return {
    seed: intFromEnv('RXFEED_FUZZ_SEED') ?? CI_SEED,
    numRuns: intFromEnv('RXFEED_FUZZ_RUNS'),
    timeLimitMs: intFromEnv('RXFEED_FUZZ_TIME_MS'),
    deadlineMs: intFromEnv('RXFEED_FUZZ_DEADLINE_MS') ?? 2000,
    reportDir: process.env.RXFEED_FUZZ_REPORT ?? join(process.cwd(), '.tmp', 'fuzz'),
    path: process.env.RXFEED_FUZZ_PATH || undefined,
    keepGoing: process.env.RXFEED_FUZZ_KEEP_GOING === '1',
  };
}

const workerPath = new URL('./worker.js', import.meta.url).pathname;

/** Runs cases of one target in a worker process, restarting it after a hang or a crash. */
export class CaseRunner {
  readonly #target: string;
  #child: ChildProcess | undefined;
  #ready: Promise<void> | undefined;
  #next = 0;
  #stderr = '';
  /** A hang was confirmed once: later timeouts are not retried (shrinking a hang stays quick). */
  #hangSeen = false;

  constructor(target: string) {
    this.#target = target;
  }

  #start(): Promise<void> {
    if (this.#ready !== undefined) return this.#ready;
    this.#stderr = '';
    const child = fork(workerPath, [this.#target], {
      serialization: 'advanced',
      stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
      // A 4 GiB claim must not take the machine: the worker's heap is bounded too.
      execArgv: ['--max-old-space-size=1024'],
    });
    child.stderr!.setEncoding('utf8').on('data', (text: string) => {
      this.#stderr = (this.#stderr + text).slice(-2000);
    });
    this.#child = child;
    // However it ends (killed, crashed, or exiting after a case that left it poisoned), the next case gets a fresh one.
    child.once('exit', () => {
      if (this.#child !== child) return;
      this.#child = undefined;
      this.#ready = undefined;
    });
    this.#ready = new Promise((resolve, reject) => {
      const onMessage = (message: { ready?: boolean }): void => {
        if (message.ready === true) {
          child.off('exit', onExit);
          child.off('message', onMessage);
          resolve();
        }
      };
      const onExit = (code: number | null): void => {
        this.#child = undefined;
        this.#ready = undefined;
        reject(new Error(`fuzz worker ${this.#target} exited (${code}) before it was ready: ${this.#stderr}`));
      };
      child.on('message', onMessage);
      child.once('exit', onExit);
    });
    return this.#ready;
  }

  #kill(): void {
    this.#child?.kill('SIGKILL');
    this.#child = undefined;
    this.#ready = undefined;
  }

  /**
   * Run one case to its outcome. Without `retry`, one attempt: a case that is slow but not hung
   * then needs a deadline that covers it.
   */
  async run(input: unknown, deadlineMs: number, retry = true): Promise<Outcome> {
    const first = await this.#attempt(input, deadlineMs);
    if (first.kind !== 'hang' || this.#hangSeen || !retry) return first;
    // Slow is not hung: once more, with five times the time, before calling it a hang.
    const second = await this.#attempt(input, deadlineMs * 5);
    if (second.kind === 'hang') this.#hangSeen = true;
    return second;
  }

  async #attempt(input: unknown, deadlineMs: number): Promise<Outcome> {
    await this.#start();
    const child = this.#child!;
    const id = this.#next++;
    return new Promise<Outcome>((resolve) => {
      const timer = setTimeout(() => {
        this.#kill();
        finish({ kind: 'hang', error: `no end within ${deadlineMs} ms`, largest: 0, inputBytes: -1 });
      }, deadlineMs);
      const finish = (outcome: Outcome): void => {
        clearTimeout(timer);
        child.off('message', onMessage);
        child.off('exit', onExit);
        resolve(outcome);
      };
      const onMessage = (message: { id?: number; outcome?: WorkerOutcome; retire?: boolean }): void => {
        if (message.id !== id) return;
        if (message.retire === true && this.#child === child) {
          // The worker exits after this answer: the next case starts a fresh one.
          this.#child = undefined;
          this.#ready = undefined;
        }
        finish(message.outcome!);
      };
      const onExit = (code: number | null, signal: string | null): void => {
        this.#child = undefined;
        this.#ready = undefined;
        finish({
          kind: 'crash',
          error: `worker died (exit ${code}, signal ${signal}): ${this.#stderr.trim().slice(-600)}`,
          largest: 0,
          inputBytes: -1,
        });
      };
      child.on('message', onMessage);
      child.once('exit', onExit);
      child.send({ id, input } satisfies WorkerRequest);
    });
  }

  /** Stop the worker (its target's teardown runs first). */
  async close(): Promise<void> {
    const child = this.#child;
    if (child === undefined || !child.connected) return;
    this.#child = undefined;
    this.#ready = undefined;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      child.once('exit', () => {
        clearTimeout(timer);
        resolve();
      });
      child.send({ close: true } satisfies WorkerRequest);
    });
  }
}

/** Why an outcome breaks an invariant, or `undefined` when it keeps them all. */
export function violation(outcome: Outcome, bound: AllocationBound): string | undefined {
  switch (outcome.kind) {
    case 'ok':
    case 'typed':
      break;
    default:
      return `${outcome.kind}: ${outcome.error}`;
  }
  const limit = bound.perByte * outcome.inputBytes + bound.constant;
  if (outcome.largest > limit) {
    return `allocated ${outcome.largest} bytes at once for ${outcome.inputBytes} input bytes (bound ${bound.perByte} x input + ${bound.constant} = ${limit})`;
  }
  return undefined;
}

/** Outcomes of one parser's cases, for the campaign report. */
export class Tally {
  readonly parser: string;
  cases = 0;
  /** Cases that broke an invariant. */
  broken = 0;
  /** In survey mode (`RXFEED_FUZZ_KEEP_GOING`), each kind of failure: how often, and its first input. */
  readonly failures: Record<string, { count: number; example: string; file: string }> = {};
  readonly outcomes: Record<string, number> = {};
  readonly codes: Record<string, number> = {};
  /** Largest single allocation seen, and the input size it was seen with. */
  largest = { bytes: 0, inputBytes: 0 };
  /** Largest `(allocation - constant) / input bytes`: the per-byte factor actually needed. */
  perByte = 0;
  /** Largest `allocation / input bytes` over inputs of 4 KiB or more (below, the constant dominates). */
  perInputByte = 0;
  readonly #started = performance.now();

  constructor(parser: string) {
    this.parser = parser;
  }

  add(outcome: Outcome, bound: AllocationBound): void {
    this.cases++;
    this.outcomes[outcome.kind] = (this.outcomes[outcome.kind] ?? 0) + 1;
    if (outcome.code !== undefined) this.codes[outcome.code] = (this.codes[outcome.code] ?? 0) + 1;
    if (outcome.largest > this.largest.bytes) this.largest = { bytes: outcome.largest, inputBytes: outcome.inputBytes };
    if (outcome.inputBytes > 0) this.perByte = Math.max(this.perByte, (outcome.largest - bound.constant) / outcome.inputBytes);
    if (outcome.inputBytes >= 4096) this.perInputByte = Math.max(this.perInputByte, outcome.largest / outcome.inputBytes);
  }

  get seconds(): number {
    return (performance.now() - this.#started) / 1000;
  }

  /** One line for the log. */
  summary(): string {
    const kinds = ['ok', 'typed', 'untyped', 'invariant', 'hang', 'crash', 'over-allocation']
      .map((kind) => `${kind} ${this.outcomes[kind] ?? 0}`)
      .join(', ');
    const codes = Object.entries(this.codes)
      .sort((a, b) => b[1] - a[1])
      .map(([code, count]) => `${code} ${count}`)
      .join(', ');
    return (
      `fuzz ${this.parser}: ${this.cases} cases in ${this.seconds.toFixed(1)} s (${(this.cases / this.seconds).toFixed(0)}/s); ${kinds}` +
      `${codes === '' ? '' : ` [${codes}]`}; largest allocation ${this.largest.bytes} B (input ${this.largest.inputBytes} B); ` +
      `per input byte: ${this.perInputByte.toFixed(3)} (inputs >= 4 KiB), ${Math.max(0, this.perByte).toFixed(3)} beyond the constant`
    );
  }
}

/** JSON with byte arrays as base64, for counterexample files. */
function serialise(value: unknown): string {
  return JSON.stringify(
    value,
    (_key, item: unknown) =>
      item instanceof Uint8Array ? { base64: Buffer.from(item).toString('base64') } : typeof item === 'bigint' ? String(item) : item,
    1,
  );
}

/** A short description fast-check prints for an input instead of its (possibly megabytes of) bytes. */
export function labelled<T extends object>(input: T, label: string): T {
  Object.defineProperty(input, fc.toStringMethod, { value: () => label, enumerable: false });
  Object.defineProperty(input, 'label', { value: label, enumerable: false });
  return input;
}

/** Options of {@link fuzzProperty}. */
export interface PropertyOptions<I> {
  /** The parser's name in reports and counterexample files, e.g. `tar`. */
  readonly parser: string;
  /** The target module under `targets/`. */
  readonly target: string;
  readonly arbitrary: fc.Arbitrary<I>;
  readonly bound: AllocationBound;
  /** Cases in CI mode, unless `RXFEED_FUZZ_RUNS` says otherwise. */
  readonly runs: number;
  /** Runner to reuse (the spec's fixtures share one); a fresh one is closed at the end otherwise. */
  readonly runner?: CaseRunner;
  /** Share of the spec file's campaign time this property gets (default 1). */
  readonly share?: number;
}

/**
 * Check the invariants over generated inputs; throws fast-check's report (seed, path, the shrunk
 * counterexample) on the first input that breaks one, after saving that input under the report
 * directory as `<parser>-counterexample.json`.
 */
export async function fuzzProperty<I>(options: PropertyOptions<I>): Promise<Tally> {
  const config = fuzzConfig();
  const tally = new Tally(options.parser);
  const runner = options.runner ?? new CaseRunner(options.target);
  mkdirSync(config.reportDir, { recursive: true });
  const counterexample = join(config.reportDir, `${options.parser}-counterexample.json`);
  const property = fc.asyncProperty(options.arbitrary, async (input) => {
    const started = performance.now();
    const outcome = await runner.run(input, config.deadlineMs);
    if (process.env.RXFEED_FUZZ_DEBUG)
      console.log(
        `${(performance.now() - started).toFixed(0)} ms at ${started.toFixed(0)} ${outcome.kind} ${(input as { label?: string }).label?.slice(0, 200)}`,
      );
    tally.add(outcome, options.bound);
    const broken = violation(outcome, options.bound);
    if (broken !== undefined && config.keepGoing) {
      // Survey mode: count each kind of failure, keep its first input, and go on.
      tally.broken++;
      const signature = broken.replace(/\d+/g, '#').slice(0, 160);
      const seen = tally.failures[signature];
      if (seen !== undefined) {
        seen.count++;
      } else {
        const file = join(config.reportDir, `${options.parser}-failure-${Object.keys(tally.failures).length + 1}.json`);
        writeFileSync(
          file,
          serialise({ parser: options.parser, seed: config.seed, broken, label: (input as { label?: string }).label, input }),
        );
        tally.failures[signature] = { count: 1, example: (input as { label?: string }).label ?? '', file };
      }
      return;
    }
    if (broken !== undefined) {
      tally.broken++;
      // Rewritten at each failure: the last one written is fast-check's final, shrunk counterexample.
      writeFileSync(
        counterexample,
        serialise({ parser: options.parser, seed: config.seed, broken, label: (input as { label?: string }).label, input }),
      );
      throw new Error(`${options.parser}: ${broken}`);
    }
  });
  const parameters: fc.Parameters<[I]> =
    config.timeLimitMs === undefined
      ? { seed: config.seed, numRuns: config.numRuns ?? options.runs, path: config.path }
      : {
          seed: config.seed,
          numRuns: Number.MAX_SAFE_INTEGER,
          interruptAfterTimeLimit: Math.max(1000, Math.round(config.timeLimitMs * (options.share ?? 1))),
          markInterruptAsFailure: false,
          path: config.path,
        };
  try {
    await fc.assert(property, parameters);
    // A campaign's time limit can land while a case is in flight, and fast-check then drops that
    // case's result: the tally still saw it, and a failure it saw is never let pass.
    if (tally.broken > 0 && config.keepGoing) {
      const kinds = Object.entries(tally.failures).map(
        ([signature, { count, example, file }]) => `  ${count} x ${signature}\n    first: ${example.slice(0, 300)}\n    saved: ${file}`,
      );
      throw new Error(`${options.parser}: ${tally.broken} case(s) broke an invariant:\n${kinds.join('\n')}`);
    }
    if (tally.broken > 0)
      throw new Error(`${options.parser}: ${tally.broken} case(s) broke an invariant (the last is in ${counterexample})`);
  } catch (error) {
    (error as Error).message += `\ncounterexample saved to ${counterexample}`;
    throw error;
  } finally {
    if (options.runner === undefined) await runner.close();
    console.log(tally.summary());
    writeFileSync(
      join(config.reportDir, `${options.parser}-stats.json`),
      JSON.stringify({ ...tally, seconds: tally.seconds, seed: config.seed, bound: options.bound }),
    );
  }
  return tally;
}

/**
 * Run one named fixture (a past crash input) and check the invariants on it, with five times the
 * case deadline (some fixtures are big: a million shard lengths) and no second attempt.
 */
export async function checkFixture(runner: CaseRunner, input: unknown, bound: AllocationBound): Promise<Outcome> {
  const outcome = await runner.run(input, fuzzConfig().deadlineMs * 5, false);
  const broken = violation(outcome, bound);
  if (broken !== undefined) throw new Error(broken);
  return outcome;
}
