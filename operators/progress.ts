import type { MonoTypeOperatorFunction } from 'rxjs';
import { operate } from '../src/operate.js';
import { shortVerdict } from '../src/report.js';

/** Where {@link progress} writes: a stream with an optional `isTTY`, like `process.stderr`. */
export interface ProgressOutput {
  readonly isTTY?: boolean;
  write(text: string): unknown;
}

/** Options of {@link progress}. */
export interface ProgressOptions<T> {
  /** Shown before the counts (default `items`). */
  readonly label?: string;
  /**
   * Expected total, for a percentage and an ETA; default: the dataset size when known and no
   * `weight` is given.
   */
  readonly total?: number;
  /** How much each item counts (e.g. `batch => batch.length` to count samples); default 1. */
  readonly weight?: (item: T) => number;
  /** Where to write; default `process.stderr`. */
  readonly output?: ProgressOutput;
  /**
   * Milliseconds between reports: on a terminal the line is redrawn in place at this rate (default
   * 200); elsewhere (CI logs, files) a new line is written at this rate (default 10 000).
   */
  readonly intervalMs?: number;
  /**
   * End each line with the bottleneck in a few words, from the pipeline's timing (`loop waited 31%:
   * parallelMap 98% busy`; see `Loader.report()`), once the loop has received an item; default
   * true.
   */
  readonly verdict?: boolean;
}

/** Formats a count with thousands separators and at most one decimal. */
function formatCount(value: number): string {
  return value.toLocaleString('en-US', { maximumFractionDigits: value < 100 ? 1 : 0 });
}

function formatDuration(ms: number): string {
  const seconds = Math.round(ms / 1000);
  const h = Math.floor(seconds / 3600);
  const m = Math.floor((seconds % 3600) / 60);
  const s = seconds % 60;
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${String(s).padStart(2, '0')}` : `${m}:${String(s).padStart(2, '0')}`;
}

/**
 * Report progress and throughput of a long run, without changing the stream.
 *
 * On a terminal it redraws one line in place; in logs it writes a line every `intervalMs` and a
 * final line at completion: `label: 12,345/50,000 (24.7%) 5,432/s elapsed 0:02 eta 0:06 (loop
 * waited 31%: parallelMap 98% busy)`. The part in brackets is the bottleneck so far, from the
 * stages' timing (see `Loader.report()`); it appears once a loader's loop has received an item.
 * Time comes from the pipeline's scheduler, so marble tests see virtual time.
 *
 * @example
 * ```ts
 * import { progress, toLoader } from 'rxfeed';
 * import type { Observable } from 'rxjs';
 * declare const batches: Observable<{ rows: unknown[] }>;
 * const loader = toLoader(batches.pipe(progress({ label: 'samples', weight: (b) => b.rows.length })));
 * ```
 *
 * @param options - See {@link ProgressOptions}.
 * @returns An operator passing every item through unchanged.
 * @public
 */
export function progress<T>(options: ProgressOptions<T> = {}): MonoTypeOperatorFunction<T> {
  return (source) =>
    operate<T, T>(source, (op) => {
      const scheduler = op.context.flow.scheduler;
      const output = options.output ?? process.stderr;
      const tty = output.isTTY === true;
      const interval = options.intervalMs ?? (tty ? 200 : 10_000);
      const label = options.label ?? 'items';
      const started = scheduler.now();
      let count = 0;
      let lastReport = started;
      // The dataset size counts items; with a weight the units differ, so only an explicit total.
      const total = (): number | undefined => options.total ?? (options.weight === undefined ? op.input.size : undefined);

      const line = (): string => {
        const elapsed = scheduler.now() - started;
        const rate = elapsed > 0 ? (count * 1000) / elapsed : 0;
        const expected = total();
        let text = `${label}: ${formatCount(count)}`;
        if (expected !== undefined && expected > 0) {
          text += `/${formatCount(expected)} (${((100 * count) / expected).toFixed(1)}%)`;
        }
        text += ` ${formatCount(rate)}/s elapsed ${formatDuration(elapsed)}`;
        if (expected !== undefined && rate > 0 && count < expected) {
          text += ` eta ${formatDuration(((expected - count) / rate) * 1000)}`;
        }
        const verdict = options.verdict === false || !op.context.flow.timing ? undefined : shortVerdict(op.context.flow.snapshot());
        if (verdict !== undefined) text += ` (${verdict})`;
        return text;
      };
      const report = (final: boolean): void => {
        lastReport = scheduler.now();
        if (tty) output.write(`\r\x1b[2K${line()}${final ? '\n' : ''}`);
        else output.write(`${line()}\n`);
      };

      op.subscribe(source, {
        next: (value) => {
          count += options.weight ? options.weight(value) : 1;
          if (scheduler.now() - lastReport >= interval) report(false);
          op.next(value);
        },
        error: (error: unknown) => {
          try {
            report(true);
          } finally {
            // The upstream's error is the one to report, whatever the last write did.
            op.fail(error);
          }
        },
        complete: () => {
          report(true);
          op.complete();
        },
      });
    });
}
