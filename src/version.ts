/**
 * rxfeed's own version, for the CLI's `--version` and the OpenTelemetry meter.
 *
 * @module
 */
import { readFileSync } from 'node:fs';

/**
 * The version in rxfeed's package.json, two folders up from this module (dist/src, in the
 * repository and when installed); undefined when it cannot be read.
 * @internal
 */
export function packageVersion(): string | undefined {
  try {
    return (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
  } catch {
    return undefined;
  }
}
