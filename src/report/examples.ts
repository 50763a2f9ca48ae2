// The examples section: for a few test images, each model's caption, answers and text→image top-5
// beside the references, with what it got wrong marked: an answer that matches no ground-truth answer
// (after VQA normalisation), the true image missing from the top-5, caption words that no reference
// uses (after the caption metrics' tokenisation).
import { isAbsolute, join } from 'node:path';
import { captionTokens } from '../eval/metrics/tokenize.js';
import { normalizeVqaAnswer } from '../eval/metrics/vqa.js';
import type { Example, Results } from '../experiment/results.js';
import { html } from './html.js';
import type { Html } from './html.js';
import { imageDataUri } from './images.js';

export function wrongAnswer(answer: string, groundTruth: readonly string[]): boolean {
  const given = normalizeVqaAnswer(answer.trim());
  return !groundTruth.some((a) => normalizeVqaAnswer(a.trim()) === given);
}

export interface CaptionWord {
  text: string;
  /** None of its tokens occurs in any reference. */
  unsupported: boolean;
}

/** The caption split at whitespace (kept, as words with unsupported false), each word judged against the references. */
export function captionWords(caption: string, references: readonly string[]): CaptionWord[] {
  const known = new Set(references.flatMap(captionTokens));
  return caption
    .split(/(\s+)/u)
    .filter((part) => part !== '')
    .map((text) => ({ text, unsupported: captionTokens(text).some((t) => !known.has(t)) }));
}

/** What one model got wrong on one example. */
export interface Mistakes {
  wrongAnswers: number;
  unsupportedWords: number;
  trueImageMissing: boolean;
}

export function mistakes(example: Example, model: string): Mistakes {
  const out = example.outputs[model] ?? {};
  const answers = out.answers ?? [];
  return {
    wrongAnswers: answers.filter((a, i) => example.questions[i] && wrongAnswer(a, example.questions[i]!.answers)).length,
    unsupportedWords: out.caption === undefined ? 0 : captionWords(out.caption, example.references).filter((w) => w.unsupported).length,
    trueImageMissing: out.top5 !== undefined && !out.top5.includes(example.imageId),
  };
}

function captionCell(caption: string | undefined, references: readonly string[]): Html {
  if (caption === undefined) return html`<td>—</td>`;
  const words = captionWords(caption, references).map((w) => (w.unsupported ? html`<mark class="wrong">${w.text}</mark>` : w.text));
  return html`<td>${words}</td>`;
}

function answerCell(answer: string | undefined, groundTruth: readonly string[]): Html {
  if (answer === undefined) return html`<td>—</td>`;
  return wrongAnswer(answer, groundTruth) ? html`<td><mark class="wrong">${answer}</mark></td>` : html`<td class="good">${answer}</td>`;
}

/** Checks that every model an example names is in the run and every image it shows is listed. */
function check(results: Results, models: Set<string>, file: string): void {
  results.examples.forEach((ex, i) => {
    for (const [name, out] of Object.entries(ex.outputs)) {
      if (!models.has(name)) throw new Error(`${file}: examples.${i}.outputs: "${name}" is neither the teacher nor a student of the run`);
      if ((out.answers?.length ?? 0) > ex.questions.length) throw new Error(`${file}: examples.${i}.outputs["${name}"].answers: ${out.answers!.length} answers to ${ex.questions.length} questions`);
      for (const id of out.top5 ?? []) {
        if (results.exampleImages[id] === undefined) throw new Error(`${file}: exampleImages has no file for image "${id}" (examples.${i}.outputs["${name}"].top5)`);
      }
    }
  });
}

export async function examplesSection(dir: string, results: Results, file: string): Promise<Html | undefined> {
  if (results.examples.length === 0) return undefined;
  const names = [results.teacher.name, ...results.students.map((s) => s.name)];
  check(results, new Set(names), file);
  const path = (f: string) => (isAbsolute(f) ? f : join(dir, f));
  const thumbs = new Map<string, Promise<string>>();
  const thumb = (id: string) => {
    if (!thumbs.has(id)) thumbs.set(id, imageDataUri(path(results.exampleImages[id]!), 64, `${file}: exampleImages["${id}"]`));
    return thumbs.get(id)!;
  };
  const tally = new Map(names.map((n) => [n, { wrongAnswers: 0, unsupportedWords: 0, trueImageMissing: 0, examples: 0 }]));
  const blocks: Html[] = [];
  for (const [i, ex] of results.examples.entries()) {
    const image = await imageDataUri(path(ex.image), 192, `${file}: examples.${i}.image`);
    const shown = names.filter((n) => ex.outputs[n] !== undefined);
    const rows: Html[] = [];
    for (const name of shown) {
      const out = ex.outputs[name]!;
      const m = mistakes(ex, name);
      const t = tally.get(name)!;
      t.examples++;
      t.wrongAnswers += m.wrongAnswers;
      t.unsupportedWords += m.unsupportedWords;
      t.trueImageMissing += m.trueImageMissing ? 1 : 0;
      const top5 = out.top5 === undefined
        ? html`<td>—</td>`
        : html`<td><div class="thumbs">${await Promise.all(out.top5.map(async (id, rank) => html`<div class="thumb${id === ex.imageId ? ' true' : ''}" title="${id}"><img src="${await thumb(id)}" alt="${id}">${rank + 1}${id === ex.imageId ? ' ✓' : ''}</div>`))}</div>${m.trueImageMissing ? html`<div class="missing">true image not in the top 5</div>` : ''}</td>`;
      rows.push(html`<tr class="${name === results.teacher.name ? 'teacher' : ''}"><td>${name}</td>${captionCell(out.caption, ex.references)}${ex.questions.map((q, j) => answerCell(out.answers?.[j], q.answers))}${top5}</tr>`);
    }
    blocks.push(html`<div class="example">
<div class="head"><img class="main" src="${image}" alt="${ex.imageId}">
<div><h3>${ex.imageId}</h3><b>References</b><ol>${ex.references.map((r) => html`<li>${r}</li>`)}</ol>
${ex.questions.length ? html`<b>Questions</b><ol>${ex.questions.map((q) => html`<li>${q.question} — <span class="good">${q.answers.join(' / ')}</span></li>`)}</ol>` : ''}</div></div>
<table><tr><th>model</th><th>caption</th>${ex.questions.map((_, j) => html`<th>answer ${j + 1}</th>`)}<th>text→image top-5 for reference 1</th></tr>
${rows}</table></div>`);
  }
  const summary = names.filter((n) => tally.get(n)!.examples > 0).map((n) => {
    const t = tally.get(n)!;
    return html`<tr><td>${n}</td><td class="num">${t.examples}</td><td class="num">${t.wrongAnswers}</td><td class="num">${t.trueImageMissing}</td><td class="num">${t.unsupportedWords}</td></tr>`;
  });
  return html`<h2>Examples</h2>
<p class="legend">Marked: <mark class="wrong">an answer</mark> that matches none of the ground-truth answers (after VQA normalisation), <mark class="wrong">caption words</mark> that no reference uses, and a top-5 without the true image (framed green when present).</p>
<table><tr><th>model</th><th class="num">examples</th><th class="num">wrong answers</th><th class="num">true image not in top-5</th><th class="num">caption words in no reference</th></tr>${summary}</table>
${blocks}`;
}
