// The exported graphs in Python: onnxruntime's InferenceSession loads every graph and computes what
// onnxruntime-node computes, and the official ONNX checker (full check, with shape inference) accepts
// them, each where the Python package is installed. Debian (bookworm) packages python3-onnx but no
// python3-onnxruntime, so here that half skips, saying so.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { initBackend } from '../../src/engine/backend.js';
import { createModel } from '../../src/models/blip.js';
import { initParameters } from '../../src/nn/init.js';
import { exportOnnx } from '../../src/onnx/export.js';
import { OnnxSession, floats } from '../../src/onnx/session.js';
import { tinyConfig } from '../helpers/tiny.js';

// Debian's own interpreter, where Debian's python3-* packages live (a pyenv shim on PATH may not see them).
const python = process.env.PYTHON ?? (existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3');
const has = (module: string) => spawnSync(python, ['-c', `import ${module}`], { encoding: 'utf8' }).status === 0;

async function exported(quantize?: 'int8'): Promise<{ dir: string; graphs: string[] }> {
  await initBackend('cpu');
  const dir = mkdtempSync(join(tmpdir(), 'dlip-onnx-py-'));
  const model = createModel(tinyConfig({ imageSize: 16 }), 'BlipForPreTraining');
  initParameters(model, 9);
  const manifest = await exportOnnx(model, dir, { quantize });
  model.dispose();
  return { dir, graphs: Object.values(manifest.graphs).map((g) => join(dir, g.file)) };
}

describe('exported graphs in Python', () => {
  const ort = has('onnxruntime');
  it('load in Python onnxruntime and give onnxruntime-node\'s image features', { skip: ort ? false : 'no Python onnxruntime: Debian packages no python3-onnxruntime (apt-cache search onnxruntime finds none); the graphs are checked with onnxruntime-node only' }, async () => {
    const { dir, graphs } = await exported();
    const pixels = Array.from({ length: 2 * 3 * 16 * 16 }, (_, i) => Math.sin(i * 0.1));
    const script = [
      'import json, sys, numpy as np, onnxruntime as ort',
      'for path in sys.argv[2:]: ort.InferenceSession(path, providers=["CPUExecutionProvider"])',
      `s = ort.InferenceSession(sys.argv[1] + "/image_encoder.onnx", providers=["CPUExecutionProvider"])`,
      `x = np.array(json.loads(sys.stdin.read()), dtype=np.float32).reshape(2, 3, 16, 16)`,
      'print(json.dumps(s.run(["image_feat"], {"pixel_values": x})[0].ravel().tolist()))',
    ].join('\n');
    const run = spawnSync(python, ['-c', script, dir, ...graphs], { input: JSON.stringify(pixels), encoding: 'utf8' });
    assert.equal(run.status, 0, run.stderr);
    const fromPython = JSON.parse(run.stdout) as number[];
    const session = await OnnxSession.open(join(dir, 'image_encoder.onnx'));
    const fromNode = (await session.run({ pixel_values: floats(Float32Array.from(pixels), [2, 3, 16, 16]) })).image_feat!.data;
    await session.close();
    assert.equal(fromPython.length, fromNode.length);
    fromPython.forEach((v, i) => assert.ok(Math.abs(v - fromNode[i]!) < 1e-5, `image_feat[${i}]: python ${v}, node ${fromNode[i]}`));
  });

  const checker = has('onnx');
  it('pass the ONNX checker with full shape inference, fp32 and int8', { skip: checker ? false : 'no Python onnx package (Debian: apt-get install python3-onnx)' }, async () => {
    const graphs = [...(await exported()).graphs, ...(await exported('int8')).graphs];
    const script = 'import sys, onnx\nfor p in sys.argv[1:]: onnx.checker.check_model(onnx.load(p), full_check=True)\nprint(len(sys.argv) - 1)';
    const run = spawnSync(python, ['-c', script, ...graphs], { encoding: 'utf8' });
    assert.equal(run.status, 0, run.stderr);
    assert.equal(run.stdout.trim(), String(graphs.length));
  });
});
