// Shared setup of the MongoDB integration specs: which server (RXFEED_MONGODB_URI, CongoDB in CI),
// the real data of ../shared/data/mongodb-json loaded with EJSON, and a generated large collection.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { BSON, MongoClient, type CommandStartedEvent, type CommandSucceededEvent, type Db, type Document } from 'mongodb';

const uri = process.env.RXFEED_MONGODB_URI;

/**
 * The server URI, or why the specs cannot run. CI sets RXFEED_REQUIRE_SERVERS=1: a missing server
 * then fails the specs instead of skipping them.
 */
export const mongo: { uri: string | undefined; skip: string | false } = {
  uri,
  skip:
    uri === undefined || uri === ''
      ? process.env.RXFEED_REQUIRE_SERVERS === '1'
        ? false
        : 'RXFEED_MONGODB_URI is not set (run scripts/start-congodb.sh and source .tmp/congodb.env)'
      : false,
};

/** The URI, failing the spec when it is required and absent. */
export function requireUri(): string {
  if (mongo.uri === undefined || mongo.uri === '') {
    throw new Error('RXFEED_MONGODB_URI is not set but RXFEED_REQUIRE_SERVERS=1: start scripts/start-congodb.sh');
  }
  return mongo.uri;
}

/** A database name unique to one spec file and process, dropped by the spec at the end. */
export function specDbName(spec: string): string {
  return `rxfeed_${spec}_${process.pid}`;
}

const dataDir = join(process.cwd(), '..', 'shared', 'data', 'mongodb-json');

/**
 * The documents of one mongoexport file, parsed with EJSON.
 *
 * CongoDB (the emulator CI uses) stores every `_id` as an ObjectId: it rejects string `_id`s and
 * silently turns numbers into unrelated ObjectIds. So every non-ObjectId `_id` is mapped, for
 * every server alike (the specs must run unchanged on a real one), to a deterministic ObjectId,
 * keeping the original in `sourceId`: integers keep their order (8 big-endian bytes after 4 zero
 * bytes), strings (products.json's "ac3") get the first 12 bytes of an MD5 of file and id.
 */
export function loadEjson(file: string): Document[] {
  const text = readFileSync(join(dataDir, file), 'utf8');
  return text
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => {
      const document = BSON.EJSON.parse(line, { relaxed: true }) as Document;
      const id: unknown = document._id;
      if (id instanceof BSON.ObjectId) return document;
      return { ...document, _id: mappedId(file, id), sourceId: id };
    });
}

function mappedId(file: string, id: unknown): BSON.ObjectId {
  if (typeof id === 'number' && Number.isSafeInteger(id) && id >= 0) {
    const bytes = Buffer.alloc(12);
    bytes.writeBigUInt64BE(BigInt(id), 4);
    return new BSON.ObjectId(bytes);
  }
  const digest = createHash('md5')
    .update(`${file}:${BSON.EJSON.stringify({ id } as Document)}`)
    .digest();
  return new BSON.ObjectId(digest.subarray(0, 12));
}

/** The `_id` of generated document `i`: ObjectIds in the order of `i`. */
export function generatedId(i: number): BSON.ObjectId {
  const bytes = Buffer.alloc(12);
  bytes.writeUInt32BE(0x66000000, 0);
  bytes.writeUIntBE(i, 6, 6);
  return new BSON.ObjectId(bytes);
}

/** Insert `count` generated documents `{ _id, i, label, x, embedding: [4 numbers], name }`. */
export async function insertGenerated(db: Db, collection: string, count: number): Promise<void> {
  const target = db.collection(collection);
  const chunk = 20_000;
  for (let start = 0; start < count; start += chunk) {
    const documents: Document[] = [];
    for (let i = start; i < Math.min(count, start + chunk); i++) {
      documents.push({
        _id: generatedId(i),
        i,
        label: i % 10,
        x: i / 7,
        embedding: [i, i + 0.5, -i, 1],
        name: `doc-${i}`,
      });
    }
    await target.insertMany(documents, { ordered: false });
  }
}

/** The two read paths of `fromMongo` over an `_id` order: the cursor specs run under both. */
export const readModes = [
  { name: 'cursor windows (default)', windowed: true, options: {} },
  { name: 'keyset pages (cursorWindowMs: 0)', windowed: false, options: { cursorWindowMs: 0 } },
] as const;

/** A cursor-creating command seen by {@link CursorLog}. */
export interface CursorOpen {
  readonly commandName: 'find' | 'aggregate';
  readonly command: Document;
  /** The id of the server cursor its reply named; 0n when the first batch held everything. */
  cursorId: bigint;
}

const toBigInt = (id: unknown): bigint => BigInt(String(id));

/**
 * What a client did with server cursors, from the driver's command monitoring (the client needs
 * `monitorCommands: true`): each `find`/`aggregate`, `getMore` and `killCursors`, and which
 * cursors ended exhausted (a reply with cursor id 0) or killed.
 */
export class CursorLog {
  /** Names of the cursor commands, in the order they started. */
  readonly commands: string[] = [];
  readonly opens: CursorOpen[] = [];
  readonly exhausted = new Set<bigint>();
  readonly killed = new Set<bigint>();
  readonly #client: MongoClient;
  readonly #pending = new Map<number, { open?: CursorOpen; getMore?: bigint; kill?: bigint[] }>();

