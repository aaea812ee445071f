#!/usr/bin/env node
// Packs the TypeScript worker SDK (@framewire/worker and the internal libs it imports, the generated
// proto code among them) as one installable npm package: dist/packages/framewire-worker-sdk-<version>.tgz.
// JavaScript comes from dist/ (tools/build.mjs: swc, @framewire/* already rewritten to relative
// requires, dynamic import() kept so ES-module analyzers load); declarations from tsc, with
// @framewire/* rewritten the same way. Its dependencies are the registry packages the packed code
// requires, at the versions the repository pins. No workspace links: it installs anywhere.
import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { builtinModules, createRequire } from 'node:module';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const PACKAGE_NAME = '@framewire/worker-sdk';
const ENTRY = 'libs/worker/src/index.ts';
// `--out DIR` writes the tarball (and its staging folder) there instead of dist/packages.
const outFlag = process.argv.indexOf('--out');
const outDir = outFlag === -1 ? join(root, 'dist', 'packages') : resolve(process.argv[outFlag + 1]);
const staging = join(outDir, 'worker-sdk');
const SHM_ADDON = 'libs/shm/build/Release/framewire_shm.node';
/** Where libs/shm's loader looks for the addon beside its compiled code (libs/shm/src/native.ts). */
const SHM_ADDON_PACKED = 'libs/shm/native/framewire_shm.node';

const rootPackage = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
const tsconfig = JSON.parse(readFileSync(join(root, 'tsconfig.base.json'), 'utf8'));
const aliases = Object.entries(tsconfig.compilerOptions.paths).map(([alias, [target]]) => [alias, target.replace(/\.ts$/, '')]);

function* walk(dir) {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const full = join(dir, entry.name);
    if (entry.isDirectory()) yield* walk(full);
    else yield full;
  }
}

if (!existsSync(join(root, 'dist', ENTRY.replace(/\.ts$/, '.js')))) {
  throw new Error(`pack-worker-sdk: dist/ has no ${ENTRY.replace(/\.ts$/, '.js')}; run npm run build first`);
}
rmSync(staging, { recursive: true, force: true });
mkdirSync(staging, { recursive: true });

// Declarations of the entry and of everything it imports, laid out as the repository is.
// Inside the repository, so that tsc finds its type roots whatever --out is.
const declConfig = join(root, 'dist', `tsconfig.worker-sdk-${process.pid}.json`);
writeFileSync(
  declConfig,
  JSON.stringify({
    extends: join(root, 'tsconfig.base.json'),
    compilerOptions: { declaration: true, emitDeclarationOnly: true, noEmit: false, sourceMap: false, outDir: staging, rootDir: root, types: ['node'] },
    files: [join(root, ENTRY)],
  }),
);
try {
  execFileSync(process.execPath, [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', declConfig], { stdio: 'inherit' });
} finally {
  rmSync(declConfig);
}

// The compiled JavaScript of exactly those files, and @framewire/* made relative in the declarations.
const required = new Set();
for (const file of [...walk(staging)]) {
  const rel = relative(staging, file);
  const base = rel.replace(/\.d\.ts$/, '');
  const compiled = join(root, 'dist', `${base}.js`);
  if (!existsSync(compiled)) throw new Error(`pack-worker-sdk: ${rel} has no compiled ${relative(root, compiled)}`);
  copyFileSync(compiled, join(staging, `${base}.js`));
  const toRelative = (text) =>
    text.replace(/(["'])(@framewire\/[\w-]+)\1/g, (whole, quote, alias) => {
      const target = aliases.find(([a]) => a === alias)?.[1];
      if (target === undefined) return whole;
      let path = relative(dirname(join(staging, rel)), join(staging, target));
      if (!path.startsWith('.')) path = `./${path}`;
      return `${quote}${path}${quote}`;
    });
  writeFileSync(file, toRelative(readFileSync(file, 'utf8')));
  const js = readFileSync(join(staging, `${base}.js`), 'utf8');
  if (/require\(["']@framewire\//.test(js)) throw new Error(`pack-worker-sdk: ${base}.js still requires an @framewire/* alias`);
  for (const m of js.matchAll(/require\(["']([^"'.][^"']*)["']\)/g)) {
    const name = m[1].startsWith('@') ? m[1].split('/').slice(0, 2).join('/') : m[1].split('/')[0];
    if (!name.startsWith('node:') && !builtinModules.includes(name)) required.add(name);
  }
}

// The shared-memory addon, where libs/shm looks for it (built for this platform and Node ABI).
mkdirSync(join(staging, dirname(SHM_ADDON_PACKED)), { recursive: true });
copyFileSync(join(root, SHM_ADDON), join(staging, SHM_ADDON_PACKED));

const dependencies = {};
for (const name of [...required].sort()) {
  const version = rootPackage.dependencies?.[name];
  if (version === undefined) throw new Error(`pack-worker-sdk: the packed code requires ${name}, which is not a dependency of ${rootPackage.name}`);
  dependencies[name] = version;
}
const entryJs = ENTRY.replace(/\.ts$/, '.js');
// An ES-module entry with named exports: Node cannot see the names of swc's CommonJS exports, so
// `import { runWorker } from '@framewire/worker-sdk'` needs them listed.
const ESM_ENTRY = 'index.mjs';
const names = Object.keys(createRequire(import.meta.url)(join(root, 'dist', entryJs))).filter((n) => n !== '__esModule' && n !== 'default');
writeFileSync(
  join(staging, ESM_ENTRY),
  `// The ES-module entry of ${PACKAGE_NAME} (generated by tools/pack-worker-sdk.mjs).\nimport sdk from './${entryJs}';\nexport const { ${names.join(', ')} } = sdk;\nexport default sdk;\n`,
);
writeFileSync(
  join(staging, 'package.json'),
  `${JSON.stringify(
    {
      name: PACKAGE_NAME,
      version: rootPackage.version,
      description: 'framewire worker SDK: runWorker, your analyzer on the frames of a framewire pipeline',
      license: rootPackage.license,
      engines: rootPackage.engines,
      main: entryJs,
      types: ENTRY.replace(/\.ts$/, '.d.ts'),
      exports: { '.': { types: `./${ENTRY.replace(/\.ts$/, '.d.ts')}`, import: `./${ESM_ENTRY}`, default: `./${entryJs}` } },
      dependencies,
    },
    null,
    2,
  )}\n`,
);
copyFileSync(join(root, 'libs', 'worker', 'README.md'), join(staging, 'README.md'));
const tarball = execFileSync('npm', ['pack', '--silent', '--pack-destination', outDir], { cwd: staging, encoding: 'utf8' }).trim().split('\n').pop();
const size = statSync(join(outDir, tarball)).size;
console.log(`pack-worker-sdk: ${join(outDir, tarball)} (${size} bytes; dependencies: ${Object.keys(dependencies).join(', ')})`);
