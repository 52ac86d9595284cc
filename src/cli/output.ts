/**
 * What every command of the `rxfeed` command line shares: one JSON document or a plain table on
 * stdout, one line on stderr for a failure, and the exit status that goes with it.
 *
 * @module
 * @internal
 */
import { RxfeedError } from '../errors.js';

/** Exit status of a typed failure (an {@link RxfeedError}: bad input, a corrupt shard, a server's refusal). */
export const EXIT_FAILURE = 1;
/** Exit status of a usage error (an unknown option, a missing argument), as commander reports it. */
export const EXIT_USAGE = 2;
/** Exit status of a failure rxfeed did not type: a bug (BSD's `EX_SOFTWARE`). */
export const EXIT_SOFTWARE = 70;
/** Exit status after Ctrl-C (128 + SIGINT), as shells report it. */
export const EXIT_INTERRUPTED = 130;

/** Longest value excerpt shown by `inspect`, in characters. */
export const EXCERPT_CHARS = 60;

/** Options every command takes. */
export interface CommonOptions {
  /** Print one JSON document instead of tables. */
  readonly json?: boolean;
  /** Print the stack of an unexpected error. */
  readonly debug?: boolean;
}

/**
 * One run of a command: where it writes, and the signal Ctrl-C aborts (loops stop at once and
 * close their sources).
 */
export interface CliRun {
  readonly signal: AbortSignal;
  /** Writes a line (or lines) to stdout. */
  readonly print: (text: string) => void;
}

/** A `JSON.stringify` replacer writing bigints as strings: JSON has no 64-bit integers. */
export const bigintsAsStrings = (_key: string, entry: unknown): unknown => (typeof entry === 'bigint' ? entry.toString() : entry);

/** The JSON document a command prints: bigints become strings (JSON has no 64-bit integers). */
export function jsonText(value: unknown): string {
  return JSON.stringify(value, bigintsAsStrings, 2);
}

/** A right-aligned number column unless the header says otherwise. */
export interface Column {
  readonly header: string;
  readonly align?: 'left' | 'right';
}

/** Rows as a plain-text table: a header, a rule, one line per row, columns padded to their widest cell. */
export function table(columns: readonly Column[], rows: readonly (readonly (string | number | null | undefined)[])[]): string {
  const cells = rows.map((row) => columns.map((_column, index) => cellText(row[index])));
  const widths = columns.map((column, index) => Math.max(column.header.length, ...cells.map((row) => row[index]!.length)));
  const line = (row: readonly string[]): string =>
    row
      .map((cell, index) => (columns[index]!.align === 'left' ? cell.padEnd(widths[index]!) : cell.padStart(widths[index]!)))
      .join('  ')
      .trimEnd();
  return [line(columns.map((column) => column.header)), widths.map((width) => '-'.repeat(width)).join('  '), ...cells.map(line)].join('\n');
}

function cellText(cell: string | number | null | undefined): string {
  if (cell === null || cell === undefined) return '-';
  return typeof cell === 'number' ? String(cell) : cell;
}

/** `1536` as `1.5 KiB`: for people; JSON output keeps exact byte counts. */
export function formatBytes(bytes: number | null): string {
  if (bytes === null) return '-';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return unit === 0 ? `${bytes} B` : `${value.toFixed(1)} ${units[unit]}`;
}

const CONTROL = /[\u0000-\u001f\u007f\u2028\u2029]/g;
const ESCAPES: Readonly<Record<string, string>> = { '\n': '\\n', '\r': '\\r', '\t': '\\t' };

/**
 * At most `max` characters of `text` as shown, then `...` when cut: control characters are shown
 * as escapes (`\n`, `\u0000`), so one excerpt stays on one line and a terminal never sees them.
 */
export function excerptText(text: string, max = EXCERPT_CHARS): string {
  // Escapes only lengthen, so the first max + 1 characters are all that can show.
  const shown = text
    .slice(0, max + 1)
    .replace(CONTROL, (character) => ESCAPES[character] ?? `\\u${character.charCodeAt(0).toString(16).padStart(4, '0')}`);
  if (shown.length <= max && text.length <= max) return shown;
  return `${shown.slice(0, max).replace(/\\(?:u[0-9a-f]{0,3})?$/, '')}...`;
}

/**
 * `text` with anything that may be a credential removed: the user part of URLs
 * (`mongodb://user:pass@host`) and the values of the AWS secret variables.
 */
export function redact(text: string, env: Readonly<Record<string, string | undefined>> = process.env): string {
  // Up to the last `@` of the authority: a password may hold `@` (URL parsers split at the last one).
  let shown = text.replace(/([a-z][a-z0-9+.-]*:\/\/)[^/\s]*@/gi, '$1***@');
  for (const name of ['AWS_SECRET_ACCESS_KEY', 'AWS_SESSION_TOKEN', 'AWS_ACCESS_KEY_ID']) {
    const secret = env[name];
    if (secret !== undefined && secret.length >= 4) shown = shown.split(secret).join('***');
  }
  return shown;
}

/**
 * The line a failed command prints on stderr and its exit status: `rxfeed <command>: <code>:
 * <message>` and 1 for an {@link RxfeedError}; `rxfeed <command>: internal error: <message>` and
 * 70 for anything else (with its stack under `--debug`). One line: newlines in a message become
 * spaces, and credentials are redacted.
 */
export function failure(command: string, error: unknown, debug: boolean): { text: string; status: number } {
  const oneLine = (message: string): string => redact(message.replace(/\s*\n\s*/g, ' '));
  if (error instanceof RxfeedError) {
    return { text: `rxfeed ${command}: ${error.code}: ${oneLine(error.message)}`, status: EXIT_FAILURE };
  }
  const message = error instanceof Error ? error.message : String(error);
  const stack = debug && error instanceof Error && error.stack !== undefined ? `\n${redact(error.stack)}` : '';
  return { text: `rxfeed ${command}: internal error: ${oneLine(message)}${stack}`, status: EXIT_SOFTWARE };
}
