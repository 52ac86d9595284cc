// Which real servers the integration specs may use: from the env files scripts/start-*.sh write.
// A missing server skips the spec, unless RXFEED_REQUIRE_SERVERS=1 (CI), where it fails.

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
