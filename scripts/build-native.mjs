#!/usr/bin/env node
// Builds the optional native tfjs backend (native/) with node-gyp against a system OpenBLAS.
// Never fails the install: without a BLAS or a compiler it records why in native/build/status.json,
// and dlip runs on wasm and says so once. DLIP_SKIP_NATIVE=1 skips the build.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const nativeDir = join(root, 'native');
const buildDir = join(nativeDir, 'build');
const FIX = 'apt-get install libopenblas-dev (Debian/Ubuntu), then npm run build:native';

function record(status) {
  mkdirSync(buildDir, { recursive: true });
  writeFileSync(join(buildDir, 'status.json'), JSON.stringify(status, null, 2) + '\n');
}

/** OpenBLAS, preferring its OpenMP build: one thread pool shared with our own kernels. */
function findBlas() {
  const arch = process.arch === 'arm64' ? 'aarch64-linux-gnu' : 'x86_64-linux-gnu';
  const candidates = [
    { inc: `/usr/include/${arch}/openblas-openmp`, lib: `/usr/lib/${arch}/openblas-openmp` },
    { inc: `/usr/include/${arch}/openblas-pthread`, lib: `/usr/lib/${arch}/openblas-pthread` },
    { inc: '/usr/include/openblas', lib: `/usr/lib/${arch}` },
    { inc: '/usr/include/openblas', lib: '/usr/lib64' },
    { inc: '/usr/local/include', lib: '/usr/local/lib' },
    { inc: '/opt/homebrew/opt/openblas/include', lib: '/opt/homebrew/opt/openblas/lib' },
  ];
  return candidates.find(
    (c) =>
      existsSync(join(c.inc, 'cblas.h')) &&
      ['libopenblas.so', 'libopenblas.dylib'].some((f) => existsSync(join(c.lib, f))),
  );
}

function nodeGyp() {
  if (process.env.npm_config_node_gyp) return process.env.npm_config_node_gyp;
  const bundled = join(dirname(process.execPath), '..', 'lib', 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js');
  return existsSync(bundled) ? bundled : undefined;
}

function main() {
  if (process.env.DLIP_SKIP_NATIVE === '1') {
    record({ ok: false, reason: 'skipped (DLIP_SKIP_NATIVE=1)', fix: 'npm run build:native' });
    console.log('dlip: native backend build skipped (DLIP_SKIP_NATIVE=1)');
    return;
  }
  const blas = findBlas();
  if (!blas) {
    record({ ok: false, reason: 'no OpenBLAS found (cblas.h and libopenblas)', fix: FIX });
    console.log(`dlip: native backend not built: no OpenBLAS found. To get it: ${FIX}`);
    return;
  }
  const gyp = nodeGyp();
  if (!gyp) {
    record({ ok: false, reason: 'node-gyp not found', fix: 'install npm (which bundles node-gyp), then npm run build:native' });
    console.log('dlip: native backend not built: node-gyp not found');
    return;
  }
  const args = [gyp, 'rebuild', '--directory', nativeDir];
  // Build against the running Node's own headers, never a download (npm sets npm_config_nodedir when
  // configured so; otherwise use the headers next to the node binary when they are there).
  const prefix = join(dirname(process.execPath), '..');
  if (!process.env.npm_config_nodedir && existsSync(join(prefix, 'include', 'node', 'node_api.h'))) {
    args.push(`--nodedir=${prefix}`);
  }
  const r = spawnSync(process.execPath, args, {
    stdio: ['ignore', 'pipe', 'pipe'],
    encoding: 'utf8',
    env: { ...process.env, DLIP_BLAS_INCLUDE: blas.inc, DLIP_BLAS_LIBDIR: blas.lib },
  });
  if (r.status !== 0) {
    const tail = `${r.stdout ?? ''}${r.stderr ?? ''}`.trim().split('\n').slice(-15).join('\n');
    record({ ok: false, reason: `node-gyp failed (exit ${r.status})`, log: tail, fix: FIX });
    console.log(`dlip: native backend build failed; dlip will use wasm.\n${tail}`);
    return;
  }
  record({ ok: true, blas: blas.lib });
  console.log(`dlip: native backend built against ${blas.lib}`);
}

main();
