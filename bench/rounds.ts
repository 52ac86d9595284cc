/**
 * The method every benchmark here follows: contenders interleaved inside each round (the order
 * rotating from round to round, so a burst of load on this shared machine falls on all of them
 * alike), one warm-up round not counted, medians of the rounds, and each contender set against a
 * reference by the median (and range) of its per-round ratios, never by its best round.
 *
 * @module
 */
const roundsArg = process.argv.indexOf('--rounds');
/** Timed rounds per comparison (after one warm-up round): `--rounds N`, default 5. */
export const ROUNDS = roundsArg > 0 ? Math.max(1, Number(process.argv[roundsArg + 1]) || 5) : 5;

export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

export const fmt = (value: number, digits = 0): string =>
  value.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });

export function printTable(title: string, header: readonly string[], rows: readonly (readonly string[])[]): void {
  console.log(`\n${title}`);
  const widths = header.map((cell, column) => Math.max(cell.length, ...rows.map((row) => row[column]!.length)));
  const line = (cells: readonly string[]): string =>
    cells.map((cell, column) => (column === 0 ? cell.padEnd(widths[column]!) : cell.padStart(widths[column]!))).join('  ');
  console.log(line(header));
  console.log(widths.map((width) => '-'.repeat(width)).join('  '));
  for (const row of rows) console.log(line(row));
}

/** One way of doing the work; `run` gets the round number (0 is the warm-up) and answers the items it handled. */
export interface Contender {
  readonly name: string;
  readonly run: (round: number) => Promise<number>;
}

/** What {@link rounds} measured: items/s per contender per timed round. */
export interface RoundRates {
  readonly contenders: readonly Contender[];
  /** `rates[c][r]`: contender `c`'s items/s in timed round `r`. */
  readonly rates: readonly (readonly number[])[];
}

/**
 * One warm-up round, then `count` timed rounds; inside each round every contender runs once, the
 * first to run rotating. Each run must handle `expected` items (a contender that drops or repeats
 * items fails the benchmark instead of looking fast).
 */
export async function rounds(contenders: readonly Contender[], expected: number, count = ROUNDS): Promise<RoundRates> {
  const rates = contenders.map(() => [] as number[]);
  for (let round = 0; round <= count; round++) {
    for (let turn = 0; turn < contenders.length; turn++) {
      const which = (round + turn) % contenders.length;
      const start = performance.now();
      const items = await contenders[which]!.run(round);
      const seconds = (performance.now() - start) / 1000;
      if (items !== expected) throw new Error(`${contenders[which]!.name}: handled ${items} items, expected ${expected}`);
      if (round > 0) rates[which]!.push(items / seconds);
    }
  }
  return { contenders, rates };
}

/** Per-round ratios of contender `which` to contender `reference`, as `median (min-max)`. */
export function ratioCell({ rates }: RoundRates, which: number, reference = 0): string {
  if (which === reference) return '1 (reference)';
  const ratios = rates[which]!.map((rate, round) => rate / rates[reference]![round]!);
  return `${fmt(median(ratios), 2)} (${fmt(Math.min(...ratios), 2)}-${fmt(Math.max(...ratios), 2)})`;
}

/**
 * {@link rounds}, printed as a table: median items/s, MB/s when `bytes` (per run) is given, and
 * the ratio to the first contender.
 */
export async function compare(title: string, contenders: readonly Contender[], expected: number, bytes?: number): Promise<RoundRates> {
  const measured = await rounds(contenders, expected);
  const rows = contenders.map((contender, which) => [
    contender.name,
    fmt(median(measured.rates[which]!)),
    ...(bytes === undefined ? [] : [fmt((median(measured.rates[which]!) * bytes) / expected / 1e6)]),
    ratioCell(measured, which),
  ]);
  const header = [
    'contender',
    'items/s (median)',
    ...(bytes === undefined ? [] : ['MB/s']),
    `ratio to ${contenders[0]!.name}: median (range)`,
  ];
  printTable(title, header, rows);
  return measured;
}

/** The method, printed once at the top of a benchmark's output. */
export function method(): void {
  console.log(
    `Method: ${ROUNDS} rounds after 1 warm-up round; in each round every contender runs once, and the order of the ` +
      'contenders rotates from round to round. items/s: median of the rounds; ratio: median of the per-round ratios ' +
      'to the reference of the same round (range in brackets).',
  );
}
