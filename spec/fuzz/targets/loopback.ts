import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import dns from 'node:dns';
import { isIP, type AddressInfo } from 'node:net';

/** Retries kept, delays cut: a hostile listing is judged by how it ends, not by the backoff. */
export const fastRetry = { attempts: 2, baseDelayMs: 1, maxDelayMs: 1 } as const;

/**
 * Keep the fuzz on loopback: a hostile listing may name another host (`//x/`, `http://y/`), and
 * following it must not send a DNS query or a packet off this machine. Names other than
 * `localhost` and loopback addresses fail at once as unknown, as they would on an offline machine.
 */
export function loopbackOnlyDns(): void {
  const lookup = dns.lookup;
  const guarded = (hostname: string, ...rest: unknown[]): void => {
    const loopbackAddress = (isIP(hostname) === 4 && hostname.startsWith('127.')) || hostname === '::1';
    if (hostname === 'localhost' || loopbackAddress) return (lookup as (...args: unknown[]) => void)(hostname, ...rest);
    const callback = rest.at(-1) as (error: Error) => void;
    const error = Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: 'ENOTFOUND', hostname, syscall: 'getaddrinfo' });
    process.nextTick(callback, error);
  };
  (dns as { lookup: unknown }).lookup = guarded;
}

/** A hostile loopback HTTP server on 127.0.0.1, port 0, answering with `handler`. */
export async function loopback(
  handler: (request: IncomingMessage, response: ServerResponse) => void,
): Promise<{ server: Server; url: string }> {
  const server = createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}

/** Close the server and every connection it has. */
export async function closeLoopback(server: Server | undefined): Promise<void> {
  if (server === undefined) return;
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
}
