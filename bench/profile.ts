// Per-kernel time of a benchmark: wraps every kernel of the active backend with a timer, runs the
// benchmark's steps, and prints where the time went (ms per step, calls per step).
//   node dist/bench/profile.js two-tower [--backend native] [--steps 3]
import { tf, initBackend, activeBackend } from '../src/engine/backend.js';
import { argValue } from './util.js';

const name = process.argv[2] ?? 'two-tower';
await initBackend(argValue('--backend'));
const backend = activeBackend();
const stats = new Map<string, { ms: number; calls: number }>();
const byShape = new Map<string, { ms: number; calls: number }>();
for (const k of tf.getKernelsForBackend(backend)) {
  const f = k.kernelFunc;
  tf.unregisterKernel(k.kernelName, backend);
  tf.registerKernel({
    ...k,
    kernelFunc: ((args: Parameters<tf.KernelFunc>[0]) => {
      const t = performance.now();
      const out = f(args);
      const s = stats.get(k.kernelName) ?? { ms: 0, calls: 0 };
      const ms = performance.now() - t;
      s.ms += ms;
      s.calls++;
      stats.set(k.kernelName, s);
      const shapes = Object.values(args.inputs).map((x) => `${x?.dtype}[${x?.shape}]`).join(' ');
      const key = `${k.kernelName} ${shapes} ${JSON.stringify(args.attrs ?? {})}`.slice(0, 150);
      const e = byShape.get(key) ?? { ms: 0, calls: 0 };
      e.ms += ms;
      e.calls++;
      byShape.set(key, e);
      return out;
    }) as tf.KernelFunc,
  });
}
if (!process.argv.includes('--steps')) process.argv.push('--steps', '3');
if (!process.argv.includes('--warmup')) process.argv.push('--warmup', '1');
// The profile covers warm-up steps too (the first one pays for first-touch page faults).
const steps = Number(argValue('--steps')) + Number(argValue('--warmup'));
await import(`./${name}.js`);
const rows = [...stats].sort((a, b) => b[1].ms - a[1].ms);
const total = rows.reduce((a, [, s]) => a + s.ms, 0), calls = rows.reduce((a, [, s]) => a + s.calls, 0);
console.log(`${backend}: kernels ${(total / steps).toFixed(0)} ms/step in ${(calls / steps).toFixed(0)} calls`);
for (const [k, s] of rows.slice(0, 20)) {
  console.log(`  ${k.padEnd(24)} ${(s.ms / steps).toFixed(1).padStart(8)} ms ${String(Math.round(s.calls / steps)).padStart(6)} calls`);
}
console.log('costliest kernel calls by shape:');
for (const [key, e] of [...byShape].sort((a, b) => b[1].ms - a[1].ms).slice(0, 15)) {
  console.log(`  ${(e.ms / steps).toFixed(1).padStart(8)} ms ${String(Math.round(e.calls / steps)).padStart(5)}x  ${key}`);
}
