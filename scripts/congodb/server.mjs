#!/usr/bin/env node
// Starts CongoDB, the MongoDB wire-compatible emulator inside @push.rocks/smartmongo@2.2.0, on
// 127.0.0.1:<port> with in-memory storage, from the package unpacked under .tmp/congodb/ by
// scripts/start-congodb.sh (ARCHITECTURE.md section 8). Usage: node server.mjs <package dir> <port>
// It prints "ready <port>" once listening and stops on SIGTERM/SIGINT.
import { pathToFileURL } from 'node:url';
import { join } from 'node:path';

const [packageDir, portArg] = process.argv.slice(2);
if (packageDir === undefined || portArg === undefined) {
  console.error('usage: node server.mjs <unpacked smartmongo dir> <port>');
  process.exit(2);
}
// The package's main entry imports mongodb-memory-server (which downloads mongod): load only the
// emulator's own entry.
const entry = pathToFileURL(join(packageDir, 'dist_ts', 'congodb', 'index.js')).href;
const { CongoServer } = await import(entry);
const server = new CongoServer({ host: '127.0.0.1', port: Number(portArg), storage: 'memory' });
await server.start();
console.log(`ready ${portArg}`);
const stop = async () => {
  try {
    await server.stop();
  } finally {
    process.exit(0);
  }
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
