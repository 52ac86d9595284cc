import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { httpStore, ObjectStoreError, s3Store, type S3Store } from '../../../sources/objectstore/index.js';
import { serverEnv } from './servers.js';

// Answers the real servers will not give: a hostile loopback S3 (a CompleteMultipartUpload that
// answers 200 with an <Error>, a 503 on a part, a malformed Create answer) and a WebDAV-style
// server for httpStore.delete. Plus the real nginx, which does not allow DELETE.
const nginx = serverEnv(['RXFEED_HTTP_ENDPOINT'], 'scripts/start-nginx.sh');

const MiB = 1024 * 1024;

interface Seen {
  readonly method: string;
  readonly url: string;
  readonly bytes: number;
}

/** A loopback server answering each request with `answer`; records method, URL and body size. */
class FakeServer {
  readonly seen: Seen[] = [];
  answer: (req: IncomingMessage, res: ServerResponse, n: number) => void = (_req, res) => res.writeHead(500).end();
  private server: Server | undefined;

  get url(): string {
    return `http://127.0.0.1:${(this.server!.address() as AddressInfo).port}`;
  }

  async start(): Promise<void> {
    this.server = createServer((req, res) => {
      let bytes = 0;
      req.on('data', (chunk: Buffer) => (bytes += chunk.length));
      req.on('end', () => {
        this.seen.push({ method: req.method!, url: req.url!, bytes });
        this.answer(req, res, this.seen.length);
      });
    });
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
  }

  async stop(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise<void>((resolve) => this.server!.close(() => resolve()));
  }
}

const xml = (res: ServerResponse, body: string, status = 200): void => {
  res.writeHead(status, { 'content-type': 'application/xml' }).end(`<?xml version="1.0" encoding="UTF-8"?>${body}`);
};

async function* body(size: number): AsyncGenerator<Uint8Array> {
  for (let offset = 0; offset < size; offset += MiB) yield new Uint8Array(Math.min(MiB, size - offset)).fill(7);
}

