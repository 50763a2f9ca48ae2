// Recipes: every shipped one parses, and a bad one is refused naming its file and the bad field.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { checkRecipe, listRecipes, loadRecipe, parseRecipe, recipeNeeds } from '../../src/distill/recipe.js';
import { studentConfig, teacherConfig } from './pair.js';

const task = { itc: 1, itm: 1, lm: 1 };

describe('distillation recipes', () => {
  it('ships the eleven recipes, each valid for the tiny pair', () => {
    assert.deepEqual(listRecipes(), ['all-signals', 'attention-only', 'decoder-only', 'dlip-default', 'features-only', 'fusion-only', 'hidden-only', 'logits-only', 'no-kd', 'text-only', 'vision-only']);
    for (const name of listRecipes()) checkRecipe(loadRecipe(name), studentConfig(), teacherConfig());
    const all = loadRecipe('all-signals');
    assert.deepEqual(all.terms.map((t) => t.term.name), ['contrastive', 'itm', 'lm', 'feature', 'hidden', 'attention']);
    assert.deepEqual(recipeNeeds(all), { terms: ['itc', 'itm', 'lm'], hiddenStates: true, attentions: true });
    // dlip-default: soft logits plus the vision tower's intermediate terms, nothing on the shared BERT.
    const standard = loadRecipe('dlip-default');
    assert.deepEqual(standard.terms.map((t) => t.term.name), ['contrastive', 'itm', 'lm', 'feature', 'hidden', 'attention']);
    for (const t of standard.terms.filter((t) => t.term.name === 'hidden' || t.term.name === 'attention')) assert.deepEqual(Object.keys((t.options as unknown as { modules: object }).modules), ['vision']);
    assert.deepEqual(recipeNeeds(loadRecipe('no-kd')), { terms: [], hiddenStates: false, attentions: false });
    assert.deepEqual(recipeNeeds(loadRecipe('vision-only')), { terms: ['itc'], hiddenStates: true, attentions: true });
  });

  it('loads a recipe file and fills option defaults', () => {
    const file = join(mkdtempSync(join(tmpdir(), 'dlip-recipe-')), 'mine.json');
    writeFileSync(file, JSON.stringify({ description: 'mine', task, terms: { contrastive: { weight: 0.5 } } }));
    const recipe = loadRecipe(file);
    assert.equal(recipe.source, file);
    assert.deepEqual(recipe.terms[0]!.options, { weight: 0.5, temperature: 1 });
  });

  it('refuses bad recipes, naming the file and the field', () => {
    const bad = (value: unknown, pattern: RegExp) => assert.throws(() => parseRecipe(value, 'r.json'), pattern);
    bad({ description: 'x', task, terms: {}, extra: 1 }, /r.json: \(recipe\): Unrecognized key: "extra"/);
    bad({ description: 'x', task: { itc: 1, itm: 1 }, terms: {} }, /r.json: task.lm: /);
    bad({ description: 'x', task: { ...task, itc: -1 }, terms: {} }, /r.json: task.itc: /);
    bad({ description: 'x', task, terms: { bogus: { weight: 1 } } }, /r.json: terms.bogus: unknown term; the registry has contrastive, itm, lm, feature, hidden, attention/);
    bad({ description: 'x', task, terms: { itm: { weight: 1, temprature: 2 } } }, /r.json: terms.itm: Unrecognized key: "temprature"/);
    bad({ description: 'x', task, terms: { lm: { weight: 1, temperature: 0 } } }, /r.json: terms.lm.temperature: /);
    bad({ description: 'x', task, terms: { hidden: { weight: 1, modules: { vison: 'last' } } } }, /r.json: terms.hidden.modules: Unrecognized key: "vison"/);
    bad({ description: 'x', task, terms: { attention: { weight: 1, modules: {} } } }, /r.json: terms.attention.modules: name at least one module/);
    bad({ description: 'x', task: { itc: 0, itm: 0, lm: 0 }, terms: {} }, /r.json: every task and term weight is 0/);
    assert.throws(() => loadRecipe('no-such-recipe'), /recipe "no-such-recipe" is neither a file nor a shipped recipe \(all-signals, attention-only, /);
  });

  it('refuses a pair a term cannot compare, naming the recipe', () => {
    const recipe = parseRecipe({ description: 'x', task, terms: { hidden: { weight: 1, modules: { vision: [[1, 4]] } } } }, 'r.json');
    assert.throws(() => checkRecipe(recipe, studentConfig(), teacherConfig()), /^Error: r.json: terms.hidden.modules.vision: layer map pair \[1, 4\]: teacher layer 4 is outside 1..3$/);
  });
});
