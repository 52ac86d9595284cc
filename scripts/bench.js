#!/usr/bin/env node
// Runs every benchmark in dist/bench/ one after another (npm run bench builds first).
// Usage: node scripts/bench.js [name ...]   e.g. `node scripts/bench.js operators tfrecord`
// Benchmarks that need a server read it from .tmp/<server>.env (run `bash scripts/servers.sh`).
// webgpu-upload needs the lent GPU machine and is run by hand there (see its header).
// The peer benchmark against PyTorch's DataLoader is separate: `npm run bench:peers` (bench/peers/).
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { loadServerEnv } from './serverEnv.js';

const root = new URL('..', import.meta.url).pathname;
loadServerEnv(root);
const all = ['operators', 'tfrecord', 'webdataset', 'randomAccess', 'decode', 'telemetry', 'autotune', 'mongodb'];
const chosen = process.argv.length > 2 ? process.argv.slice(2) : all;
let failed = 0;
for (const name of chosen) {
  console.log(`\n=== bench/${name} ===`);
  if (name === 'mongodb' && process.env.RXFEED_MONGODB_URI === undefined) {
    console.log('skipped: RXFEED_MONGODB_URI is not set (bash scripts/start-congodb.sh)');
    continue;
  }
  const result = spawnSync(process.execPath, [join(root, 'dist', 'bench', `${name}.js`)], { cwd: root, stdio: 'inherit' });
  if (result.status !== 0) failed++;
}
process.exit(failed === 0 ? 0 : 1);
