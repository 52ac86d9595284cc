#!/usr/bin/env node
// package.json `install`: builds the optional libjpeg-turbo binding on the machine that installs
// rxfeed (src/adapters/turbojpeg/build.sh), as a binary built elsewhere may not load here; the
// package ships the C source and never a built `turbojpeg.node`.
//
// An install never fails because of the binding: every outcome is one line and exit 0, and the
// JPEG decode tasks use sharp when the binding is absent. It never installs system packages (no
// --apt). Rebuild after installing libturbojpeg's headers with `npm rebuild rxfeed`.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const notice = (why) => console.error(`rxfeed: ${why}; JPEG decode will use sharp`);

// npm also runs this on the repository's own `npm ci`, before anything is built: there is no
// dist/ to put a binding in yet, and `npm run build` builds it.
const root = fileURLToPath(new URL('..', import.meta.url));
if (!existsSync(`${root}dist/src/adapters/turbojpeg/binding.js`)) process.exit(0);

if (process.platform === 'win32') {
  notice('the libjpeg-turbo binding is not built on Windows');
  process.exit(0);
}
const build = spawnSync('bash', [`${root}src/adapters/turbojpeg/build.sh`], {
  stdio: 'inherit',
  // A CI that requires the binding for rxfeed's own specs must not turn a user's install into a failure.
  env: { ...process.env, RXFEED_REQUIRE_TURBOJPEG: '0' },
});
if (build.error !== undefined) notice(`cannot run bash (${build.error.message})`);
else if (build.status !== 0) notice(`the binding's build ended with ${build.status ?? build.signal}`);
process.exit(0);
