// Issue 14: rxfeed as a user gets it. `npm pack` in a clean clone of HEAD (its prepack builds dist),
// then the tarball installed with npm into a project outside this repository, used from plain
// JavaScript without the optional peers and from strict TypeScript with them.
//
// The consumer lives under the OS temp directory, not .tmp/: Node and tsc resolve packages by
// walking up parent folders, and this repository's node_modules (which has every peer) would
// make a missing peer or a missing file in the tarball go unnoticed. npm installs from its cache
// (--prefer-offline): CI's `npm ci` filled it with every version used here.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../../../../', import.meta.url));
const tfrecordFile = join(root, '..', 'shared', 'data', 'tfrecord', 'pytorch-data', 'example.tfrecord');

/** The subpath exports whose module imports an optional peer when loaded, and that peer. */
const loadsPeer: Record<string, string> = { './mongodb': 'mongodb', './opentelemetry': '@opentelemetry/api' };

const BINDING_BUILT = /^rxfeed: built the libjpeg-turbo binding \(.+\)$/gm;
const NO_HEADERS = 'rxfeed: libturbojpeg headers not found; JPEG decode will use sharp';

interface PackageJson {
  exports: Record<string, string | { types: string; default: string }>;
  bin?: Record<string, string>;
  scripts: Record<string, string>;
  peerDependencies: Record<string, string>;
  peerDependenciesMeta: Record<string, { optional?: boolean }>;
}

interface Output {
  stdout: string;
  stderr: string;
}

/** Runs a command to its end; a failure names the command and quotes the end of its output. */
function run(command: string, args: readonly string[], cwd: string, env: NodeJS.ProcessEnv = {}): Promise<Output> {
  return new Promise((resolve, reject) => {
    execFile(
      command,
      args,
      { cwd, env: { ...process.env, npm_config_update_notifier: 'false', ...env }, maxBuffer: 64 * 1024 * 1024 },
      (error, stdout, stderr) => {
        if (error === null) resolve({ stdout, stderr });
        else reject(new Error(`${command} ${args.join(' ')} (in ${cwd}) failed: ${error.message}\n${(stdout + stderr).slice(-4000)}`));
      },
    );
  });
}

const npmInstall = (cwd: string, specs: readonly string[], env?: NodeJS.ProcessEnv) =>
  run('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline', '--foreground-scripts', ...specs], cwd, env);

/** The JS modules of package.json's `exports` (not `./package.json`), keyed by import specifier. */
function moduleExports(pkg: PackageJson): Map<string, { types: string; default: string }> {
  const modules = new Map<string, { types: string; default: string }>();
  for (const [subpath, target] of Object.entries(pkg.exports)) {
    if (typeof target === 'object') modules.set(subpath === '.' ? 'rxfeed' : `rxfeed/${subpath.slice(2)}`, target);
  }
  return modules;
}

/** A plain-JavaScript ESM consumer for Node 20: no `await using`, the executor closed in `finally`. */
const jsConsumer = `
import { batch, fromItems, parallelMap, toLoader } from 'rxfeed';
import { fromTFRecord } from 'rxfeed/tfrecord';
import { workerExecutor, workerFn } from 'rxfeed/workers';

for (const specifier of JSON.parse(process.argv[2])) {
  try {
    const module = await import(specifier);
    console.log(\`\${specifier}: \${Object.keys(module).length > 0 ? 'loaded' : 'empty'}\`);
  } catch (error) {
    const missing = /Cannot find package '([^']+)'/.exec(String(error?.message));
    console.log(\`\${specifier}: \${error?.code === 'ERR_MODULE_NOT_FOUND' && missing ? \`needs \${missing[1]}\` : error}\`);
  }
}

const executor = workerExecutor({ threads: 2 });
try {
  const square = workerFn(new URL('./square.mjs', import.meta.url), 'square');
  const squares = fromItems([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]).pipe(parallelMap(square, { executor }), batch(4));
  for await (const rows of toLoader(squares)) console.log(rows.join(' '));
} finally {
  await executor.close();
}

const names = [];
for await (const example of toLoader(fromTFRecord([process.argv[3]], { decode: 'example' }))) names.push(Object.keys(example).sort().join(','));
console.log(\`\${names.length} records: \${[...new Set(names)].join(' | ')}\`);
`;

/** The TypeScript consumer: every subpath export imported, a few real calls, `await using`. */
function tsConsumer(specifiers: readonly string[]): string {
  const imports = specifiers.map((specifier, index) => `import * as module${index} from '${specifier}';`);
  const table = specifiers.map((specifier, index) => `  ['${specifier}', module${index}],`);
  return `${imports.join('\n')}
import { batch, fromItems, toLoader, type Loader } from 'rxfeed';
import { tfrecordFrame } from 'rxfeed/tfrecord';
import { expandBraces } from 'rxfeed/objectstore';

const modules: [string, object][] = [
${table.join('\n')}
];
for (const [specifier, module] of modules) console.log(\`\${specifier}: \${Object.keys(module).length > 0 ? 'loaded' : 'empty'}\`);

const rows: number[][] = [];
{
  await using loader: Loader<number[]> = toLoader(fromItems([1, 2, 3, 4, 5]).pipe(batch(2)));
  for await (const row of loader) rows.push(row);
}
console.log(JSON.stringify(rows));
const frame: Uint8Array = tfrecordFrame(new TextEncoder().encode('rxfeed'));
console.log(frame.byteLength);
console.log(expandBraces('train-{0..2}.tar').join(' '));
`;
}

