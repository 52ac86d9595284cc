import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { presignQuery, sha256Hex, signHeaders, type SigV4Options, type SigV4Request } from '../../../sources/objectstore/sigv4.js';

// The AWS Signature Version 4 conformance suite (awslabs/aws-c-auth, 38 cases), read in place.
const suite = join(process.cwd(), '..', 'shared', 'data', 'sigv4', 'aws-signing-test-suite', 'v4');

// Every case of the suite applies: none is excluded. (The suite's cases that S3 would sign
// differently, the `*-normalized` ones, are run with `normalizePath: true` as their context asks;
// the S3 store itself always signs with `normalizePath: false`, which the `*-unnormalized` cases check.)
const EXCLUDED: Record<string, string> = {};

interface Context {
  credentials: { access_key_id: string; secret_access_key: string; token?: string };
  expiration_in_seconds: number;
  normalize: boolean;
  region: string;
  service: string;
  sign_body: boolean;
  timestamp: string;
  omit_session_token?: boolean;
}

interface ParsedRequest {
  method: string;
  path: string;
  query: [string, string][];
  headers: [string, string][];
  body: string;
}

/** request.txt: `METHOD PATH HTTP/1.1`, headers (a line starting with whitespace continues the previous one), blank line, body. */
function parseRequest(text: string): ParsedRequest {
  const [head, ...bodyParts] = text.split('\n\n');
  const lines = head!.split('\n');
  const requestLine = lines.shift()!;
  const method = requestLine.slice(0, requestLine.indexOf(' '));
  const target = requestLine.slice(method.length + 1, requestLine.lastIndexOf(' HTTP/1.1'));
  const questionMark = target.indexOf('?');
  const path = questionMark < 0 ? target : target.slice(0, questionMark);
  const rawQuery = questionMark < 0 ? '' : target.slice(questionMark + 1);
  const query =
    rawQuery === ''
      ? []
      : rawQuery.split('&').map((pair): [string, string] => {
          const equals = pair.indexOf('=');
          const name = equals < 0 ? pair : pair.slice(0, equals);
          const value = equals < 0 ? '' : pair.slice(equals + 1);
          return [decodeURIComponent(name), decodeURIComponent(value)];
        });
  const headers: [string, string][] = [];
  for (const line of lines) {
    if (line === '') continue;
    if (/^\s/.test(line) && headers.length > 0) {
      headers[headers.length - 1]![1] += `\n${line}`;
      continue;
    }
    const colon = line.indexOf(':');
    headers.push([line.slice(0, colon), line.slice(colon + 1)]);
  }
  return { method, path, query, headers, body: bodyParts.join('\n\n') };
}

function read(name: string, file: string): string {
  return readFileSync(join(suite, name, file), 'utf8');
}

const cases = readdirSync(suite)
  .filter((name) => !(name in EXCLUDED))
  .sort();

describe('SigV4 signer: aws-signing-test-suite/v4', () => {
  it('finds all 38 cases', () => {
    assert.equal(cases.length + Object.keys(EXCLUDED).length, 38);
  });

  for (const name of cases) {
    const context = JSON.parse(read(name, 'context.json')) as Context;
    const parsed = parseRequest(read(name, 'request.txt'));
    const request: SigV4Request = {
      method: parsed.method,
      path: parsed.path,
      query: parsed.query,
      headers: parsed.headers,
      payloadHash: sha256Hex(parsed.body),
    };
    const options: SigV4Options = {
      credentials: {
        accessKeyId: context.credentials.access_key_id,
        secretAccessKey: context.credentials.secret_access_key,
        sessionToken: context.credentials.token,
      },
      region: context.region,
      service: context.service,
      date: new Date(context.timestamp),
      normalizePath: context.normalize,
      signSessionToken: context.omit_session_token !== true,
      contentSha256Header: context.sign_body,
    };

    it(`${name}: header form`, () => {
      const signed = signHeaders(request, options);
      assert.equal(signed.canonicalRequest, read(name, 'header-canonical-request.txt'));
      assert.equal(signed.stringToSign, read(name, 'header-string-to-sign.txt'));
      assert.equal(signed.signature, read(name, 'header-signature.txt'));
      // The signed request carries exactly these added headers, values as the suite shows them.
      const expected = new Map<string, string>();
      for (const line of read(name, 'header-signed-request.txt').split('\n')) {
        const colon = line.indexOf(':');
        if (colon > 0) expected.set(line.slice(0, colon).toLowerCase(), line.slice(colon + 1));
      }
      for (const [header, value] of signed.headers) assert.equal(value, expected.get(header), header);
    });

    it(`${name}: presigned-query form`, () => {
      const signed = presignQuery(request, options, context.expiration_in_seconds);
      assert.equal(signed.canonicalRequest, read(name, 'query-canonical-request.txt'));
      assert.equal(signed.stringToSign, read(name, 'query-string-to-sign.txt'));
      assert.equal(signed.signature, read(name, 'query-signature.txt'));
      // The suite's signed URL has the same parameters (it orders the X-Amz ones differently and
      // shows the request's own parameters as the request wrote them), compared decoded.
      const requestLine = read(name, 'query-signed-request.txt').split('\n')[0]!;
      const target = requestLine.slice(requestLine.indexOf(' ') + 1, requestLine.lastIndexOf(' HTTP/1.1'));
      const decode = (query: string): string[] =>
        query
          .split('&')
          .map((pair) => decodeURIComponent(pair))
          .sort();
      assert.deepEqual(decode(signed.queryString), decode(target.slice(target.indexOf('?') + 1)));
      assert.deepEqual(signed.query.map(([key, value]) => `${key}=${value}`).sort(), decode(signed.queryString));
    });
  }

  it('signs S3 paths as they are: no normalisation, single encoding', () => {
    const signed = signHeaders(
      { method: 'GET', path: '/bucket/a//b/../c d+é', headers: [['host', 'h']], payloadHash: 'UNSIGNED-PAYLOAD' },
      {
        credentials: { accessKeyId: 'AK', secretAccessKey: 'SK' },
        region: 'us-east-1',
        service: 's3',
        date: new Date('2015-08-30T12:36:00Z'),
        contentSha256Header: true,
      },
    );
    assert.equal(signed.canonicalRequest.split('\n')[1], '/bucket/a//b/../c%20d%2B%C3%A9');
    assert.deepEqual(
      signed.headers.map(([name]) => name),
      ['x-amz-date', 'x-amz-content-sha256', 'authorization'],
    );
  });
});
