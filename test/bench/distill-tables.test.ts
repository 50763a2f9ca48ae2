// The evidence tables' arithmetic: spreads over seeds, KD vs baseline pairing, retention, the claims.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { formatSpread, renderEvidence, spread, summarize } from '../../bench/distill-tables.js';
import type { EvidenceInput } from '../../bench/distill-tables.js';

const input: EvidenceInput = {
  tasks: ['retrieval', 'caption', 'vqa'],
  teacher: { retrieval: 40, caption: 100, vqa: 0 },
  runs: [
    { recipe: 'kd', seed: 0, scores: { retrieval: 38, caption: 90, vqa: 10 } },
    { recipe: 'kd', seed: 1, scores: { retrieval: 40, caption: 96, vqa: 12 } },
    { recipe: 'base', seed: 0, scores: { retrieval: 36, caption: 92, vqa: 11 } },
    { recipe: 'base', seed: 1, scores: { retrieval: 37, caption: 100, vqa: 11 } },
    { recipe: 'feat', seed: 0, scores: { retrieval: 39, caption: 80 } },
  ],
  kd: 'kd',
  baseline: 'base',
  recipes: ['kd', 'base'],
  ablations: ['feat'],
  ablationSeed: 0,
  descriptions: { feat: 'features only' },
  cost: [{ model: 'retrieval', architecture: 'BlipForImageTextRetrieval', teacherParameters: 100, studentParameters: 20, teacherFlops: 10, studentFlops: 3 }],
};

describe('distill evidence tables', () => {
  it('spreads use the sample standard deviation, and one value has none', () => {
    const s = spread([1, 2, 3, 6])!;
    assert.equal(s.mean, 3);
    assert.ok(Math.abs(s.std! - Math.sqrt(14 / 3)) < 1e-12);
    assert.deepEqual([s.min, s.max, s.n], [1, 6, 4]);
    assert.equal(spread([5])!.std, undefined);
    assert.equal(spread([]), undefined);
    assert.equal(formatSpread(spread([1, 3])), '2.00 ± 1.41 (1.00–3.00, n=2)');
  });

  it('compares KD with the baseline seed by seed, and marks each claim', () => {
    const e = summarize(input);
    const [retrieval, caption, vqa] = e.comparison;
    assert.equal(retrieval!.delta, 39 - 36.5);
    assert.deepEqual(retrieval!.paired, { seeds: 2, kdWins: 2 });
    assert.equal(caption!.delta, 93 - 96);
    assert.deepEqual(caption!.paired, { seeds: 2, kdWins: 0 });
    assert.equal(e.retention.find((r) => r.recipe === 'kd' && r.task === 'retrieval')!.ratio, 39 / 40);
    assert.equal(e.retention.find((r) => r.recipe === 'kd' && r.task === 'vqa')!.ratio, undefined, 'a teacher at 0 gives no ratio');
    const met = Object.fromEntries(e.checks.map((c) => [c.claim, c.met]));
    assert.equal(met['kd beats base on retrieval (R@1 (mean of TR@1, IR@1), mean over seeds)'], true);
    assert.equal(met['kd beats base on caption (CIDEr, mean over seeds)'], false);
    assert.equal(met["kd keeps ≥ 95.0% of the teacher's R@1 (mean of TR@1, IR@1)"], true);
    assert.equal(met["kd keeps ≥ 95.0% of the teacher's CIDEr"], false);
    assert.equal(met["kd keeps ≥ 95.0% of the teacher's VQA accuracy"], undefined);
    assert.equal(met["student ≤ 25.0% of the teacher's parameters (retrieval)"], true);
    assert.equal(met["student ≤ 25.0% of the teacher's FLOPs (retrieval)"], false);
    assert.equal(vqa!.teacher, 0);
  });

  it('compares over the seeds both ran, and leaves a claim undecided while a seed is missing', () => {
    const partial = summarize({ ...input, runs: input.runs.filter((r) => !(r.recipe === 'kd' && r.seed === 1)) });
    const [retrieval, caption] = partial.comparison;
    assert.equal(retrieval!.delta, 38 - 36, 'seed 0 only: the baseline\'s seed 1 is not averaged in');
    assert.equal(caption!.delta, 90 - 92);
    assert.deepEqual(retrieval!.paired, { seeds: 1, kdWins: 1 });
    const check = partial.checks.find((c) => c.claim.startsWith('kd beats base on retrieval'))!;
    assert.equal(check.met, undefined);
    assert.match(check.detail, /1 \/ 2 seeds; higher on 1 of 1 paired seeds; incomplete/);
  });

  it('takes ablation rows from the ablation seed, against the baseline at that seed', () => {
    const e = summarize(input);
    assert.deepEqual(e.ablation.map((a) => a.recipe), ['kd', 'base', 'feat']);
    const feat = e.ablation.find((a) => a.recipe === 'feat')!;
    assert.deepEqual(feat.deltaVsBaseline, { retrieval: 3, caption: -12 });
    assert.equal(feat.description, 'features only');
    const md = renderEvidence(e, 'kd', 'base', 'node dist/bench/distill-evidence.js --steps 1');
    assert.match(md, /\| feat \| 39\.00 \| 80\.00 \| — \| \+3\.00 \| -12\.00 \| — \| features only \|/);
    assert.match(md, /VQA is the accuracy after the same `finetune --task vqa` of each model/);
    const distilled = renderEvidence(e, 'kd', 'base', 'node dist/bench/distill-evidence.js --steps 1 --vqa-kd', true);
    assert.match(distilled, /base and the teacher fine-tuned \(`finetune --task vqa`\), the KD recipes distilled from the teacher's fine-tuned VQA model/);
  });
});