/** What the README's "Use from your project" asks of a TypeScript project (rxfeed/tfjs included). */
const tsconfig = {
  compilerOptions: {
    target: 'ES2022',
    module: 'NodeNext',
    moduleResolution: 'NodeNext',
    // DOM and the global `Long`: @tensorflow/tfjs-core's own declarations need them.
    lib: ['ES2023', 'DOM', 'ESNext.Disposable'],
    types: ['node', 'long'],
    strict: true,
    // rxfeed's declarations, and those of the peers they name, are checked too.
    skipLibCheck: false,
    outDir: 'out',
    rootDir: '.',
  },
  include: ['main.ts'],
};

describe('issue 14: npm pack and install into a consumer project', () => {
  let cloneDir = '';
  let consumerDir = '';
  let tarball = '';
  let pkg: PackageJson;

  before(() => {
    mkdirSync(join(root, '.tmp'), { recursive: true });
    cloneDir = mkdtempSync(join(root, '.tmp', 'pack-'));
    consumerDir = mkdtempSync(join(tmpdir(), 'rxfeed-consumer-'));
  });

  after(() => {
    rmSync(cloneDir, { recursive: true, force: true });
    rmSync(consumerDir, { recursive: true, force: true });
  });

  it('issue 14: npm pack in a clean clone of HEAD builds dist and ships every export, the binding source and no binary, spec or bench', async () => {
    const head = await run('git', ['rev-parse', '--verify', 'HEAD'], root).catch((error: Error) => {
      throw new Error(`this spec packs a clean clone of HEAD, so it runs in a git checkout (CI's is one): ${error.message}`);
    });
    await run('git', ['clone', '--quiet', '--no-hardlinks', '--no-checkout', root, cloneDir], root);
    await run('git', ['checkout', '--quiet', head.stdout.trim()], cloneDir);
    assert.equal(existsSync(join(cloneDir, 'dist')), false, 'a clean clone has no dist/');
    symlinkSync(join(root, 'node_modules'), join(cloneDir, 'node_modules'), 'dir');
    // npm runs the install script on the repository's own `npm ci` too, before dist/ exists.
    const beforeBuild = await run(process.execPath, [join('scripts', 'install-binding.mjs')], cloneDir);
    assert.deepEqual(beforeBuild, { stdout: '', stderr: '' }, 'the install script is silent in a checkout before its build');
    assert.equal(existsSync(join(cloneDir, 'dist')), false, 'and builds nothing there');

    const packed = await run('npm', ['pack', '--json'], cloneDir);
    let report: { filename: string }[];
    try {
      report = JSON.parse(packed.stdout) as { filename: string }[];
    } catch {
      throw new Error(`npm pack did not print its JSON report:\n${(packed.stdout + packed.stderr).slice(-4000)}`);
    }
    tarball = join(cloneDir, report[0]!.filename);
    const listing = await run('tar', ['-tzf', tarball], cloneDir);
    const files = new Set(
      listing.stdout
        .split('\n')
        .filter((line) => line !== '' && !line.endsWith('/'))
        .map((line) => line.replace(/^package\//, '')),
    );

    pkg = JSON.parse(readFileSync(join(cloneDir, 'package.json'), 'utf8')) as PackageJson;
    const missing: string[] = [];
    const need = (path: string) => {
      if (!files.has(path.replace(/^\.\//, ''))) missing.push(path);
    };
    for (const target of moduleExports(pkg).values()) {
      need(target.types);
      need(target.default);
    }
    for (const binPath of Object.values(pkg.bin ?? {})) need(binPath);
    // Every module of the library, compiled: a file left out of the build is a broken import.
    const tracked = await run('git', ['ls-files', 'src', 'operators', 'sources'], cloneDir);
    for (const source of tracked.stdout.split('\n').filter((path) => path.endsWith('.ts') && !path.endsWith('.d.ts'))) {
      need(`dist/${source.replace(/\.ts$/, '.js')}`);
      need(`dist/${source.replace(/\.ts$/, '.d.ts')}`);
    }
    // The script that builds the binding on the user's machine, and what it builds from.
    const installScript = /^node (\S+)$/.exec(pkg.scripts.install ?? '')?.[1] ?? 'package.json scripts.install: node <script>';
    for (const path of ['src/adapters/turbojpeg/turbojpeg.c', 'src/adapters/turbojpeg/build.sh', installScript, 'README.md']) need(path);
    assert.deepEqual(missing, [], 'files the package must ship');

    const shipped = new Set([
      'package.json',
      'README.md',
      'LICENSE',
      'src/adapters/turbojpeg/turbojpeg.c',
      'src/adapters/turbojpeg/build.sh',
      installScript,
    ]);
    const unexpected = [...files].filter((path) => !shipped.has(path) && !/^dist\/(src|operators|sources)\/.+\.(js|d\.ts)$/.test(path));
    assert.deepEqual(unexpected, [], 'no machine-built .node, source map, spec, bench or script beyond the library');
  });

  it('issue 14: the tarball installs without the optional peers, builds the binding or says in one line why not, and runs a plain-JavaScript ESM consumer', async () => {
    assert.ok(tarball !== '', 'the pack test made a tarball');
    writeFileSync(join(consumerDir, 'package.json'), JSON.stringify({ name: 'consumer', private: true, type: 'module' }));
    const installed = await npmInstall(consumerDir, [tarball]);
    const output = installed.stdout + installed.stderr;
    const built = output.match(BINDING_BUILT) ?? [];
    const notices = output.split('\n').filter((line) => line === NO_HEADERS);
    assert.equal(built.length + notices.length, 1, `one line from the binding's build:\n${output.slice(-4000)}`);
    const binding = join(consumerDir, 'node_modules', 'rxfeed', 'dist', 'src', 'adapters', 'turbojpeg', 'turbojpeg.node');
    assert.equal(existsSync(binding), built.length === 1, 'a turbojpeg.node exactly when the install says it built one');

    const optionalPeers = Object.keys(pkg.peerDependencies).filter((name) => pkg.peerDependenciesMeta[name]?.optional === true);
    assert.deepEqual(
      optionalPeers.filter((name) => existsSync(join(consumerDir, 'node_modules', name))),
      [],
      'optional peers stay uninstalled',
    );

    // A command in package.json `bin` is linked and starts (shebang, executable bit, imports).
    for (const name of Object.keys(pkg.bin ?? {})) await run(join(consumerDir, 'node_modules', '.bin', name), ['--help'], consumerDir);

    writeFileSync(join(consumerDir, 'main.mjs'), jsConsumer);
    writeFileSync(join(consumerDir, 'square.mjs'), 'export function square(value) {\n  return value * value;\n}\n');
    const specifiers = [...moduleExports(pkg).keys()];
    const ran = await run(process.execPath, ['main.mjs', JSON.stringify(specifiers), tfrecordFile], consumerDir);
    assert.equal(
      ran.stdout,
      [
        ...[...moduleExports(pkg).keys()].map((specifier) => {
          const peer = loadsPeer[specifier === 'rxfeed' ? '.' : `./${specifier.slice('rxfeed/'.length)}`];
          return `${specifier}: ${peer === undefined ? 'loaded' : `needs ${peer}`}`;
        }),
        '1 4 9 16',
        '25 36 49 64',
        '81 100',
        // ../shared/data/MANIFEST.md: 4 tf.train.Example records with x_int, x_float and x_byte.
        '4 records: x_byte,x_float,x_int',
        '',
      ].join('\n'),
    );
  });

  it("issue 14: without libturbojpeg's headers, npm rebuild prints the one-line notice, builds nothing and succeeds", async () => {
    const binding = join(consumerDir, 'node_modules', 'rxfeed', 'dist', 'src', 'adapters', 'turbojpeg', 'turbojpeg.node');
    if (existsSync(binding)) unlinkSync(binding);
    // -nostdinc: the real compiler, with its system include path (where turbojpeg.h is) taken away.
    const rebuilt = await run('npm', ['rebuild', 'rxfeed', '--foreground-scripts'], consumerDir, { CPPFLAGS: '-nostdinc' });
    const lines = (rebuilt.stdout + rebuilt.stderr).split('\n').filter((line) => line.startsWith('rxfeed: '));
    assert.deepEqual(lines, [NO_HEADERS]);
    assert.equal(existsSync(binding), false);
  });

  it('issue 14: a strict NodeNext TypeScript consumer importing every subpath export compiles against the installed declarations and peers, and runs', async () => {
    assert.ok(tarball !== '', 'the pack test made a tarball');
    // The peers at the versions this repository is built and tested with (so they are in npm's cache).
    const version = (name: string) =>
      (JSON.parse(readFileSync(join(root, 'node_modules', name, 'package.json'), 'utf8')) as { version: string }).version;
    const peers = [...Object.keys(pkg.peerDependencies), '@types/node'].map((name) => `${name}@${version(name)}`);
    await npmInstall(consumerDir, peers);

    const specifiers = [...moduleExports(pkg).keys()];
    const project = join(consumerDir, 'ts');
    mkdirSync(project);
    writeFileSync(join(project, 'tsconfig.json'), JSON.stringify(tsconfig, null, 2));
    writeFileSync(join(project, 'main.ts'), tsConsumer(specifiers));
    await run(process.execPath, [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'ts'], consumerDir);
    const ran = await run(process.execPath, [join('ts', 'out', 'main.js')], consumerDir);
    assert.equal(
      ran.stdout,
      [
        ...specifiers.map((specifier) => `${specifier}: loaded`),
        '[[1,2],[3,4],[5]]',
        // A TFRecord frame: 8-byte length, its 4-byte CRC, the 6 data bytes, their 4-byte CRC.
        '22',
        'train-0.tar train-1.tar train-2.tar',
        '',
      ].join('\n'),
    );
  });
});
