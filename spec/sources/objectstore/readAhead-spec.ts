/**
 * Issue 12: an object's body is read from the socket ahead of its consumer, up to
 * `readAheadBytes` (BODY_READ_AHEAD by default) and no further, and a break with that
 * read-ahead buffered still releases the connection.
 */
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { connect, type AddressInfo, type Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { Agent } from 'undici';
import { httpStore } from '../../../sources/objectstore/index.js';
import { InvalidArgumentError } from '../../../src/errors.js';
import { BODY_READ_AHEAD, MAX_READ_AHEAD } from '../../../sources/objectstore/transport.js';

/** The body: larger than the read-ahead and than any socket buffer between the two ends. */
const BODY = 64 * 1024 * 1024;
/**
 * What the socket may have read past the high-water mark when the body pauses it: Node reads up
 * to 64 KiB at a time, and under load a second read lands before the pause (seen: 107 KiB), plus
 * the headers.
 */
const SOCKET_READ = 2 * 64 * 1024 + 1024;

const turns = async (count: number): Promise<void> => {
  for (let turn = 0; turn < count; turn++) await new Promise((resolve) => setImmediate(resolve));
};

describe('issue 12: HTTP bodies are read ahead of the consumer, within BODY_READ_AHEAD', () => {
  let server: Server;
  let origin = '';
  const sockets: Socket[] = [];
  /** An agent whose sockets the spec can see: `bytesRead` is what the client took from the kernel. */
  const agent = new Agent({
    connect: (options, callback) => {
      const socket = connect({ host: options.hostname, port: Number(options.port) });
      sockets.push(socket);
      socket.once('connect', () => callback(null, socket));
      socket.once('error', (error) => callback(error, null));
    },
  });

  before(async () => {
    const piece = new Uint8Array(1024 * 1024).fill(0x61);
    server = createServer((_request, response) => {
      response.writeHead(200, { 'content-length': String(BODY), etag: '"v1"' });
      let sent = 0;
      const write = (): void => {
        while (sent < BODY) {
          sent += piece.byteLength;
          if (!response.write(piece)) {
            response.once('drain', write);
            return;
          }
        }
        response.end();
      };
      write();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  after(async () => {
    await agent.close();
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  it('issue 12: while the consumer holds a chunk, the client reads on to BODY_READ_AHEAD bytes ahead, then stops', async () => {
    const store = httpStore({ baseUrl: `${origin}/`, dispatcher: agent });
    let consumed = 0;
    for await (const chunk of store.open('big.bin').stream(0)) {
      consumed += chunk.byteLength;
      const socket = sockets.at(-1)!;
      // Let the socket run until it stops: the client has then read all it will while the chunk is held.
      let read = -1;
      while (read !== socket.bytesRead) {
        read = socket.bytesRead;
        await turns(20);
      }
      const ahead = socket.bytesRead - consumed;
      assert.ok(ahead >= BODY_READ_AHEAD - SOCKET_READ, `read ${ahead} bytes ahead, expected about ${BODY_READ_AHEAD}`);
      assert.ok(ahead <= BODY_READ_AHEAD + SOCKET_READ, `read ${ahead} bytes ahead, more than ${BODY_READ_AHEAD}`);
      // A break with the read-ahead buffered destroys the body and its connection.
      break;
    }
    const socket = sockets.at(-1)!;
    if (!socket.destroyed) await new Promise((resolve) => socket.once('close', resolve));
    assert.ok(socket.destroyed, 'the connection of the abandoned body is closed');
  });

  it('issue 12: readAheadBytes sets how far ahead, and is checked', async () => {
    const readAheadBytes = 4 * 1024 * 1024;
    const store = httpStore({ baseUrl: `${origin}/`, dispatcher: agent, readAheadBytes });
    for await (const chunk of store.open('big.bin').stream(0)) {
      const socket = sockets.find((open) => !open.destroyed)!;
      let read = -1;
      while (read !== socket.bytesRead) {
        read = socket.bytesRead;
        await turns(20);
      }
      const ahead = socket.bytesRead - chunk.byteLength;
      assert.ok(ahead >= readAheadBytes - SOCKET_READ && ahead <= readAheadBytes + SOCKET_READ, `read ${ahead} bytes ahead`);
      break;
    }
    for (const bad of [0, 1.5, MAX_READ_AHEAD + 1, Number.NaN]) {
      assert.throws(
        () => httpStore({ baseUrl: `${origin}/`, readAheadBytes: bad }),
        (error: unknown) => error instanceof InvalidArgumentError && error.argument === 'readAheadBytes',
      );
    }
  });
});