  constructor(client: MongoClient) {
    this.#client = client;
    client.on('commandStarted', this.#started);
    client.on('commandSucceeded', this.#succeeded);
  }

  /** Stop listening. */
  detach(): void {
    this.#client.off('commandStarted', this.#started);
    this.#client.off('commandSucceeded', this.#succeeded);
  }

  /** Count of started commands with this name. */
  count(commandName: string): number {
    return this.commands.filter((name) => name === commandName).length;
  }

  /** Cursor ids opened and neither exhausted nor killed, as far as the commands tell. */
  stillOpen(): bigint[] {
    return this.opens.map((open) => open.cursorId).filter((id) => id !== 0n && !this.exhausted.has(id) && !this.killed.has(id));
  }

  readonly #started = (event: CommandStartedEvent): void => {
    const { commandName, command } = event;
    if (commandName === 'find' || commandName === 'aggregate') {
      const open: CursorOpen = { commandName, command, cursorId: 0n };
      this.opens.push(open);
      this.#pending.set(event.requestId, { open });
    } else if (commandName === 'getMore') {
      this.#pending.set(event.requestId, { getMore: toBigInt(command.getMore) });
    } else if (commandName === 'killCursors') {
      this.#pending.set(event.requestId, { kill: (command.cursors as unknown[]).map(toBigInt) });
    } else {
      return;
    }
    this.commands.push(commandName);
  };

  readonly #succeeded = (event: CommandSucceededEvent): void => {
    const pending = this.#pending.get(event.requestId);
    if (pending === undefined) return;
    this.#pending.delete(event.requestId);
    const replyCursor = (event.reply as Document).cursor as Document | undefined;
    const replyId = replyCursor === undefined ? undefined : toBigInt(replyCursor.id);
    if (pending.open !== undefined && replyId !== undefined) pending.open.cursorId = replyId;
    if (pending.getMore !== undefined && replyId === 0n) this.exhausted.add(pending.getMore);
    // Killed, or already gone (cursorsNotFound): either way the server holds it no more.
    for (const id of pending.kill ?? []) this.killed.add(id);
  };
}

/** The `_id` bound a keyset `find` or `aggregate` started after, or undefined for none. */
export function keysetBoundOf(open: CursorOpen): unknown {
  const { command } = open;
  const matches: Document[] =
    open.commandName === 'find'
      ? [command.filter as Document]
      : (command.pipeline as Document[]).filter((stage) => stage.$match !== undefined).map((stage) => stage.$match as Document);
  for (const match of matches.reverse()) {
    const parts = match.$and !== undefined ? (match.$and as Document[]) : [match];
    for (const part of parts) {
      const id = part._id as Document | undefined;
      if (id !== undefined && (id.$gt !== undefined || id.$gte !== undefined)) return id.$gt ?? id.$gte;
    }
  }
  return undefined;
}

/** A client for the spec's own setup and checks (not the one rxfeed shares). */
export function specClient(): MongoClient {
  return new MongoClient(requireUri());
}

/**
 * A TCP proxy in front of the server: the spec can cut every connection through it, the way a
 * network loss does. Only for a single-host `mongodb://` URI.
 */
export class CuttableProxy {
  readonly #server: Server;
  readonly #sockets = new Set<Socket>();
  readonly #target: { host: string; port: number };
  cuts = 0;

  private constructor(server: Server, target: { host: string; port: number }) {
    this.#server = server;
    this.#target = target;
  }

  static async start(serverUri: string): Promise<CuttableProxy> {
    const match = /^mongodb:\/\/(?:[^@/]*@)?([^/:,?]+)(?::(\d+))?(?:\/|$|\?)/.exec(serverUri);
    if (match === null) throw new Error(`the network-loss spec needs a single-host mongodb:// URI, got ${serverUri}`);
    const target = { host: match[1]!, port: Number(match[2] ?? 27017) };
    const server = createServer();
    const proxy = new CuttableProxy(server, target);
    server.on('connection', (client) => proxy.#pipe(client));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return proxy;
  }

  #pipe(client: Socket): void {
    const upstream = connect(this.#target.port, this.#target.host);
    this.#sockets.add(client);
    this.#sockets.add(upstream);
    const drop = (): void => {
      client.destroy();
      upstream.destroy();
      this.#sockets.delete(client);
      this.#sockets.delete(upstream);
    };
    client.on('error', drop).on('close', drop);
    upstream.on('error', drop).on('close', drop);
    client.pipe(upstream);
    upstream.pipe(client);
  }

  /** The server's URI with the proxy as its host. */
  uri(serverUri: string): string {
    const port = (this.#server.address() as { port: number }).port;
    const rewritten = serverUri.replace(/^mongodb:\/\/((?:[^@/]*@)?)[^/?]+/, `mongodb://$1127.0.0.1:${port}`);
    return rewritten.includes('directConnection=')
      ? rewritten
      : `${rewritten}${rewritten.includes('?') ? '&' : rewritten.endsWith('/') ? '?' : '/?'}directConnection=true`;
  }

  /** Destroy every open connection, both ways. */
  cut(): void {
    this.cuts += 1;
    for (const socket of this.#sockets) socket.destroy();
    this.#sockets.clear();
  }

  async close(): Promise<void> {
    this.cut();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }
}
