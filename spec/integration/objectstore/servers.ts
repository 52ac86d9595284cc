// Which real servers the integration specs may use: from the env files scripts/start-*.sh write.
// A missing server skips the spec, unless RXFEED_REQUIRE_SERVERS=1 (CI), where it fails.
import { s3Store, type S3Store, type S3StoreOptions } from '../../../sources/objectstore/index.js';

/**
 * The named environment variables, or `undefined` (skip) when one is missing outside CI.
 * @throws Error in CI (`RXFEED_REQUIRE_SERVERS=1`) when one is missing.
 */
export function serverEnv<const K extends string>(names: readonly K[], script: string): Record<K, string> | undefined {
  const missing = names.filter((name) => !process.env[name]);
  if (missing.length === 0) return Object.fromEntries(names.map((name) => [name, process.env[name]!])) as Record<K, string>;
  if (process.env.RXFEED_REQUIRE_SERVERS === '1') {
    throw new Error(`${missing.join(', ')} not set: run ${script} and source its .tmp/*.env (RXFEED_REQUIRE_SERVERS=1)`);
  }
  return undefined;
}

/** The variables `scripts/start-rgw.sh` writes for the test Ceph RGW server. */
export type RgwEnv = Record<'RXFEED_S3_ENDPOINT' | 'RXFEED_S3_ACCESS_KEY' | 'RXFEED_S3_SECRET_KEY' | 'RXFEED_S3_REGION', string>;

/** An s3Store over `bucket` of the test RGW server, signed as its user; `options` add to or replace those. */
export function rgwStore(env: RgwEnv, bucket: string, options: Partial<S3StoreOptions> = {}): S3Store {
  return s3Store({
    endpoint: env.RXFEED_S3_ENDPOINT,
    bucket,
    region: env.RXFEED_S3_REGION,
    credentials: { accessKeyId: env.RXFEED_S3_ACCESS_KEY, secretAccessKey: env.RXFEED_S3_SECRET_KEY },
    ...options,
  });
}
