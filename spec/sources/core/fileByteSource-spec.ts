/**
 * Issue 9.13: every failure of a local file is a FileReadError naming the path, with the file
 * system's error as `cause`, and nothing stays open.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { lastValueFrom, toArray, type Observable } from 'rxjs';
import { fileByteSource, FileReadError, InvalidArgumentError, type ByteSource } from '../../../src/index.js';
import { reusingStream, type ReusingStream } from '../../../sources/core/fileByteSource.js';
import { fromTFRecord } from '../../../sources/tfrecord/index.js';
import { openFds, tempDir } from '../tfrecord/paths.js';

const tmp = tempDir('file-byte-source');
after(() => tmp.remove());

const all = <T>(source: Observable<T>): Promise<T[]> => lastValueFrom(source.pipe(toArray()));

/** Reads the first chunk of a stream; a chunk at all is a failure of these specs. */
async function firstChunk(source: ByteSource): Promise<void> {
  for await (const chunk of source.stream(0)) {
    assert.fail(`${source.name} streamed ${chunk.length} byte(s)`);
  }
}

function isFileError(code: string, path: string, errno: string | undefined, offset?: number): (error: unknown) => true {
  return (error: unknown) => {
    assert.ok(error instanceof FileReadError, `expected a FileReadError, got ${String(error)}`);
    assert.equal(error.code, code);
    assert.equal(error.path, path);
    assert.equal(error.errno, errno);
    assert.equal(error.offset, offset);
    assert.ok(error.message.startsWith(`${path}: `), error.message);
    if (errno !== undefined) assert.equal((error.cause as NodeJS.ErrnoException).code, errno);
    return true;
  };
}

describe('issue 9.13: fileByteSource failures are typed and name the path', () => {
  const missing = join(tmp.dir, 'missing.tfrecord');
  const directory = join(tmp.dir, 'a-directory');
  mkdirSync(directory);
  const file = join(tmp.dir, 'plain.bin');
  writeFileSync(file, new Uint8Array(10).fill(7));

  it('issue 9.13: a missing file is RXFEED_ERR_FILE_NOT_FOUND (ENOENT) from size, read and stream', async () => {
    const source = fileByteSource(missing);
    await assert.rejects(source.size(), isFileError('RXFEED_ERR_FILE_NOT_FOUND', missing, 'ENOENT'));
    await assert.rejects(source.read(0, 10), isFileError('RXFEED_ERR_FILE_NOT_FOUND', missing, 'ENOENT'));
    await assert.rejects(firstChunk(source), isFileError('RXFEED_ERR_FILE_NOT_FOUND', missing, 'ENOENT'));
    const throughFile = join(file, 'child');
    await assert.rejects(fileByteSource(throughFile).size(), isFileError('RXFEED_ERR_FILE_NOT_FOUND', throughFile, 'ENOTDIR'));
  });

  it('issue 9.13: a directory is RXFEED_ERR_FILE_NOT_REGULAR, and its handle is closed', async () => {
    const before = openFds();
    const source = fileByteSource(directory);
    await assert.rejects(source.size(), isFileError('RXFEED_ERR_FILE_NOT_REGULAR', directory, undefined));
    await assert.rejects(source.read(0, 10), isFileError('RXFEED_ERR_FILE_NOT_REGULAR', directory, undefined));
    await assert.rejects(firstChunk(source), isFileError('RXFEED_ERR_FILE_NOT_REGULAR', directory, undefined));
    assert.equal(openFds(), before);
  });

  it('issue 9.13: /dev/zero and a FIFO are refused, not streamed forever or waited on', async () => {
    await assert.rejects(firstChunk(fileByteSource('/dev/zero')), isFileError('RXFEED_ERR_FILE_NOT_REGULAR', '/dev/zero', undefined));
    const fifo = join(tmp.dir, 'a-fifo');
    execFileSync('mkfifo', [fifo]);
    await assert.rejects(firstChunk(fileByteSource(fifo)), isFileError('RXFEED_ERR_FILE_NOT_REGULAR', fifo, undefined));
  });

  it('issue 9.13: /proc/self/mem (EIO on read) is RXFEED_ERR_FILE_READ at byte 0, with EIO as cause', async () => {
    await assert.rejects(firstChunk(fileByteSource('/proc/self/mem')), isFileError('RXFEED_ERR_FILE_READ', '/proc/self/mem', 'EIO', 0));
  });

  it('issue 9.13: a path with a NUL byte is RXFEED_ERR_FILE_READ, not a TypeError', async () => {
    const path = `${file}\0x`;
    await assert.rejects(
      fileByteSource(path).size(),
      (error: unknown) => error instanceof FileReadError && error.code === 'RXFEED_ERR_FILE_READ',
    );
  });

  it('issue 9.13: bad arguments are InvalidArgumentErrors; a read still allocates only what the file holds', async () => {
    const isArgument = (argument: string) => (error: unknown) => error instanceof InvalidArgumentError && error.argument === argument;
    assert.throws(() => fileByteSource(file, 0), isArgument('fileByteSource.chunkSize'));
    assert.throws(() => fileByteSource(file, 2 ** 40), isArgument('fileByteSource.chunkSize'));
    assert.throws(() => fileByteSource(5 as unknown as string), isArgument('fileByteSource.path'));
    const source = fileByteSource(file);
    await assert.rejects(source.read(-1, 5), isArgument('read.start'));
    await assert.rejects(source.read(0, Number.NaN), isArgument('read.end'));
    await assert.rejects(firstChunk({ ...source, stream: () => source.stream(1.5) }), isArgument('stream.start'));
    // An end of 2^50 asks for a petabyte: only the 10 bytes that exist are allocated.
    assert.deepEqual(await source.read(3, 2 ** 50), new Uint8Array(7).fill(7));
  });

  it('issue 9.13: fromTFRecord over a missing shard or a directory errors with the FileReadError', async () => {
    await assert.rejects(all(fromTFRecord([missing])), isFileError('RXFEED_ERR_FILE_NOT_FOUND', missing, 'ENOENT'));
    await assert.rejects(all(fromTFRecord([directory])), isFileError('RXFEED_ERR_FILE_NOT_REGULAR', directory, undefined));
  });
});

