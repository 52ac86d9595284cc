/**
 * What the CLI specs share: running the real built binary (`node dist/src/cli/main.js`) as a
 * child process, the shared data, and independent views of it (GNU tar's listing, the TFRecord
 * framing walked by hand, file sizes from the file system).
 */
import assert from 'node:assert/strict';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root (specs run compiled, from `dist/spec/cli`). */
export const repoRoot = fileURLToPath(new URL('../../../', import.meta.url));
export const sharedData = join(repoRoot, '..', 'shared', 'data');
export const webdataset = join(sharedData, 'webdataset');
export const pytorchData = join(sharedData, 'tfrecord', 'pytorch-data');
export const bridgeDir = join(sharedData, 'tfds', 'octo-bridge_dataset', '1.0.0');
/** The built binary. */
export const binary = join(repoRoot, 'dist', 'src', 'cli', 'main.js');

/** What a run of the binary gave. */
export interface CliResult {
  readonly status: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
}

/**
 * Start `rxfeed <args>`; `env` adds to (or, with `undefined`, removes from) this process's
 * environment.
 */
export function startCli(
  args: readonly string[],
  env: Readonly<Record<string, string | undefined>> = {},
): { child: ChildProcess; done: Promise<CliResult> } {
  const child = spawn(process.execPath, [binary, ...args], {
    cwd: repoRoot,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout!.setEncoding('utf8').on('data', (text: string) => (stdout += text));
  child.stderr!.setEncoding('utf8').on('data', (text: string) => (stderr += text));
  const done = new Promise<CliResult>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (status, signal) => resolve({ status, signal, stdout, stderr }));
  });
  return { child, done };
}

/** Run `rxfeed <args>` to its end. */
export function cli(args: readonly string[], env: Readonly<Record<string, string | undefined>> = {}): Promise<CliResult> {
  return startCli(args, env).done;
}

/** Run `rxfeed <args> --json`, expect exit 0 and an empty stderr, and parse stdout as one JSON document. */
export async function cliJson<T = Record<string, unknown>>(
  args: readonly string[],
  env: Readonly<Record<string, string | undefined>> = {},
): Promise<T> {
  const result = await cli([...args, '--json'], env);
  assert.equal(result.stderr, '', `stderr of rxfeed ${args.join(' ')}`);
  assert.equal(result.status, 0);
  return JSON.parse(result.stdout) as T;
}

/** Expect a typed failure: exit 1 and exactly one line `rxfeed <command>: <code>: ...` on stderr. */
export function assertFailure(result: CliResult, command: string, code: string): void {
  assert.equal(result.status, 1, `exit status (stderr: ${result.stderr})`);
  assert.equal(result.stdout, '');
  const lines = result.stderr.split('\n');
  assert.equal(lines.length, 2, `one line on stderr, got ${JSON.stringify(result.stderr)}`);
  assert.equal(lines[1], '');
  assert.ok(lines[0]!.startsWith(`rxfeed ${command}: ${code}: `), lines[0]);
}

/** The size of a file, from the file system. */
export function fileSize(path: string): number {
  return statSync(path).size;
}

/**
 * GNU tar's listing of a shard (`tar -tvf`, gzip understood), as WebDataset groups it into
 * samples: regular files, key = the name up to the first dot of its last segment, in order.
 */
export function tarSamples(path: string): { key: string; fields: { extension: string; size: number }[] }[] {
  const listing = execFileSync('tar', ['--numeric-owner', '-tvf', path], { encoding: 'utf8' });
  const samples: { key: string; fields: { extension: string; size: number }[] }[] = [];
  for (const line of listing.split('\n')) {
    // -rw-r--r-- 1000/1000      1234 2020-01-01 00:00 name
    const match = /^(\S)\S*\s+\S+\s+(\d+)\s+\S+\s+\S+\s+(.*)$/.exec(line);
    if (match === null || match[1] !== '-') continue;
    const name = match[3]!;
    const slash = name.lastIndexOf('/');
    const dot = name.indexOf('.', slash + 1);
    if (dot < 0) continue;
    const key = name.slice(0, dot);
    const field = { extension: name.slice(dot + 1), size: Number(match[2]) };
    if (samples.at(-1)?.key === key) samples.at(-1)!.fields.push(field);
    else samples.push({ key, fields: [field] });
  }
  return samples;
}

/** The records of a TFRecord file, by walking its framing (u64 length, 4-byte CRC, data, 4-byte CRC). */
export function tfrecordRecords(path: string): Buffer[] {
  const bytes = readFileSync(path);
  const records: Buffer[] = [];
  for (let at = 0; at < bytes.length;) {
    const length = Number(bytes.readBigUInt64LE(at));
    records.push(bytes.subarray(at + 12, at + 12 + length));
    at += 16 + length;
  }
  return records;
}

/** A new empty directory under `.tmp/spec-cli/`, removed by the returned function. */
export function tempDir(prefix: string): { dir: string; remove: () => void } {
  const base = join(repoRoot, '.tmp', 'spec-cli');
  mkdirSync(base, { recursive: true });
  const dir = mkdtempSync(join(base, `${prefix}-`));
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}
