import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { failure, redact } from '../../src/cli/output.js';
import { InvalidArgumentError } from '../../src/errors.js';
import { assertFailure, cli, repoRoot, startCli, webdataset } from './cli.js';

/** Each command's options, as its --help must list them. */
const OPTIONS: Record<string, readonly string[]> = {
  ls: ['--format <format>', '--split <split>', '--collection <name>', '--filter <json>', '--json', '--debug'],
  inspect: ['-n, --samples <count>', '--format <format>', '--split <split>', '--collection <name>', '--filter <json>', '--json', '--debug'],
  index: ['--format <format>', '--split <split>', '--json', '--debug'],
  bench: ['--seconds <n>', '--samples <n>', '--decode', '--format <format>', '--split <split>', '--json', '--debug'],
  convert: ['--max-count <n>', '--max-size <bytes>', '--format <format>', '--json', '--debug'],
};

describe('rxfeed: help, usage errors and failures', () => {
  it('issue 14: every command has --help listing each of its options and the input spelling, exit 0', async () => {
    for (const [command, options] of Object.entries(OPTIONS)) {
      const result = await cli([command, '--help']);
      assert.equal(result.status, 0, command);
      assert.equal(result.stderr, '');
      assert.ok(result.stdout.startsWith(`Usage: rxfeed ${command} [options] <input>`), result.stdout);
      for (const option of options) assert.ok(result.stdout.includes(option), `${command} --help lacks ${option}`);
      for (const input of [
        's3://bucket/prefix/',
        'mongodb://host:27017/db.collection',
        'train-{000000..000007}.tar',
        'dataset_info.json',
      ]) {
        assert.ok(result.stdout.includes(input), `${command} --help lacks ${input}`);
      }
    }
    const top = await cli(['--help']);
    assert.equal(top.status, 0);
    for (const command of Object.keys(OPTIONS)) assert.match(top.stdout, new RegExp(`\\n  ${command} \\[options\\] <input>`));
  });

  it("issue 14: --version prints package.json's version", async () => {
    const result = await cli(['--version']);
    assert.equal(result.status, 0);
    assert.equal(result.stdout, `${(JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as { version: string }).version}\n`);
  });

  it("issue 14: an unknown option, an unknown command, a missing argument or a bad --format exit 2 with commander's message", async () => {
    const cases: [string[], RegExp][] = [
      [['ls', join(webdataset, 'compressed.tar'), '--bogus'], /^error: unknown option '--bogus'\n$/],
      [['lss', 'x'], /^error: unknown command 'lss'\n\(Did you mean ls\?\)\n$/],
      [['inspect'], /^error: missing required argument 'input'\n$/],
      [
        ['ls', 'x', '--format', 'zip'],
        /^error: option '--format <format>' argument 'zip' is invalid\. Allowed choices are tar, tfrecord, tfds, mongodb\.\n$/,
      ],
    ];
    for (const [args, message] of cases) {
      const result = await cli(args);
      assert.equal(result.status, 2, args.join(' '));
      assert.equal(result.stdout, '');
      assert.match(result.stderr, message);
    }
  });

  it('issue 14: a typed failure is one line on stderr naming the command and code, exit 1, with --json too', async () => {
    for (const extra of [[], ['--json'], ['--debug']]) {
      const result = await cli(['inspect', join(webdataset, 'nothing-{0..2}.tar'), ...extra]);
      assertFailure(result, 'inspect', 'RXFEED_ERR_FILE_NOT_FOUND');
      assert.ok(result.stderr.includes(join(webdataset, 'nothing-0.tar')));
    }
  });

  it('issue 14: a reader that closed the pipe (| head) ends the command quietly, exit 0', async () => {
    const run = startCli(['inspect', join(webdataset, 'testgz.tar'), '-n', '1000']);
    // Closed before the command writes: its first write fails with EPIPE.
    run.child.stdout!.destroy();
    const result = await run.done;
    assert.equal(result.stderr, '');
    assert.equal(result.status, 0);
  });

  it('issue 14: the user and password of a mongodb:// URI are never printed', async () => {
    const result = await cli(['ls', 'mongodb://alice:s3cr3t-pw@127.0.0.1:9/db']);
    assertFailure(result, 'ls', 'RXFEED_ERR_INVALID_ARG');
    assert.ok(!result.stderr.includes('s3cr3t-pw'));
    assert.ok(!result.stderr.includes('alice'));
  });

  it('issue 14: an unexpected error is one line and exit 70, its stack only with --debug; an RxfeedError is its code and exit 1', () => {
    const bug = new TypeError('x is not a function\n  second line');
    assert.deepEqual(failure('bench', bug, false), { text: 'rxfeed bench: internal error: x is not a function second line', status: 70 });
    const debug = failure('bench', bug, true);
    assert.equal(debug.status, 70);
    assert.ok(debug.text.startsWith('rxfeed bench: internal error: x is not a function second line\nTypeError: x is not a function'));
    assert.deepEqual(failure('ls', new InvalidArgumentError('--filter', 'is not JSON'), true), {
      text: 'rxfeed ls: RXFEED_ERR_INVALID_ARG: --filter: is not JSON',
      status: 1,
    });
    assert.equal(
      redact('GET https://bob:pw@host/x with key AKIAEXAMPLE1 and secret abcdSECRET', {
        AWS_ACCESS_KEY_ID: 'AKIAEXAMPLE1',
        AWS_SECRET_ACCESS_KEY: 'abcdSECRET',
      }),
      'GET https://***@host/x with key *** and secret ***',
    );
    assert.equal(redact('mongodb://bob:p@ss@host:27017/db', {}), 'mongodb://***@host:27017/db');
  });
});

describe('rxfeed: Ctrl-C', () => {
  // A shard server that answers the size, then sends the body's headers and nothing more: the
  // command waits on the body until SIGINT.
  let server: Server;
  const open = new Set<ServerResponse>();
  let bodyRequested: () => void;
  const requested = new Promise<void>((resolve) => (bodyRequested = resolve));
  let bodyClosed: () => void;
  const closed = new Promise<void>((resolve) => (bodyClosed = resolve));

  before(async () => {
    server = createServer((request, response) => {
      const headers = { 'content-length': String(1 << 20), 'accept-ranges': 'bytes', etag: '"stall"', 'content-type': 'application/x-tar' };
      if (request.method === 'HEAD') return response.writeHead(200, headers).end();
      response.writeHead(200, headers);
      response.flushHeaders();
      open.add(response);
      response.on('close', () => {
        open.delete(response);
        bodyClosed();
      });
      bodyRequested();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  });
  after(async () => {
    for (const response of open) response.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  it('issue 14: SIGINT while a shard body is being read closes the connection and exits 130', async () => {
    const { port } = server.address() as AddressInfo;
    const run = startCli(['inspect', `http://127.0.0.1:${port}/stall.tar`, '-n', '1']);
    await requested;
    run.child.kill('SIGINT');
    const result = await run.done;
    await closed;
    assert.equal(result.status, 130);
    assert.equal(result.stdout, '');
    assert.equal(result.stderr, '');
    assert.equal(open.size, 0);
  });
});