describe('multipart upload and delete against hostile loopback servers', () => {
  const server = new FakeServer();
  let store: S3Store;
  let completes = 0;
  let complete: (res: ServerResponse, attempt: number) => void = (res) => xml(res, '<CompleteMultipartUploadResult/>');

  before(async () => {
    await server.start();
    store = s3Store({
      endpoint: server.url,
      bucket: 'b',
      region: 'us-east-1',
      credentials: { accessKeyId: 'AKID', secretAccessKey: 'secret' },
      retry: { attempts: 3, baseDelayMs: 1, maxDelayMs: 2 },
    });
  });
  after(() => server.stop());

  /** An S3 that answers Create and parts (the first try of part 2 with a 503), and Complete with `complete`. */
  function s3(): void {
    server.seen.length = 0;
    completes = 0;
    let part2 = 0;
    server.answer = (req, res) => {
      const url = new URL(req.url!, server.url);
      if (req.method === 'POST' && url.searchParams.has('uploads')) {
        xml(res, '<InitiateMultipartUploadResult><Bucket>b</Bucket><Key>k</Key><UploadId>u-1</UploadId></InitiateMultipartUploadResult>');
      } else if (req.method === 'PUT' && url.searchParams.has('partNumber')) {
        if (url.searchParams.get('partNumber') === '2' && part2++ === 0) res.writeHead(503).end();
        else res.writeHead(200, { etag: `"etag-${url.searchParams.get('partNumber')}"` }).end();
      } else if (req.method === 'POST' && url.searchParams.get('uploadId') === 'u-1') {
        complete(res, ++completes);
      } else if (req.method === 'DELETE' && url.searchParams.get('uploadId') === 'u-1') {
        res.writeHead(204).end();
      } else {
        res.writeHead(400).end();
      }
    };
  }

  const calls = (): string[] =>
    server.seen.map(({ method, url }) => `${method} ${url.replace(/^\/b\/k\??/, '').replace(/&uploadId=u-1|uploadId=u-1&?/, '')}`);

  it('issue 14: parts are retried, and a Complete answering 200 with InternalError is retried until it succeeds', async () => {
    s3();
    complete = (res, attempt) =>
      attempt === 1
        ? xml(res, '<Error><Code>InternalError</Code><Message>try again</Message></Error>')
        : xml(res, '<CompleteMultipartUploadResult/>');
    await store.upload('k', body(11 * MiB), { partSize: 5 * MiB });
    assert.deepEqual(calls(), [
      'POST uploads=',
      'PUT partNumber=1',
      'PUT partNumber=2',
      'PUT partNumber=2',
      'PUT partNumber=3',
      'POST ',
      'POST ',
    ]);
    assert.deepEqual(
      server.seen.filter((s) => s.method === 'PUT').map((s) => s.bytes),
      [5 * MiB, 5 * MiB, 5 * MiB, MiB],
    );
  });

  it('issue 14: the body is read one part ahead at most: each part is sent before the next is read from the body', async () => {
    s3();
    complete = (res) => xml(res, '<CompleteMultipartUploadResult/>');
    // 3 MiB chunks against 5 MiB parts: a part ends inside a chunk, whose rest is carried over.
    let yielded = 0;
    async function* chunks(): AsyncGenerator<Uint8Array> {
      for (const size of [3, 3, 3, 3, 3, 1]) {
        yielded += size * MiB;
        yield new Uint8Array(size * MiB).fill(3);
      }
    }
    const answer = server.answer;
    const yieldedAtPart: number[] = [];
    server.answer = (req, res, n) => {
      if (req.method === 'PUT') yieldedAtPart.push(yielded / MiB);
      answer(req, res, n);
    };
    await store.upload('k', chunks(), { partSize: 5 * MiB });
    const parts = server.seen.filter((s) => s.method === 'PUT');
    // Parts 1, 2 (a 503), 2 again, 3 and the last MiB.
    assert.deepEqual(
      parts.map((s) => s.bytes / MiB),
      [5, 5, 5, 5, 1],
    );
    // When part k reaches the server the body has given k parts and the rest of the chunk that
    // crossed the boundary: never a part more (the 503 of part 2's first try is retried first).
    assert.deepEqual(yieldedAtPart, [6, 12, 12, 15, 16]);
  });

  it('issue 14: a Complete answering 200 with a lasting InternalError is RXFEED_ERR_OBJECT_RETRIES, and the upload is aborted', async () => {
    s3();
    complete = (res) => xml(res, '<Error><Code>InternalError</Code><Message>still broken</Message></Error>');
    await assert.rejects(store.upload('k', body(6 * MiB), { partSize: 5 * MiB }), (error) => {
      assert.ok(error instanceof ObjectStoreError);
      assert.equal(error.code, 'RXFEED_ERR_OBJECT_RETRIES');
      assert.equal(error.object, 's3://b/k');
      assert.equal(error.status, 200);
      assert.match(error.message, /InternalError: still broken/);
      return true;
    });
    assert.deepEqual(calls().slice(-4), ['POST ', 'POST ', 'POST ', 'DELETE ']);
  });

  it('issue 14: a Complete answering 200 with InvalidPart is RXFEED_ERR_OBJECT_REQUEST at once, and the upload is aborted', async () => {
    s3();
    complete = (res) => xml(res, '<Error><Code>InvalidPart</Code><Message>one part is missing</Message></Error>');
    await assert.rejects(
      store.upload('k', body(6 * MiB), { partSize: 5 * MiB }),
      (error) => error instanceof ObjectStoreError && error.code === 'RXFEED_ERR_OBJECT_REQUEST' && /InvalidPart/.test(error.message),
    );
    assert.deepEqual(calls().slice(-2), ['POST ', 'DELETE ']);
  });

  it('issue 14: an unreadable CreateMultipartUpload answer is RXFEED_ERR_OBJECT_PROTOCOL and sends no part', async () => {
    server.seen.length = 0;
    server.answer = (_req, res) => xml(res, '<Nonsense/>');
    await assert.rejects(
      store.upload('k', body(6 * MiB), { partSize: 5 * MiB }),
      (error) =>
        error instanceof ObjectStoreError && error.code === 'RXFEED_ERR_OBJECT_PROTOCOL' && /CreateMultipartUpload/.test(error.message),
    );
    assert.deepEqual(calls(), ['POST uploads=']);
  });

  it('issue 14: httpStore.delete sends DELETE; 204 and 404 (already gone) succeed, 405 is RXFEED_ERR_OBJECT_REQUEST', async () => {
    server.seen.length = 0;
    const statuses = [204, 404, 405];
    server.answer = (_req, res, n) => res.writeHead(statuses[n - 1] ?? 500).end();
    const store = httpStore({ baseUrl: `${server.url}/dav/`, retry: { attempts: 1, baseDelayMs: 1, maxDelayMs: 1 } });
    await store.delete('a/one.tar');
    await store.delete('a/two.tar');
    await assert.rejects(
      store.delete('a/three.tar'),
      (error) => error instanceof ObjectStoreError && error.code === 'RXFEED_ERR_OBJECT_REQUEST' && error.status === 405,
    );
    assert.deepEqual(
      server.seen.map((s) => `${s.method} ${s.url}`),
      ['DELETE /dav/a/one.tar', 'DELETE /dav/a/two.tar', 'DELETE /dav/a/three.tar'],
    );
  });

  it(
    'issue 14: the real nginx (no WebDAV methods) refuses DELETE with a typed 405',
    { skip: nginx === undefined ? 'RXFEED_HTTP_ENDPOINT not set' : false },
    async () => {
      const store = httpStore({ baseUrl: `${nginx!.RXFEED_HTTP_ENDPOINT}/www/` });
      await assert.rejects(
        store.delete('no-such-shard.tar'),
        (error) => error instanceof ObjectStoreError && error.code === 'RXFEED_ERR_OBJECT_REQUEST' && error.status === 405,
      );
    },
  );
});
