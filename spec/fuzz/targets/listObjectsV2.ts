import type { Server } from 'node:http';
import { s3Store } from '../../../sources/objectstore/s3Store.js';
import { closeLoopback, fastRetry, loopback, loopbackOnlyDns } from './loopback.js';
import type { FuzzTarget } from './target.js';

/** The ListObjectsV2 answers of one listing: request `i` gets `pages[i]`, and every later one the last page. */
export interface ListInput {
  readonly pages: readonly string[];
}

let server: Server | undefined;
let url = '';
let pages: readonly string[] = [];
let requests = 0;

/** `s3Store(...).list('')` against a loopback server answering the pages, consumed to its end. */
export const target: FuzzTarget<ListInput> = {
  setup: async () => {
    loopbackOnlyDns();
    ({ server, url } = await loopback((_request, response) => {
      const page = pages[Math.min(requests++, pages.length - 1)] ?? '';
      response.writeHead(200, { 'content-type': 'application/xml' }).end(page);
    }));
  },
  teardown: () => closeLoopback(server),
  inputBytes: (input) => input.pages.reduce((sum, page) => sum + Buffer.byteLength(page), 0),
  run: async (input) => {
    pages = input.pages;
    requests = 0;
    const store = s3Store({ endpoint: url, bucket: 'fuzz', credentials: null, region: 'us-east-1', env: {}, retry: fastRetry });
    for await (const entry of store.list('')) void entry;
  },
};
