// For the worker-pipeline source specs: a loopback object server, this process's sockets to a
// server, and removing a spec's S3 bucket afterwards.
//
// No AIStore can run here: `ObjectServer` answers the object paths of AIStore's native HTTP API
// (as spec/sources/objectstore/aisStore-spec.ts's server does: GET with Range, HEAD) and the same
// objects as plain HTTP paths, for parts in worker threads to reach over loopback.
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import assert from 'node:assert/strict';
import { signHeaders } from '../../../sources/objectstore/index.js';
import { replyWithRange } from '../../sources/objectstore/rangeReply.js';
import { serverEnv } from '../objectstore/servers.js';
import { s3StoreOf, type StoreAccess } from './fixtures/sourcePipelines.js';

/** Objects served over loopback, under AIStore's `/v1/objects/<bucket>/<key>` and as `/<key>`. */
export class ObjectServer {
  readonly #server: Server;
  readonly #objects: ReadonlyMap<string, Uint8Array>;
  readonly #closeAfterEach: boolean;
  /** Responses begun and neither finished nor cut. */
  openResponses = 0;
  /** Requests answered, by method and path (for a spec that wants to see reads happened). */
  readonly requests: string[] = [];

  private constructor(objects: ReadonlyMap<string, Uint8Array>, closeAfterEach: boolean) {
    this.#objects = objects;
    this.#closeAfterEach = closeAfterEach;
    this.#server = createServer((req, res) => this.#answer(req, res));
  }

  /**
   * Listen on 127.0.0.1, port 0. `closeAfterEach`: every response says `connection: close`, so no
   * client keeps an idle connection: any connection open is one with a response in flight.
   */
  static async start(objects: ReadonlyMap<string, Uint8Array>, options: { closeAfterEach?: boolean } = {}): Promise<ObjectServer> {
    const server = new ObjectServer(objects, options.closeAfterEach ?? false);
    await new Promise<void>((resolve) => server.#server.listen(0, '127.0.0.1', resolve));
    return server;
  }

  get port(): number {
    return (this.#server.address() as AddressInfo).port;
  }

  get endpoint(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  async close(): Promise<void> {
    this.#server.closeAllConnections();
    await new Promise((resolve) => this.#server.close(resolve));
  }

  #answer(req: IncomingMessage, res: ServerResponse): void {
    const url = new URL(req.url ?? '/', 'http://x');
    this.requests.push(`${req.method} ${url.pathname}`);
    const ais = /^\/v1\/objects\/[^/]+\/(.+)$/.exec(url.pathname);
    const key = decodeURIComponent(ais === null ? url.pathname.slice(1) : ais[1]!);
    const data = this.#objects.get(key);
    if (this.#closeAfterEach) res.setHeader('connection', 'close');
    if (data === undefined) {
      res
        .writeHead(404, { 'content-type': 'application/json' })
        .end(JSON.stringify({ message: `object ${key} does not exist`, status: 404 }));
      return;
    }
    const headers = { 'ais-size': String(data.length), 'ais-version': '1', etag: '"v1"', 'accept-ranges': 'bytes' };
    if (req.method === 'HEAD') {
      res.writeHead(200, { ...headers, 'content-length': data.length }).end();
      return;
    }
    this.openResponses++;
    let counted = true;
    const settle = (): void => {
      if (counted) this.openResponses--;
      counted = false;
    };
    res.on('finish', settle).on('close', settle);
    replyWithRange(res, req.headers.range, data, headers);
  }
}

/** Inodes of the TCP sockets (any process) whose remote end is 127.0.0.1:`port` or [::1]:`port`. */
function socketInodesTo(port: number): Set<string> {
  const inodes = new Set<string>();
  const hexPort = port.toString(16).toUpperCase().padStart(4, '0');
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text: string;
    try {
      text = readFileSync(table, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const fields = line.trim().split(/\s+/);
      // sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode
      if (fields.length < 10 || !fields[2]!.endsWith(`:${hexPort}`)) continue;
      if (fields[9] !== '0') inodes.add(fields[9]!);
    }
  }
  return inodes;
}

/**
 * This process's open sockets connected to `port` on loopback (every thread's: threads share the
 * descriptor table), as `socket:[inode]` names: the sockets of other processes talking to the same
 * server are not counted.
 */
export function ourSocketsTo(port: number): string[] {
  const inodes = socketInodesTo(port);
  return readdirSync('/proc/self/fd').flatMap((fd) => {
    try {
      const target = readlinkSync(`/proc/self/fd/${fd}`);
      const inode = /^socket:\[(\d+)\]$/.exec(target)?.[1];
      return inode !== undefined && inodes.has(inode) ? [target] : [];
    } catch {
      return [];
    }
  });
}

/** Create `access`'s bucket and put `objects` in it; answers their keys, for {@link removeBucket}. */
export async function fillBucket(
  access: Extract<StoreAccess, { kind: 's3' }>,
  objects: Iterable<readonly [key: string, bytes: Uint8Array]>,
): Promise<string[]> {
  const store = s3StoreOf(access);
  await store.createBucket();
  const keys: string[] = [];
  for (const [key, bytes] of objects) {
    keys.push(key);
    await store.put(key, bytes);
  }
  return keys;
}

/** Delete `keys` and then the bucket (SigV4-signed DELETEs), so the spec leaves RGW as it found it. */
export async function removeBucket(access: Extract<StoreAccess, { kind: 's3' }>, keys: readonly string[]): Promise<void> {
  const endpoint = new URL(access.endpoint);
  for (const path of [...keys.map((key) => `/${access.bucket}/${key}`), `/${access.bucket}`]) {
    const signed = signHeaders(
      { method: 'DELETE', path, headers: [['host', endpoint.host]] },
      {
        credentials: { accessKeyId: access.accessKeyId, secretAccessKey: access.secretAccessKey },
        region: access.region,
        service: 's3',
        date: new Date(),
        contentSha256Header: true,
      },
    );
    const response = await fetch(new URL(path.split('/').map(encodeURIComponent).join('/'), endpoint), {
      method: 'DELETE',
      headers: signed.headers.filter(([name]) => name !== 'host') as [string, string][],
    });
    await response.arrayBuffer();
    assert.ok(response.status === 204 || response.status === 200, `DELETE ${path}: ${response.status}`);
  }
}

/** This process's open files under `dir` (every thread's: threads share the descriptor table). */
export function openFilesUnder(dir: string): string[] {
  return readdirSync('/proc/self/fd').flatMap((fd) => {
    try {
      const target = readlinkSync(`/proc/self/fd/${fd}`);
      return target.startsWith(dir) ? [target] : [];
    } catch {
      return [];
    }
  });
}

/** The running Ceph RGW, as plain options for a part's store, with a fresh bucket named from `prefix`; undefined when not running. */
export function rgwAccess(prefix: string): Extract<StoreAccess, { kind: 's3' }> | undefined {
  const rgw = serverEnv(['RXFEED_S3_ENDPOINT', 'RXFEED_S3_ACCESS_KEY', 'RXFEED_S3_SECRET_KEY', 'RXFEED_S3_REGION'], 'scripts/start-rgw.sh');
  if (rgw === undefined) return undefined;
  return {
    kind: 's3',
    endpoint: rgw.RXFEED_S3_ENDPOINT,
    bucket: `${prefix}-${Date.now().toString(36)}-${randomBytes(3).toString('hex')}`,
    region: rgw.RXFEED_S3_REGION,
    accessKeyId: rgw.RXFEED_S3_ACCESS_KEY,
    secretAccessKey: rgw.RXFEED_S3_SECRET_KEY,
  };
}