/**
 * Counts the reads of every FileHandle: started, and still in flight. The reads themselves are
 * the real ones, of a real file; only their number is observed.
 */
async function countReads(file: string): Promise<{ started: () => number; inFlight: () => number; restore: () => void }> {
  const handle = await open(file, 'r');
  const prototype = Object.getPrototypeOf(handle) as { read: (...args: unknown[]) => Promise<unknown> };
  await handle.close();
  const read = prototype.read;
  let started = 0;
  let settled = 0;
  prototype.read = function (this: unknown, ...args: unknown[]) {
    started++;
    return read.apply(this, args).finally(() => settled++);
  };
  return { started: () => started, inFlight: () => started - settled, restore: () => void (prototype.read = read) };
}

const turns = async (count: number): Promise<void> => {
  for (let turn = 0; turn < count; turn++) await new Promise((resolve) => setImmediate(resolve));
};

describe('issue 12: fileByteSource reads one chunk ahead of its consumer, never more', () => {
  const chunkSize = 4096;
  const chunks = 6;
  const file = join(tmp.dir, 'read-ahead.bin');
  const content = Uint8Array.from({ length: chunks * chunkSize - 100 }, (_, index) => (index * 7) & 0xff);
  writeFileSync(file, content);

  it('issue 12: while the consumer holds chunk k, chunk k + 1 is read, and no further one however long it waits', async () => {
    const reads = await countReads(file);
    try {
      const received: Uint8Array[] = [];
      for await (const chunk of fileByteSource(file, chunkSize).stream(0)) {
        received.push(chunk);
        assert.equal(reads.started(), received.length + 1, `reads started while holding chunk ${received.length}`);
        assert.ok(reads.inFlight() <= 1);
        await turns(5);
        assert.equal(reads.started(), received.length + 1, `chunk ${received.length}: no read beyond the one ahead`);
      }
      assert.equal(received.length, chunks);
      assert.deepEqual(Buffer.concat(received), Buffer.from(content));
      // Each chunk is its own array, exactly its bytes: the last one holds no slack.
      assert.deepEqual(
        received.map((chunk) => [chunk.byteLength, chunk.buffer.byteLength]),
        [...Array.from({ length: chunks - 1 }, () => [chunkSize, chunkSize]), [chunkSize - 100, chunkSize - 100]],
      );
      assert.equal(reads.inFlight(), 0);
    } finally {
      reads.restore();
    }
  });

  it('issue 12: a break with a read ahead in flight closes the file before the loop returns', async () => {
    const reads = await countReads(file);
    try {
      const before = openFds();
      for await (const chunk of fileByteSource(file, chunkSize).stream(0)) {
        assert.equal(chunk.byteLength, chunkSize);
        assert.equal(reads.inFlight(), 1);
        assert.equal(openFds(), before + 1);
        break;
      }
      assert.equal(reads.inFlight(), 0);
      assert.equal(openFds(), before);
    } finally {
      reads.restore();
    }
  });

  it('issue 12: an abort with a read ahead in flight rejects the next pull and closes the file', async () => {
    const reads = await countReads(file);
    try {
      const before = openFds();
      const controller = new AbortController();
      const iterator = fileByteSource(file, chunkSize).stream(0, controller.signal)[Symbol.asyncIterator]();
      assert.equal((await iterator.next()).value?.byteLength, chunkSize);
      assert.equal(reads.inFlight(), 1);
      controller.abort(new Error('stop'));
      await assert.rejects(iterator.next(), /stop/);
      assert.equal(reads.inFlight(), 0);
      assert.equal(openFds(), before);
    } finally {
      reads.restore();
    }
  });

  it('issue 12: the internal reusing stream reads into two buffers in turn, with the same read-ahead', async () => {
    const reads = await countReads(file);
    try {
      const source = fileByteSource(file, chunkSize) as ReturnType<typeof fileByteSource> & ReusingStream;
      const received: Uint8Array[] = [];
      const copies: Uint8Array[] = [];
      for await (const chunk of source[reusingStream](0)) {
        received.push(chunk);
        copies.push(chunk.slice());
        assert.equal(reads.started(), received.length + 1);
      }
      assert.deepEqual(Buffer.concat(copies), Buffer.from(content));
      const buffers = new Set(received.map((chunk) => chunk.buffer));
      assert.equal(buffers.size, 2);
      received.forEach((chunk, index) => {
        if (index >= 2) assert.equal(chunk.buffer, received[index - 2]!.buffer);
        if (index >= 1) assert.notEqual(chunk.buffer, received[index - 1]!.buffer);
      });
    } finally {
      reads.restore();
    }
  });
});
