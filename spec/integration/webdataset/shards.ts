// Shared by the WebDataset integration specs: the local reading every remote one must equal, and
// generated shards.
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { lastValueFrom, toArray, type Observable } from 'rxjs';
import type { WebDatasetSample } from '../../../sources/webdataset/index.js';
import { packTar, repoRoot } from '../../sources/webdataset/tarFixtures.js';

/** All samples of `source`. */
export const readAll = (source: Observable<WebDatasetSample>): Promise<WebDatasetSample[]> => lastValueFrom(source.pipe(toArray()));

/** Samples with `__url__` dropped: what must be equal whichever store served the bytes. */
export const withoutUrl = (samples: readonly WebDatasetSample[]): Record<string, unknown>[] =>
  samples.map(({ __url__: _url, ...rest }) => rest);

/** Four small shards `shard-0.tar` .. `shard-3.tar` of 25 samples each (`.bin` of 3 KiB + `.cls`). */
export async function generatedShards(): Promise<{ name: string; bytes: Buffer }[]> {
  const shards: { name: string; bytes: Buffer }[] = [];
  for (let shard = 0; shard < 4; shard++) {
    const members = [];
    for (let index = 0; index < 25; index++) {
      const key = `s${shard}-${String(index).padStart(3, '0')}`;
      members.push({ name: `${key}.bin`, data: new Uint8Array(3072).fill((shard * 25 + index) % 256) });
      members.push({ name: `${key}.cls`, data: String(index % 10) });
    }
    shards.push({ name: `shard-${shard}.tar`, bytes: await packTar(members) });
  }
  return shards;
}

/**
 * A fresh folder under `.tmp/nginx/www/` (served by scripts/start-nginx.sh at `/www/`), holding
 * `shards`; `remove` deletes it.
 */
export function publishToNginx(folder: string, shards: readonly { name: string; bytes: Buffer }[]): { dir: string; remove(): void } {
  const dir = join(repoRoot, '.tmp', 'nginx', 'www', folder);
  mkdirSync(dir, { recursive: true });
  for (const { name, bytes } of shards) writeFileSync(join(dir, name), bytes);
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}
