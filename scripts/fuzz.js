#!/usr/bin/env node
// Fuzz campaign: runs every fuzz spec (dist/spec/fuzz/*-spec.js) for a time budget, then prints,
// per parser, the cases run, cases per second, the outcomes (ok / typed by code / untyped /
// invariant / hang / crash / over-allocation) and the largest allocation per input byte.
//
// Usage: npm run fuzz   (builds first)
//   RXFEED_FUZZ_SECONDS  total budget in seconds (default 300), split evenly over the spec files;
//                        inside a file, over its properties
//   RXFEED_FUZZ_SEED     seed (default: random, printed); rerun with it to reproduce
//   RXFEED_FUZZ_PATH     replay one failing path fast-check printed (with its seed)
//   RXFEED_FUZZ_REPORT   folder for stats and counterexamples (default .tmp/fuzz/<time>)
//   RXFEED_FUZZ_DEADLINE_MS  per-case deadline (default 2000)
//   RXFEED_FUZZ_KEEP_GOING=1 survey: do not stop at the first failure of a property; count each
//                        kind of failure over the whole budget and save its first input
// Exits non-zero when any case was untyped, hung, crashed, broke an invariant or over-allocated;
// each failure names its seed and path and the file holding its shrunk counterexample.
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const specDir = join(root, 'dist', 'spec', 'fuzz');
if (!existsSync(specDir)) {
  console.error('no compiled fuzz specs: run `npm run build` first (or `npm run fuzz`, which does)');
  process.exit(1);
}
const seconds = Number(process.env.RXFEED_FUZZ_SECONDS ?? 300);
if (!(seconds > 0)) {
  console.error(`RXFEED_FUZZ_SECONDS must be a positive number, got ${process.env.RXFEED_FUZZ_SECONDS}`);
  process.exit(1);
}
const seed = process.env.RXFEED_FUZZ_SEED ?? String(Math.floor(Math.random() * 2 ** 31));
const report = process.env.RXFEED_FUZZ_REPORT ?? join(root, '.tmp', 'fuzz', new Date().toISOString().replace(/[:.]/g, '-'));
mkdirSync(report, { recursive: true });
const files = readdirSync(specDir)
  .filter((name) => name.endsWith('-spec.js'))
  .sort();
const perFileMs = Math.floor((seconds * 1000) / files.length);
console.log(`fuzz campaign: ${seconds} s over ${files.length} spec files (${(perFileMs / 1000).toFixed(0)} s each), seed ${seed}`);
console.log(`reproduce with RXFEED_FUZZ_SEED=${seed} RXFEED_FUZZ_SECONDS=${seconds}; report in ${relative(root, report)}\n`);

/** One spec file under the campaign budget; killed if it overruns by far (a hang of the harness itself). */
function runFile(file) {
  return new Promise((resolve) => {
    const log = join(report, file.replace(/-spec\.js$/, '.log'));
    const child = spawn(process.execPath, ['--test', '--test-reporter=spec', join(specDir, file)], {
      cwd: root,
      env: { ...process.env, RXFEED_FUZZ_SEED: seed, RXFEED_FUZZ_TIME_MS: String(perFileMs), RXFEED_FUZZ_REPORT: report },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (chunk) => (output += chunk));
    child.stderr.on('data', (chunk) => (output += chunk));
    const limit = setTimeout(
      () => {
        output += `\nfuzz.js: killed after ${(2 * perFileMs + 180_000) / 1000} s\n`;
        child.kill('SIGKILL');
      },
      2 * perFileMs + 180_000,
    );
    child.on('close', (code) => {
      clearTimeout(limit);
      writeFileSync(log, output);
      resolve({ file, code, output, log });
    });
  });
}

const results = [];
for (const file of files) {
  const started = Date.now();
  const result = await runFile(file);
  results.push(result);
  console.log(`${result.code === 0 ? 'pass' : 'FAIL'} ${file} (${((Date.now() - started) / 1000).toFixed(0)} s)`);
}

console.log('\nper parser:');
const stats = readdirSync(report)
  .filter((name) => name.endsWith('-stats.json'))
  .map((name) => JSON.parse(readFileSync(join(report, name), 'utf8')))
  .sort((a, b) => a.parser.localeCompare(b.parser));
const kinds = ['ok', 'typed', 'untyped', 'invariant', 'hang', 'crash', 'over-allocation'];
for (const s of stats) {
  const outcomes = kinds.map((kind) => `${kind} ${s.outcomes[kind] ?? 0}`).join(', ');
  const codes = Object.entries(s.codes)
    .map(([code, count]) => `${code.replace('RXFEED_ERR_', '')} ${count}`)
    .join(', ');
  console.log(
    `  ${s.parser.padEnd(20)} ${String(s.cases).padStart(8)} cases ${String(Math.round(s.cases / s.seconds)).padStart(6)}/s  ${outcomes}` +
      `${codes ? ` [${codes}]` : ''}; largest allocation ${s.largest.bytes} B for ${s.largest.inputBytes} B; ` +
      `per input byte ${s.perInputByte.toFixed(3)} (>= 4 KiB inputs), ${Math.max(0, s.perByte).toFixed(3)} beyond the constant ${s.bound.constant} B (bound ${s.bound.perByte})`,
  );
}

const failed = results.filter((result) => result.code !== 0);
if (failed.length > 0) {
  console.log('\nfailures:');
  for (const { file, output, log } of failed) {
    console.log(`  ${file} (full log: ${relative(root, log)})`);
    const lines = output
      .split('\n')
      .filter((line) =>
        /\{ seed: |Counterexample:|counterexample saved|\[cause\]: Error|^\s*Error: |^\s+\d+ x |first: |saved: /.test(line),
      );
    for (const line of [...new Set(lines.map((line) => line.trim()))].slice(0, 40)) console.log(`    ${line.slice(0, 400)}`);
  }
  console.log(`\nreplay one with RXFEED_FUZZ_SEED=<seed> RXFEED_FUZZ_PATH=<path> node --test dist/spec/fuzz/<file>`);
  process.exit(1);
}
console.log('\nno untyped error, hang, crash, invariant break or over-allocation');
