import { describe, it, before } from 'node:test';
import assert from 'node:assert/strict';
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { initBackend } from '../../src/engine/backend.js';
import { loadModel, resolveModelPath } from '../../src/io/checkpoint.js';
import { readHeader } from '../../src/io/safetensors.js';
import { loadPreset } from '../../src/models/presets.js';
import { listShippedModels, shippedModelDir } from '../../src/models/shipped.js';
import { modelsDir } from '../../src/paths.js';

before(async () => {
  await initBackend();
});

describe('shipped models', () => {
  it('ships a trained tiny-teacher: F16, of the preset, under 47 MiB', async () => {
    assert.ok(listShippedModels().includes('tiny-teacher'));
    const dir = shippedModelDir('tiny-teacher')!;
    assert.equal(dir, join(modelsDir, 'tiny-teacher'));
    const weights = join(dir, 'model.safetensors');
    assert.ok(statSync(weights).size < 47 * 2 ** 20, `${statSync(weights).size} bytes`);
    const header = await readHeader(weights);
    assert.ok([...header.entries.values()].every((e) => e.dtype === 'F16'));
    const { model, config } = await loadModel('tiny-teacher'); // checks the sha256 in dlip.json
    try {
      assert.equal(model.architecture, 'BlipForPreTraining');
      const preset = loadPreset('tiny-teacher');
      assert.deepEqual(config.vision_config, preset.vision_config);
      assert.deepEqual(config.text_config, preset.text_config);
      assert.equal(model.parameterCount(), 24_290_367);
    } finally {
      model.dispose();
    }
  });

  it('resolves a shipped name to its weights unless a preset is asked for', async () => {
    assert.equal(await resolveModelPath('tiny-teacher'), join(modelsDir, 'tiny-teacher'));
    assert.equal(await resolveModelPath('tiny-teacher', { presets: true }), 'tiny-teacher');
    assert.equal(shippedModelDir('../presets'), undefined);
    assert.equal(shippedModelDir('tiny-student'), undefined);
    await assert.rejects(resolveModelPath('no-such-model'), /a shipped model \(tiny-teacher\), an existing folder/);
  });
});
