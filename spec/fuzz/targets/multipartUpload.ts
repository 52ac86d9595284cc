import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { s3Store } from '../../../sources/objectstore/s3Store.js';
import { closeLoopback, fastRetry, loopbackOnlyDns } from './loopback.js';
import type { FuzzTarget } from './target.js';

/** One answer of the hostile server: a status, a body and, for UploadPart, how the ETag header is sent. */
export interface MultipartAnswer {
  readonly status: number;
  readonly body: string;
  /** UploadPart only: the ETag header's value, or `undefined` for none. */
  readonly etag?: string | undefined;
}

/** Answers of one upload, by request; a list is answered in order, its last answer then repeated. */
export interface MultipartInput {
  /** `small`: shorter than a part (one PutObject); `parts`: two parts of 5 MiB and a bit. */
  readonly body: 'small' | 'parts';
  readonly put: MultipartAnswer;
  readonly create: readonly MultipartAnswer[];
  readonly part: readonly MultipartAnswer[];
  readonly complete: readonly MultipartAnswer[];
  readonly abort: readonly MultipartAnswer[];
}

/** The invariant this target adds: a failed multipart upload leaves no upload behind (AbortMultipartUpload was sent). */
class FuzzInvariantError extends Error {
  override readonly name = 'FuzzInvariantError';
}

const PART_SIZE = 5 * 1024 * 1024;
const CHUNK = 1024 * 1024;
const SMALL = 1000;

let server: Server | undefined;
let url = '';
let input: MultipartInput | undefined;
let counts: Record<'put' | 'create' | 'part' | 'complete' | 'abort', number> = { put: 0, create: 0, part: 0, complete: 0, abort: 0 };
/** The uploadIds the client sent parts and completes for, and those it aborted. */
let used = new Set<string>();
let aborted = new Set<string>();
/** The body bytes, made once per worker: the meter then sees only what the upload itself allocates. */
let bodyBytes: Uint8Array | undefined;

function answer(kind: keyof typeof counts, response: ServerResponse): void {
  const list: readonly MultipartAnswer[] = kind === 'put' ? [input!.put] : input![kind];
  const chosen = list[Math.min(counts[kind]++, list.length - 1)] ?? { status: 200, body: '' };
  const headers: Record<string, string> = { 'content-type': 'application/xml' };
  if (kind === 'part' && chosen.etag !== undefined) headers.etag = chosen.etag;
  response.writeHead(chosen.status, headers).end(chosen.body);
}

function handle(request: IncomingMessage, response: ServerResponse): void {
  // The whole request is read before it is answered, as S3 does, so a part's bytes never stall the socket.
  request.on('error', () => undefined);
  request.resume();
  request.on('end', () => {
    const query = new URL(request.url ?? '/', 'http://x').searchParams;
    const uploadId = query.get('uploadId');
    if (uploadId !== null && request.method !== 'DELETE') used.add(uploadId);
    if (request.method === 'POST' && query.has('uploads')) answer('create', response);
    else if (request.method === 'PUT' && uploadId !== null) answer('part', response);
    else if (request.method === 'PUT') answer('put', response);
    else if (request.method === 'POST' && uploadId !== null) answer('complete', response);
    else if (request.method === 'DELETE' && uploadId !== null) {
      aborted.add(uploadId);
      answer('abort', response);
    } else response.writeHead(400).end();
  });
}

async function* body(bytes: Uint8Array): AsyncGenerator<Uint8Array> {
  for (let at = 0; at < bytes.byteLength; at += CHUNK) yield bytes.subarray(at, Math.min(at + CHUNK, bytes.byteLength));
}

/**
 * `s3Store(...).upload(key, body, { partSize: 5 MiB })` against a loopback server answering each
 * request of the upload from the input; on a rejection after CreateMultipartUpload, every
 * uploadId the client used must have been aborted.
 */
export const target: FuzzTarget<MultipartInput> = {
  setup: async () => {
    loopbackOnlyDns();
    bodyBytes = new Uint8Array(2 * PART_SIZE + SMALL).fill(0x61);
    // Headers past Node's 16 KiB default: a hostile uploadId of 64 KiB must still reach the handler, or its abort could not be seen.
    server = createServer({ maxHeaderSize: 1024 * 1024 }, handle);
    await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  },
  teardown: () => closeLoopback(server),
  inputBytes: (value) =>
    [value.put, ...value.create, ...value.part, ...value.complete, ...value.abort].reduce(
      (sum, item) => sum + Buffer.byteLength(item.body) + Buffer.byteLength(item.etag ?? ''),
      0,
    ),
  run: async (value) => {
    input = value;
    counts = { put: 0, create: 0, part: 0, complete: 0, abort: 0 };
    used = new Set();
    aborted = new Set();
    const store = s3Store({ endpoint: url, bucket: 'fuzz', credentials: null, region: 'us-east-1', env: {}, retry: fastRetry });
    const bytes = value.body === 'small' ? bodyBytes!.subarray(0, SMALL) : bodyBytes!;
    try {
      await store.upload('train/shard-000000.tar', body(bytes), { partSize: PART_SIZE });
    } catch (error) {
      const left = [...used].filter((id) => !aborted.has(id));
      if (left.length > 0) {
        throw new FuzzInvariantError(
          `the upload failed (${(error as Error).message.slice(0, 200)}) without aborting uploadId ${JSON.stringify(left[0]!.slice(0, 100))}`,
        );
      }
      throw error;
    }
    if (aborted.size > 0) throw new FuzzInvariantError(`the upload succeeded but aborted ${aborted.size} uploadId(s)`);
  },
};
