/**
 * The answer the spec servers give a GET of an object: the whole object (200), or the bytes a
 * `Range: bytes=first-[last]` header asks for (206, with `content-range`).
 * @module
 */
import type { OutgoingHttpHeaders, ServerResponse } from 'node:http';

/** Answer with `data`, or the part `range` (the request's `Range` header) asks for, with `headers`. */
export function replyWithRange(res: ServerResponse, range: string | undefined, data: Uint8Array, headers: OutgoingHttpHeaders): void {
  const match = /^bytes=(\d+)-(\d*)$/.exec(range ?? '');
  if (match === null) {
    res.writeHead(200, { ...headers, 'content-length': data.length }).end(data);
    return;
  }
  const first = Number(match[1]);
  const last = match[2] === '' ? data.length - 1 : Math.min(Number(match[2]), data.length - 1);
  res.writeHead(206, { ...headers, 'content-range': `bytes ${first}-${last}/${data.length}`, 'content-length': last - first + 1 });
  res.end(data.subarray(first, last + 1));
}
