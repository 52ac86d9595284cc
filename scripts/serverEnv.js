// Loads what scripts/servers.sh left in .tmp/<name>.env (`export NAME=value` lines) into
// process.env, so specs and benchmarks find the servers; variables already set win.
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

export function loadServerEnv(root) {
  const envDir = join(root, '.tmp');
  if (!existsSync(envDir)) return;
  for (const name of readdirSync(envDir)
    .filter((n) => n.endsWith('.env'))
    .sort()) {
    for (const line of readFileSync(join(envDir, name), 'utf8').split('\n')) {
      const match = /^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)=(.*)$/.exec(line);
      if (match && process.env[match[1]] === undefined) process.env[match[1]] = match[2].replace(/^(['"])(.*)\1$/, '$2');
    }
  }
}
