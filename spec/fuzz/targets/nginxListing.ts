import type { Server } from 'node:http';
import { httpStore } from '../../../sources/objectstore/httpStore.js';
import { closeLoopback, fastRetry, loopback, loopbackOnlyDns } from './loopback.js';
import type { FuzzTarget } from './target.js';

/**
 * What the server holds: a JSON text per path (nginx autoindex listings under `/data/...`, or a
 * JSON index file), and whether the store lists with `'nginx-json'` or that index.
 */
export interface NginxInput {
  readonly documents: Readonly<Record<string, string>>;
  readonly index: 'nginx-json' | 'index.json';
}

let server: Server | undefined;
let url = '';
let documents: Readonly<Record<string, string>> = {};

/** `httpStore(...).list('')` against a loopback server serving the documents, consumed to its end. */
export const target: FuzzTarget<NginxInput> = {
  setup: async () => {
    loopbackOnlyDns();
    ({ server, url } = await loopback((request, response) => {
      // The request line is whatever the store made of a hostile name (`//`, `%zz`): read it
      // without throwing, since a throw here would kill the worker and blame the store.
      const raw = (request.url ?? '/').split('?')[0]!;
      let path = raw;
      try {
        path = decodeURIComponent(raw);
      } catch {
        // Not percent-encoded validly: served (or not found) under its raw form.
      }
      const document = Object.hasOwn(documents, path) ? documents[path] : undefined;
      if (document === undefined) response.writeHead(404).end('<html>not found</html>');
      else response.writeHead(200, { 'content-type': 'application/json' }).end(document);
    }));
  },
  teardown: () => closeLoopback(server),
  inputBytes: (input) => Object.values(input.documents).reduce((sum, text) => sum + Buffer.byteLength(text), 0),
  run: async (input) => {
    documents = input.documents;
    const store = httpStore({ baseUrl: `${url}/data/`, index: input.index, retry: fastRetry });
    for await (const entry of store.list('')) void entry;
  },
};
