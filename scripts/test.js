#!/usr/bin/env node
// Runs every compiled spec (dist/spec/**/*-spec.js) with Node's own test runner.
// Usage: node scripts/test.js [substring ...]   (only specs whose path contains one of the substrings)
// Node 20's `--test` does not expand globs, so the file list is built here.
import { mkdirSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { spawnSync } from 'node:child_process';
import { loadServerEnv } from './serverEnv.js';

const root = new URL('..', import.meta.url).pathname;
const specRoot = join(root, 'dist', 'spec');
const filters = process.argv.slice(2);

function walk(dir) {
  const found = [];
  for (const name of readdirSync(dir).sort()) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) found.push(...walk(path));
    else if (name.endsWith('-spec.js')) found.push(path);
  }
  return found;
}

loadServerEnv(root);

const files = walk(specRoot)
  .map((path) => relative(root, path))
  .filter((path) => filters.length === 0 || filters.some((f) => path.includes(f)));
if (files.length === 0) {
  console.error(`no spec files matched ${filters.join(' ')}`);
  process.exit(1);
}
mkdirSync(join(root, '.tmp'), { recursive: true });
const tapFile = join(root, '.tmp', 'test-results.tap');
const result = spawnSync(
  process.execPath,
  [
    // An unhandled rejection is a lost error (the bug class of issue 10.1). Node's runner already
    // fails the test (or file) it happens in; strict mode keeps it an error whatever the runner does.
    '--unhandled-rejections=strict',
    '--test',
    '--test-concurrency=2',
    '--test-timeout=300000',
    '--test-reporter=spec',
    '--test-reporter-destination=stdout',
    '--test-reporter=tap',
    `--test-reporter-destination=${tapFile}`,
    ...files,
  ],
  { cwd: root, stdio: 'inherit' },
);
// One plain closing line, counted from the TAP summary, so any reader of the log sees the totals.
const tap = readFileSync(tapFile, 'utf8');
const count = (key) => Number(tap.match(new RegExp(`^# ${key} (\\d+)$`, 'm'))?.[1] ?? 0);
console.log(`tests: ${count('pass')} passed, ${count('fail')} failed, ${count('skipped')} skipped`);
process.exit(result.status ?? 1);
