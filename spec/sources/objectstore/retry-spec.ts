import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { ObjectStoreError } from '../../../sources/objectstore/errors.js';
import {
  defaultRetryPolicy,
  isRetryableStatus,
  isTransientError,
  parseRetryAfter,
  retryDelay,
} from '../../../sources/objectstore/retry.js';
import type { HttpCall } from '../../../sources/objectstore/http.js';
import { Transport } from '../../../sources/objectstore/transport.js';

describe('retry policy', () => {
  it('backs off exponentially with full jitter, capped', () => {
    const policy = { attempts: 10, baseDelayMs: 100, maxDelayMs: 1000 };
    const top = (): number => 0.999999;
    assert.deepEqual(
      [1, 2, 3, 4, 5, 6].map((retry) => retryDelay(policy, retry, top)),
      [99, 199, 399, 799, 999, 999],
    );
    assert.deepEqual(
      [1, 2, 3].map((retry) => retryDelay(policy, retry, () => 0)),
      [0, 0, 0],
    );
    assert.equal(
      retryDelay(policy, 2, () => 0.5),
      100,
    );
  });

  it('honours a longer Retry-After, up to the cap', () => {
    const policy = { attempts: 10, baseDelayMs: 100, maxDelayMs: 1000 };
    assert.equal(
      retryDelay(policy, 1, () => 0, 700),
      700,
    );
    assert.equal(
      retryDelay(policy, 1, () => 0, 30_000),
      1000,
    );
    assert.equal(
      retryDelay(policy, 4, () => 0.999999, 10),
      799,
    );
    assert.equal(parseRetryAfter('3'), 3000);
    assert.equal(parseRetryAfter(new Date(10_000).toUTCString(), 4_000), 6000);
    assert.equal(parseRetryAfter('soon'), undefined);
    assert.equal(parseRetryAfter(undefined), undefined);
  });

  it('retries 5xx, 429 and 408, never other 4xx or 501', () => {
    for (const status of [500, 502, 503, 504, 429, 408]) assert.equal(isRetryableStatus(status), true, String(status));
    for (const status of [400, 401, 403, 404, 409, 412, 416, 501]) assert.equal(isRetryableStatus(status), false, String(status));
  });

  it('treats resets, refusals, timeouts and cut bodies as transient, aborts not', () => {
    for (const code of ['ECONNRESET', 'ECONNREFUSED', 'UND_ERR_SOCKET', 'UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT']) {
      assert.equal(isTransientError(Object.assign(new Error(code), { code })), true, code);
    }
    assert.equal(isTransientError(new TypeError('fetch failed', { cause: { code: 'ECONNRESET' } })), true);
    assert.equal(isTransientError(Object.assign(new Error('aborted'), { name: 'AbortError' })), false);
    assert.equal(isTransientError(Object.assign(new Error('aborted'), { code: 'UND_ERR_ABORTED' })), false);
    assert.equal(isTransientError(new Error('bug')), false);
    assert.equal(defaultRetryPolicy.attempts, 6);
  });
});

/** A real HTTP server on loopback whose answers the test scripts, one handler per request. */
class ScriptedServer {
  readonly requests: IncomingMessage['headers'][] = [];
  private server: Server | undefined;
  handler: (req: IncomingMessage, res: ServerResponse, n: number) => void = (_req, res) => res.end();

  async start(): Promise<void> {
    this.server = createServer((req, res) => {
      this.requests.push(req.headers);
      this.handler(req, res, this.requests.length);
    });
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
  }

  get url(): URL {
    return new URL(`http://127.0.0.1:${(this.server!.address() as AddressInfo).port}/object.bin`);
  }

  reset(handler: ScriptedServer['handler']): void {
    this.requests.length = 0;
    this.handler = handler;
  }

  async stop(): Promise<void> {
    this.server!.closeAllConnections();
    await new Promise((resolve) => this.server!.close(resolve));
  }
}

