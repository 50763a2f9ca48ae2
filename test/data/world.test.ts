import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  claimHolds, generateWorldImage, openDataset, parseWorldConfig, synthesizeWorld,
  type Claim, type Scene,
} from '../../src/data/index.js';

const config = parseWorldConfig({});

test('the same seed gives the same world; another seed a different one', () => {
  for (const index of [0, 5, 17]) {
    assert.deepEqual(generateWorldImage(3, index, config), generateWorldImage(3, index, config));
  }
  const a = Array.from({ length: 10 }, (_, i) => generateWorldImage(3, i, config).captions[0]!.text);
  const b = Array.from({ length: 10 }, (_, i) => generateWorldImage(4, i, config).captions[0]!.text);
  assert.notDeepEqual(a, b);
});

test('scenes respect the config: object counts, distinct cells, attributes in use', () => {
  const cfg = parseWorldConfig({ minObjects: 2, maxObjects: 4, shapes: ['star', 'hexagon'], colours: ['red', 'brown'] });
  for (let i = 0; i < 50; i++) {
    const { scene } = generateWorldImage(1, i, cfg);
    assert.ok(scene.objects.length >= 2 && scene.objects.length <= 4);
    assert.equal(new Set(scene.objects.map((o) => o.row * 3 + o.col)).size, scene.objects.length);
    for (const o of scene.objects) {
      assert.ok(['star', 'hexagon'].includes(o.shape) && ['red', 'brown'].includes(o.colour));
      assert.ok(o.cx - o.radius >= -0.01 && o.cx + o.radius <= 1.01);
    }
  }
});

const words = (s: string) => s.split(/[\s,:]+/).filter(Boolean);

test('every caption is true of its scene, the five are different, and colour words match objects', () => {
  for (let i = 0; i < 200; i++) {
    const img = generateWorldImage(9, i, config);
    assert.equal(img.captions.length, 5);
    assert.equal(new Set(img.captions.map((c) => c.text)).size, 5);
    for (const c of img.captions) {
      assert.ok(c.claims.every((claim) => claimHolds(claim, img.scene)), `${c.text} false of scene ${i}`);
      // Independent of the claim model: every canonical colour word in the text names an object's colour.
      for (const w of words(c.text)) {
        if ((config.colours as readonly string[]).includes(w)) assert.ok(img.scene.objects.some((o) => o.colour === w), `${w} in "${c.text}"`);
      }
    }
  }
});

function claimDiffs(a: Claim, b: Claim): string[] {
  const flat = (x: unknown, prefix = ''): [string, unknown][] =>
    x !== null && typeof x === 'object' ? Object.entries(x).flatMap(([k, v]) => flat(v, `${prefix}.${k}`)) : [[prefix, x]];
  const fa = new Map(flat(a));
  const fb = new Map(flat(b));
  return [...new Set([...fa.keys(), ...fb.keys()])].filter((k) => fa.get(k) !== fb.get(k));
}

test('hard negatives are false and differ from their caption in exactly one attribute', () => {
  let n = 0;
  const changes = new Set<string>();
  for (let i = 0; i < 200; i++) {
    const img = generateWorldImage(11, i, config);
    img.negatives.forEach((neg, k) => {
      if (!neg) return;
      n++;
      changes.add(neg.changed);
      const pos = img.captions[k]!;
      assert.ok(!neg.claims.every((c) => claimHolds(c, img.scene)), `negative "${neg.text}" is true`);
      const diffs = pos.claims.flatMap((c, j) => claimDiffs(c, neg.claims[j]!));
      assert.equal(diffs.length, 1, `${pos.text} -> ${neg.text}: ${diffs}`);
      assert.notEqual(neg.text, pos.text);
      if (neg.changed === 'colour' || neg.changed === 'shape' || neg.changed === 'size') {
        // Same wording except the one changed word and its article (synonym choices are shared).
        const [pw, nw] = [pos.text.split(' '), neg.text.split(' ')];
        if (pw.length === nw.length) assert.equal(pw.filter((w, j) => w !== nw[j] && !['a', 'an'].includes(w)).length, 1, `${pos.text} -> ${neg.text}`);
      }
    });
  }
  assert.ok(n > 800, `only ${n} negatives`);
  for (const c of ['colour', 'shape', 'relation', 'count', 'position']) assert.ok(changes.has(c), `no ${c} negatives`);
});

test('VQA: all five types, ten answers, mostly the truth, answers consistent with the scene', () => {
  const types = new Set<string>();
  let agree = 0;
  let total = 0;
  for (let i = 0; i < 100; i++) {
    const { scene, questions } = generateWorldImage(5, i, config);
    for (const q of questions) {
      types.add(q.type);
      assert.equal(q.answers.length, 10);
      agree += q.answers.filter((a) => a === q.answer).length;
      total += 10;
      checkAnswer(scene, q.question, q.answer);
    }
  }
  assert.deepEqual([...types].sort(), ['colour', 'count', 'exist', 'relation', 'shape']);
  assert.ok(agree / total > 0.8 && agree / total < 0.98, `agreement ${agree / total}`);
});

function checkAnswer(scene: Scene, question: string, answer: string): void {
  let m = /^how many shapes are there\?$/.exec(question);
  if (m) return assert.equal(answer, String(scene.objects.length));
  m = /^what color is the (\w+)\?$/.exec(question);
  if (m) return assert.equal(answer, scene.objects.find((o) => o.shape === m![1])!.colour);
  m = /^is there an? (\w+) (\w+)\?$/.exec(question);
  if (m) return assert.equal(answer, scene.objects.some((o) => o.colour === m![1] && o.shape === m![2]) ? 'yes' : 'no');
}

test('synth writes the real formats and the real loaders read them, identically for the same seed', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'dlip-world-'));
  try {
    const sizes = { train: 6, val: 2, test: 2 };
    await synthesizeWorld({ out: join(dir, 'a'), sizes, seed: 42 });
    await synthesizeWorld({ out: join(dir, 'b'), sizes, seed: 42 });
    for (const f of readdirSync(join(dir, 'a', 'annotations'))) {
      assert.equal(readFileSync(join(dir, 'a', 'annotations', f), 'utf8'), readFileSync(join(dir, 'b', 'annotations', f), 'utf8'), f);
    }
    assert.deepEqual(readFileSync(join(dir, 'a', 'images', 'val', '000000000007.png')), readFileSync(join(dir, 'b', 'images', 'val', '000000000007.png')));
    const ds = openDataset(join(dir, 'a'));
    assert.equal(ds.manifest.flipSwapsLeftRight, true);
    const train = ds.captions('train');
    assert.equal(train.images.length, 6);
    assert.ok(train.images.every((i) => i.captions.length === 5));
    const test_ = ds.captions('test');
    assert.equal(test_.images.length, 2);
    const vqa = ds.vqa('val');
    assert.equal(vqa.length, 2 * 4);
    assert.ok(vqa.every((q) => q.answers.length === 10 && q.image.endsWith('.png')));
    const answers = ds.answerList();
    assert.ok(vqa.every((q) => answers.includes(q.multipleChoiceAnswer!)));
    assert.ok(ds.hardNegatives('train').length > 20);
    await assert.rejects(synthesizeWorld({ out: join(dir, 'a'), sizes, seed: 1 }), /not empty/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
