// Alternates dlip and the PyTorch reference on the same benchmark several times and prints the
// medians, their ratio and peak memory. PyTorch: Debian's python3-torch, 2 threads,
// OMP_WAIT_POLICY=passive (benchmark only; never a dependency of dlip).
//   npm run bench -- [--rounds 5] [--steps 10] [--backend native] [--only two-tower,blip-step,teacher-forward]
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { argValue, median } from './util.js';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..', '..');
const python = process.env.PYTHON ?? '/usr/bin/python3';
const rounds = Number(argValue('--rounds') ?? 5), steps = argValue('--steps') ?? '10';
const backend = argValue('--backend') ?? 'native';

const BENCHES = [
  { name: 'two-tower', ts: [join(here, 'two-tower.js')], py: [join(root, 'bench', 'two_tower.py')] },
  { name: 'blip-step', ts: [join(here, 'blip-step.js'), '--mode', 'step'], py: [join(root, 'bench', 'blip_step.py'), '--mode', 'step'] },
  { name: 'teacher-forward', ts: [join(here, 'blip-step.js'), '--mode', 'forward'], py: [join(root, 'bench', 'blip_step.py'), '--mode', 'forward'] },
];
const only = argValue('--only');

type Result = { median_ms: number; peak_rss_mb: number };

function run(cmd: string, args: string[]): Result {
  const r = spawnSync(cmd, args, { encoding: 'utf8', env: { ...process.env, OMP_WAIT_POLICY: 'passive' } });
  const line = (r.stdout ?? '').trim().split('\n').pop() ?? '';
  if (r.status !== 0 || !line.startsWith('{')) throw new Error(`${cmd} ${args.join(' ')} failed:\n${r.stderr}`);
  return JSON.parse(line) as Result;
}

const torchOk = spawnSync(python, ['-c', 'import torch'], { encoding: 'utf8' }).status === 0;
if (!torchOk) console.log(`PyTorch not found for ${python}: apt-get install python3-torch (benchmark only). Running dlip alone.`);

for (const b of BENCHES.filter((x) => !only || only.split(',').includes(x.name))) {
  const ours: Result[] = [], ref: Result[] = [];
  for (let i = 0; i < rounds; i++) {
    // Alternate which goes first so drifts in machine load hit both alike.
    const a = () => ours.push(run(process.execPath, [...b.ts, '--backend', backend, '--steps', steps]));
    const p = () => torchOk && existsSync(b.py[0]!) && ref.push(run(python, [...b.py, '--steps', steps]));
    if (i % 2) { p(); a(); } else { a(); p(); }
    const last = (xs: Result[]) => (xs.length ? `${xs[xs.length - 1]!.median_ms.toFixed(0)} ms` : '-');
    console.log(`${b.name} round ${i + 1}/${rounds}: dlip[${backend}] ${last(ours)}, pytorch ${last(ref)}`);
  }
  const m = (xs: Result[]) => median(xs.map((x) => x.median_ms));
  const peak = (xs: Result[]) => Math.max(...xs.map((x) => x.peak_rss_mb));
  console.log(`${b.name}: dlip[${backend}] median ${m(ours).toFixed(0)} ms, peak RSS ${peak(ours).toFixed(0)} MB`);
  if (ref.length) {
    console.log(`${b.name}: pytorch median ${m(ref).toFixed(0)} ms, peak RSS ${peak(ref).toFixed(0)} MB`);
    console.log(`${b.name}: ratio dlip/pytorch time ${(m(ours) / m(ref)).toFixed(2)}, peak memory ${(peak(ours) / peak(ref)).toFixed(2)}`);
  }
}
