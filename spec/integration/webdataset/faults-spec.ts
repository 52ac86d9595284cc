import assert from 'node:assert/strict';
import { createServer, request, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { fromWebDataset } from '../../../sources/webdataset/index.js';
import { sharedWebDataset } from '../../sources/webdataset/tarFixtures.js';
import { serverEnv } from '../objectstore/servers.js';
import { readAll, withoutUrl } from './shards.js';

// A loopback proxy in front of nginx (scripts/start-nginx.sh) that answers some requests with 503
// or 429 and cuts others mid-body: the dataset must still deliver every sample exactly once.
const env = serverEnv(['RXFEED_HTTP_ENDPOINT'], 'scripts/start-nginx.sh');

type Fault = { kind: 'status'; status: number } | { kind: 'cut'; after: number } | { kind: 'pass' };

interface Seen {
  readonly path: string;
  readonly range: string | undefined;
  readonly ifRange: string | undefined;
  readonly fault: Fault['kind'];
  sent: number;
}

/** A proxy to `upstream` applying `faults` to successive GETs (then passing everything through). */
function faultyProxy(upstream: URL, faults: Fault[]): { server: Server; seen: Seen[] } {
  const seen: Seen[] = [];
  const server = createServer((incoming, outgoing) => {
    const fault = incoming.method === 'GET' ? (faults.shift() ?? { kind: 'pass' }) : { kind: 'pass' as const };
    const record: Seen = {
      path: incoming.url ?? '',
      range: incoming.headers.range,
      ifRange: incoming.headers['if-range'] as string | undefined,
      fault: fault.kind,
      sent: 0,
    };
    seen.push(record);
    if (fault.kind === 'status') {
      outgoing.writeHead(fault.status, { 'content-type': 'text/plain', 'retry-after': '0' }).end('try again');
      return;
    }
    const headers: IncomingHttpHeaders = { ...incoming.headers, host: upstream.host };
    const forwarded = request(new URL(incoming.url ?? '/', upstream), { method: incoming.method, headers }, (answer) => {
      outgoing.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.on('data', (chunk: Buffer) => {
        if (fault.kind === 'cut' && record.sent + chunk.byteLength > fault.after) {
          // Send up to the cut, then drop the connection with the body half-sent (once those
          // bytes are handed to the kernel, so the client does receive them).
          answer.destroy();
          const part = chunk.subarray(0, fault.after - record.sent);
          record.sent = fault.after;
          outgoing.write(part, () => outgoing.socket?.destroy());
          return;
        }
        record.sent += chunk.byteLength;
        outgoing.write(chunk);
      });
      answer.on('end', () => outgoing.end());
    });
    forwarded.on('error', () => outgoing.destroy());
    incoming.pipe(forwarded);
  });
  return { server, seen };
}

describe(
  'fromWebDataset through a faulty HTTP proxy',
  { skip: env === undefined ? 'RXFEED_HTTP_ENDPOINT not set (scripts/start-nginx.sh)' : false },
  () => {
    let proxy: ReturnType<typeof faultyProxy> | undefined;
    let origin = '';
    const start = async (faults: Fault[]): Promise<ReturnType<typeof faultyProxy>> => {
      proxy = faultyProxy(new URL(env!.RXFEED_HTTP_ENDPOINT), faults);
      await new Promise<void>((resolve) => proxy!.server.listen(0, '127.0.0.1', resolve));
      origin = `http://127.0.0.1:${(proxy.server.address() as AddressInfo).port}`;
      return proxy;
    };
    const stop = async (): Promise<void> => {
      const running = proxy;
      proxy = undefined;
      if (running === undefined) return;
      running.server.closeAllConnections();
      await new Promise((resolve) => running.server.close(resolve));
    };
    after(stop);
    const http = { retry: { baseDelayMs: 1, maxDelayMs: 20 } };

    for (const name of ['testgz.tar', 'sample.tgz']) {
      it(`delivers every sample of ${name} exactly once through 503s, a 429 and cut bodies`, async () => {
        const { seen } = await start([
          { kind: 'status', status: 503 },
          { kind: 'cut', after: 7_000 },
          { kind: 'status', status: 429 },
          { kind: 'cut', after: 9_500 },
          { kind: 'status', status: 503 },
          { kind: 'cut', after: 4_321 },
        ]);
        try {
          const local = await readAll(fromWebDataset(join(sharedWebDataset, name)));
          const remote = await readAll(fromWebDataset(`${origin}/shared/webdataset/${name}`, { http }));
          assert.equal(remote.length, local.length);
          assert.deepEqual(withoutUrl(remote), withoutUrl(local));
          assert.equal(new Set(remote.map((sample) => sample.__key__)).size, local.length);

          // Every fault was met, and each cut body resumed from where it broke, never from byte 0.
          const gets = seen.filter((record) => record.path.endsWith(name));
          assert.deepEqual(
            gets.slice(0, 7).map((record) => record.fault),
            ['status', 'cut', 'status', 'cut', 'status', 'cut', 'pass'],
          );
          let received = 0;
          for (const record of gets) {
            const first = record.range === undefined ? 0 : Number(/^bytes=(\d+)-/.exec(record.range)?.[1]);
            if (record.fault !== 'status') {
              assert.ok(first >= received && first <= received + record.sent, `range ${record.range} after ${received} bytes`);
              if (first > 0) assert.ok(record.ifRange !== undefined, 'a resumed GET is conditional (If-Range)');
              received = first + record.sent;
            }
          }
          assert.ok(
            gets
              .filter((record) => record.fault !== 'status')
              .slice(1)
              .every((record) => record.range !== undefined),
          );
        } finally {
          await stop();
        }
      });
    }
  },
);