/** Serve `data` with ETag and ranges; `cutAfter` bytes into the body, destroy the socket. */
function serveRange(req: IncomingMessage, res: ServerResponse, data: Buffer, etag: string, cutAfter?: number, honourRange = true): void {
  let start = 0;
  let end = data.length - 1;
  const range = req.headers.range;
  const ifRange = req.headers['if-range'];
  let status = 200;
  if (honourRange && range !== undefined && (ifRange === undefined || ifRange === etag)) {
    const match = /^bytes=(\d+)-(\d*)$/.exec(range)!;
    start = Number(match[1]);
    end = match[2] === '' ? data.length - 1 : Math.min(Number(match[2]), data.length - 1);
    status = 206;
    res.setHeader('content-range', `bytes ${start}-${end}/${data.length}`);
  }
  res.writeHead(status, { etag, 'content-length': end - start + 1 });
  const body = data.subarray(start, end + 1);
  if (cutAfter === undefined) {
    res.end(body);
    return;
  }
  res.write(body.subarray(0, cutAfter), () => setTimeout(() => res.socket?.destroy(), 5));
}

describe('Transport against a scripted loopback server', () => {
  const server = new ScriptedServer();
  const data = randomBytes(200_000);
  let transport: Transport;
  const call = (): HttpCall => ({ method: 'GET', origin: server.url.origin, path: server.url.pathname, headers: {} });
  const collect = async (iterable: AsyncIterable<Uint8Array>): Promise<Buffer> => {
    const chunks: Uint8Array[] = [];
    for await (const chunk of iterable) chunks.push(chunk);
    return Buffer.concat(chunks);
  };

  before(async () => {
    await server.start();
    transport = new Transport({ retry: { attempts: 4, baseDelayMs: 1, maxDelayMs: 5 } }, { random: () => 0.5 });
  });
  after(() => server.stop());

  it('retries 503s, then returns the answer', async () => {
    server.reset((_req, res, n) => {
      if (n <= 2) res.writeHead(503, { 'retry-after': '0' }).end('busy');
      else res.end('ok');
    });
    const answer = await transport.fetch(call(), 'obj');
    assert.equal(Buffer.from(answer.body).toString(), 'ok');
    assert.equal(server.requests.length, 3);
  });

  it('fails fast on 404 and 403 with typed errors, after one request', async () => {
    server.reset((_req, res) => res.writeHead(404).end('nope'));
    await assert.rejects(transport.fetch(call(), 'ais://b/k'), (error: unknown) => {
      assert.ok(error instanceof ObjectStoreError);
      assert.equal(error.code, 'RXFEED_ERR_OBJECT_NOT_FOUND');
      assert.equal(error.object, 'ais://b/k');
      assert.match(error.message, /^ais:\/\/b\/k: GET answered 404 Not Found: nope$/);
      return true;
    });
    assert.equal(server.requests.length, 1);
    server.reset((_req, res) => res.writeHead(403).end());
    await assert.rejects(transport.fetch(call(), 'obj'), { code: 'RXFEED_ERR_OBJECT_ACCESS', status: 403 });
    server.reset((_req, res) => res.writeHead(400).end());
    await assert.rejects(transport.fetch(call(), 'obj'), { code: 'RXFEED_ERR_OBJECT_REQUEST', status: 400 });
    assert.equal(server.requests.length, 1);
  });

  it('gives up after the configured attempts with RXFEED_ERR_OBJECT_RETRIES', async () => {
    server.reset((_req, res) => res.writeHead(500).end('down'));
    await assert.rejects(transport.fetch(call(), 'obj'), (error: unknown) => {
      assert.ok(error instanceof ObjectStoreError);
      assert.equal(error.code, 'RXFEED_ERR_OBJECT_RETRIES');
      assert.equal(error.status, 500);
      assert.ok(error.cause instanceof ObjectStoreError);
      return true;
    });
    assert.equal(server.requests.length, 4);
  });

  it('retries connection resets', async () => {
    server.reset((req, res, n) => {
      if (n === 1) req.socket.destroy();
      else res.end('after reset');
    });
    assert.equal(Buffer.from((await transport.fetch(call(), 'obj')).body).toString(), 'after reset');
    assert.equal(server.requests.length, 2);
  });

  it('resumes a cut body with Range and If-Range, delivering every byte once', async () => {
    server.reset((req, res, n) => serveRange(req, res, data, '"v1"', n <= 2 ? 50_000 : undefined));
    const bytes = await collect(transport.rangedGet('obj', call, 0, undefined));
    assert.ok(bytes.equals(data));
    assert.deepEqual(
      server.requests.map((headers) => [headers.range, headers['if-range']]),
      [
        [undefined, undefined],
        ['bytes=50000-', '"v1"'],
        ['bytes=100000-', '"v1"'],
      ],
    );
  });

  it('resumes a bounded read and one from an offset', async () => {
    server.reset((req, res, n) => serveRange(req, res, data, '"v1"', n === 1 ? 1000 : undefined));
    const bytes = await collect(transport.rangedGet('obj', call, 10, 5000));
    assert.ok(bytes.equals(data.subarray(10, 5000)));
    assert.deepEqual(
      server.requests.map((headers) => headers.range),
      ['bytes=10-4999', 'bytes=1010-4999'],
    );
  });

  it('skips what it has when the server ignores ranges', async () => {
    server.reset((req, res, n) => serveRange(req, res, data, '"v1"', n === 1 ? 70_000 : undefined, false));
    const bytes = await collect(transport.rangedGet('obj', call, 0, undefined));
    assert.ok(bytes.equals(data));
    assert.equal(server.requests.length, 2);
  });

  it('fails with RXFEED_ERR_OBJECT_CHANGED when the object changed between attempts', async () => {
    server.reset((req, res, n) => serveRange(req, res, data, n === 1 ? '"v1"' : '"v2"', n === 1 ? 1000 : undefined));
    const received: number[] = [];
    await assert.rejects(
      (async () => {
        for await (const chunk of transport.rangedGet('s3://b/k', call, 0, undefined)) received.push(chunk.length);
      })(),
      (error: unknown) => {
        assert.ok(error instanceof ObjectStoreError);
        assert.equal(error.code, 'RXFEED_ERR_OBJECT_CHANGED');
        assert.match(error.message, /was "v1", now "v2" at byte 1000/);
        return true;
      },
    );
    assert.equal(
      received.reduce((a, b) => a + b, 0),
      1000,
    );
  });

  it('gives up on a body that keeps breaking without progress', async () => {
    server.reset((req, res, n) => serveRange(req, res, data, '"v1"', n === 1 ? 10 : 0));
    await assert.rejects(collect(transport.rangedGet('obj', call, 0, undefined)), { code: 'RXFEED_ERR_OBJECT_RETRIES' });
    // Four failures in a row since the last byte arrived (the first request broke after 10 bytes).
    assert.equal(server.requests.length, 4);
  });

  it('reads a body only as fast as it is iterated, and a break closes the connection', async () => {
    const total = 256 * 1024 * 1024;
    let written = 0;
    let closed: Promise<void> | undefined;
    server.reset((req, res) => {
      closed = new Promise((resolve) => res.once('close', () => resolve()));
      res.writeHead(200, { 'content-length': total });
      const block = Buffer.alloc(64 * 1024);
      // Writes only while the socket accepts more: what got written is what the client pulled
      // plus the kernel and stream buffers in between.
      const pump = (): void => {
        while (written < total && !res.destroyed) {
          written += block.length;
          if (!res.write(block)) {
            res.once('drain', pump);
            return;
          }
        }
        if (written >= total) res.end();
      };
      pump();
    });
    let consumed = 0;
    for await (const chunk of transport.rangedGet('obj', call, 0, undefined)) {
      consumed += chunk.length;
      if (consumed >= 1024 * 1024) {
        // A slow consumer: the producer must stall far below the body's 256 MiB.
        await new Promise((resolve) => setTimeout(resolve, 200));
        assert.ok(written < 64 * 1024 * 1024, `server wrote ${written} bytes for ${consumed} consumed`);
        break;
      }
    }
    await closed;
    assert.ok(written < total);
  });

  it('aborting the signal stops a stalled body at once', async () => {
    let closed: Promise<void> | undefined;
    server.reset((req, res) => {
      closed = new Promise((resolve) => req.socket.once('close', () => resolve()));
      res.writeHead(200, { 'content-length': data.length });
      res.write(data.subarray(0, 100)); // then stall
    });
    const abort = new AbortController();
    const reading = (async () => {
      for await (const chunk of transport.rangedGet('obj', call, 0, undefined, abort.signal)) {
        void chunk;
        abort.abort(new Error('stop'));
      }
    })();
    await assert.rejects(reading, /stop|aborted/);
    await closed;
    assert.equal(server.requests.length, 1);
  });
});
