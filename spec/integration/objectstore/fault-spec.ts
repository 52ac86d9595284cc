import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { Agent, createServer, request as httpRequest, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { lastValueFrom, toArray } from 'rxjs';
import { fromObjects, httpStore, ObjectStoreError, type ObjectStore } from '../../../sources/objectstore/index.js';
import { serverEnv } from './servers.js';

// A loopback proxy in front of nginx that answers 503 now and then and cuts connections in the
// middle of bodies; the store must still deliver every byte and every object exactly once.
const env = serverEnv(['RXFEED_HTTP_ENDPOINT'], 'scripts/start-nginx.sh');
const sharedData = join(process.cwd(), '..', 'shared', 'data');
const www = join(process.cwd(), '.tmp', 'nginx', 'www');

/** What the proxy does with request number n (1-based). */
type Fate = { kind: 'pass' } | { kind: 'status'; status: number } | { kind: 'cut'; afterBytes: number };

class FaultyProxy {
  readonly seen: { url: string; range?: string; ifRange?: string; fate: Fate['kind'] }[] = [];
  fate: (n: number, req: IncomingMessage) => Fate = () => ({ kind: 'pass' });
  onCut: (url: string) => void = () => undefined;
  private server: Server | undefined;
  private readonly upstream: URL;
  private readonly agent = new Agent({ keepAlive: true });

  constructor(upstream: string) {
    this.upstream = new URL(upstream);
  }

  get url(): string {
    return `http://127.0.0.1:${(this.server!.address() as AddressInfo).port}`;
  }

  async start(): Promise<void> {
    this.server = createServer((req, res) => {
      const fate = this.fate(this.seen.length + 1, req);
      this.seen.push({ url: req.url!, range: req.headers.range, ifRange: req.headers['if-range'] as string | undefined, fate: fate.kind });
      if (fate.kind === 'status') {
        res.writeHead(fate.status, { 'content-type': 'text/plain' }).end('injected fault');
        return;
      }
      const headers = { ...req.headers, host: this.upstream.host };
      const forward = httpRequest(
        { host: this.upstream.hostname, port: this.upstream.port, path: req.url, method: req.method, headers, agent: this.agent },
        (upstream) => {
          res.writeHead(upstream.statusCode!, upstream.headers);
          if (fate.kind !== 'cut') {
            upstream.pipe(res);
            return;
          }
          let sent = 0;
          upstream.on('data', (chunk: Buffer) => {
            if (sent >= fate.afterBytes) return;
            const part = chunk.subarray(0, fate.afterBytes - sent);
            sent += part.length;
            if (sent < fate.afterBytes) {
              res.write(part);
              return;
            }
            upstream.destroy();
            this.onCut(req.url!);
            // Once the partial body is flushed to the client, kill the connection mid-body.
            res.write(part, () => res.socket?.destroy());
          });
          upstream.on('end', () => res.end());
        },
      );
      forward.on('error', () => res.socket?.destroy());
      req.pipe(forward);
    });
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
  }

  async stop(): Promise<void> {
    this.agent.destroy();
    this.server!.closeAllConnections();
    await new Promise((resolve) => this.server!.close(resolve));
  }
}

const sha256 = (bytes: Uint8Array): string => createHash('sha256').update(bytes).digest('hex');

describe(
  'faults between the store and nginx',
  { skip: env === undefined ? 'RXFEED_HTTP_ENDPOINT not set (scripts/start-nginx.sh)' : false },
  () => {
    const proxy = new FaultyProxy(env?.RXFEED_HTTP_ENDPOINT ?? 'http://127.0.0.1:1');
    const run = `fault-spec-${Date.now().toString(36)}-${randomBytes(3).toString('hex')}`;
    const dir = join(www, run);
    const objects = Array.from({ length: 40 }, (_, i) => randomBytes(20_000 + 997 * i));
    let store: ObjectStore;

    before(async () => {
      mkdirSync(dir, { recursive: true });
      objects.forEach((bytes, i) => writeFileSync(join(dir, `obj-${String(i).padStart(3, '0')}.bin`), bytes));
      await proxy.start();
      store = httpStore({ baseUrl: `${proxy.url}/`, index: 'nginx-json', retry: { attempts: 5, baseDelayMs: 1, maxDelayMs: 10 } });
    });
    after(async () => {
      await proxy.stop();
      rmSync(dir, { recursive: true, force: true });
    });

    it('streams a 2.6 MB shard through 503s and cuts: every byte exactly once (sha256)', async () => {
      proxy.seen.length = 0;
      // 503 twice, then each answer cut after 300 kB, every third request answered 503.
      proxy.fate = (n) => (n <= 2 || n % 3 === 0 ? { kind: 'status', status: 503 } : { kind: 'cut', afterBytes: 300_000 });
      const local = readFileSync(join(sharedData, 'webdataset', 'testgz.tar'));
      const hash = createHash('sha256');
      let received = 0;
      for await (const chunk of store.open('shared/webdataset/testgz.tar').stream()) {
        hash.update(chunk);
        received += chunk.length;
      }
      assert.equal(received, local.length);
      assert.equal(hash.digest('hex'), sha256(local));
      const cuts = proxy.seen.filter((r) => r.fate === 'cut');
      assert.ok(cuts.length >= 8, `expected many cut answers, saw ${cuts.length}`);
      // Every resumed request asked for the bytes after the last one received, guarded by If-Range.
      const ranges = cuts.slice(1).map((r) => [r.range, r.ifRange !== undefined]);
      assert.deepEqual(
        ranges,
        cuts.slice(1).map((_, i) => [`bytes=${(i + 1) * 300_000}-`, true]),
      );
    });

    it('fromObjects delivers every object exactly once through listing 503s and cut bodies', async () => {
      proxy.seen.length = 0;
      proxy.fate = (n, req) =>
        req.url!.endsWith('/')
          ? n === 1
            ? { kind: 'status', status: 503 }
            : { kind: 'pass' }
          : n % 4 === 0
            ? { kind: 'status', status: 503 }
            : n % 4 === 1
              ? { kind: 'cut', afterBytes: 7_000 }
              : { kind: 'pass' };
      const items = await lastValueFrom(fromObjects(store, { prefixes: [`www/${run}/`] }).pipe(toArray()));
      assert.deepEqual(
        items.map((item) => item.key),
        objects.map((_, i) => `www/${run}/obj-${String(i).padStart(3, '0')}.bin`),
      );
      items.forEach((item, i) => assert.equal(sha256(item.bytes), sha256(objects[i]!), item.key));
      assert.ok(proxy.seen.filter((r) => r.fate === 'cut').length >= 10);
      assert.ok(proxy.seen.filter((r) => r.fate === 'status').length >= 10);
    });

    it('fails with RXFEED_ERR_OBJECT_CHANGED, not mixed bytes, when the object changes mid-read', async () => {
      proxy.seen.length = 0;
      const path = join(dir, 'changing.bin');
      writeFileSync(path, randomBytes(200_000));
      proxy.fate = (n) => (n === 1 ? { kind: 'cut', afterBytes: 50_000 } : { kind: 'pass' });
      // Rewritten while the connection is down, so the resumed request meets a new ETag.
      proxy.onCut = () => writeFileSync(path, randomBytes(210_000));
      let received = 0;
      await assert.rejects(
        (async () => {
          for await (const chunk of store.open(`www/${run}/changing.bin`).stream()) received += chunk.length;
        })(),
        (error: unknown) => {
          assert.ok(error instanceof ObjectStoreError);
          assert.equal(error.code, 'RXFEED_ERR_OBJECT_CHANGED');
          assert.equal(error.object, `${proxy.url}/www/${run}/changing.bin`);
          return true;
        },
      );
      proxy.onCut = () => undefined;
      assert.equal(received, 50_000);
      assert.deepEqual(
        proxy.seen.map((r) => r.range),
        [undefined, 'bytes=50000-'],
      );
    });

    it('gives up with RXFEED_ERR_OBJECT_RETRIES when the server keeps failing', async () => {
      proxy.seen.length = 0;
      proxy.fate = () => ({ kind: 'status', status: 502 });
      await assert.rejects(store.open(`www/${run}/obj-000.bin`).read(0, 10), { code: 'RXFEED_ERR_OBJECT_RETRIES', status: 502 });
      assert.equal(proxy.seen.length, 5);
    });
  },
);
