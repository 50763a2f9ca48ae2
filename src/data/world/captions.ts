// The caption grammar: true claims about a scene, several surface forms for each (paraphrases,
// synonyms, varied word order), and hard negatives that change exactly one attribute or relation.
import { Rng } from '../rng.js';
import type { WorldConfig } from './config.js';
import { claimHolds, relationHolds, type Claim, type Ref, type Scene, type WorldObject } from './scene.js';
import {
  COLOUR_WORDS, COLUMN_WORDS, GENERIC_NOUNS, INVERSE_RELATION, NUMBER_WORDS, RELATIONS, RELATION_WORDS, ROW_WORDS,
  SHAPE_WORDS, SIZE_WORDS, type Relation,
} from './vocabulary.js';

export const TEMPLATES = ['list', 'count-list', 'count', 'count-filtered', 'relation', 'count-relation', 'position'] as const;
export type Template = (typeof TEMPLATES)[number];

/** What a hard negative changed. */
export type Change = 'colour' | 'shape' | 'size' | 'relation' | 'count' | 'position';

export interface WorldCaption {
  text: string;
  template: Template;
  claims: Claim[];
  /** Seed of the word choices, so a negative can be worded identically. */
  voice: number;
}

export interface HardNegative {
  text: string;
  claims: Claim[];
  changed: Change;
}

/** Word choices drawn from their own stream: the same voice seed words two claim sets alike. */
class Voice {
  private readonly rng: Rng;
  constructor(seed: number, private readonly synonymRate: number) {
    this.rng = new Rng(seed, 0x5e1ec7);
  }
  /** Always draws twice, whatever the list, so later choices line up between a caption and its negative. */
  word(options: readonly string[]): string {
    const useSynonym = this.rng.next() < this.synonymRate;
    const u = this.rng.next();
    if (!useSynonym || options.length === 1) return options[0]!;
    return options[1 + Math.floor(u * (options.length - 1))]!;
  }
  choose(n: number): number {
    return Math.floor(this.rng.next() * n);
  }
}

const article = (phrase: string) => (/^[aeiou]/.test(phrase) ? `an ${phrase}` : `a ${phrase}`);

function refPhrase(ref: Ref, v: Voice): string {
  const size = v.word(ref.size ? SIZE_WORDS[ref.size] : ['']);
  const colour = v.word(ref.colour ? COLOUR_WORDS[ref.colour] : ['']);
  const shape = v.word(SHAPE_WORDS[ref.shape].singular);
  return article([size, colour, shape].filter(Boolean).join(' '));
}

function listPhrase(refs: readonly Ref[], v: Voice): string {
  const parts = refs.map((r) => refPhrase(r, v));
  return parts.length === 1 ? parts[0]! : `${parts.slice(0, -1).join(', ')} and ${parts[parts.length - 1]}`;
}

function countPhrase(n: number, v: Voice, colour?: Claim & { kind: 'count' }): string {
  const num = NUMBER_WORDS[n] ?? String(n);
  const plural = n !== 1;
  let noun: string;
  if (colour?.shape) {
    const words = SHAPE_WORDS[colour.shape];
    noun = v.word(plural ? words.plural : words.singular);
  } else {
    noun = v.word(plural ? GENERIC_NOUNS.plural : GENERIC_NOUNS.singular);
  }
  const col = colour?.colour ? `${v.word(COLOUR_WORDS[colour.colour])} ` : '';
  return `${num} ${col}${noun}`;
}

function wherePhrase(row: number, col: number, v: Voice): string {
  if (row === 1 && col === 1) return v.word(['in the center', 'in the middle']);
  if (row === 1) return v.word([`on the ${COLUMN_WORDS[col]}`, `at the ${COLUMN_WORDS[col]}`]);
  if (col === 1) return v.word([`at the ${ROW_WORDS[row]}`, `at the ${ROW_WORDS[row]} center`]);
  return `in the ${ROW_WORDS[row]} ${COLUMN_WORDS[col]} corner`;
}

const background = (v: Voice) => v.word(['noisy', 'grainy', 'speckled', 'textured']);

/** Words a claim set in a template; the same voice seed gives the same choices. */
export function realise(template: Template, claims: readonly Claim[], voiceSeed: number, synonymRate: number): string {
  const v = new Voice(voiceSeed, synonymRate);
  const form = v.choose(5);
  const c = claims;
  switch (template) {
    case 'list': {
      const list = listPhrase((c[0] as Claim & { kind: 'list' }).refs, v);
      const bg = background(v);
      return [list, `a picture of ${list}`, `an image with ${list}`, `${list} on a ${bg} background`, `there is ${list}`][form]!;
    }
    case 'count-list': {
      const count = c[0] as Claim & { kind: 'count' };
      const num = countPhrase(count.n, v);
      const list = listPhrase((c[1] as Claim & { kind: 'list' }).refs, v);
      return [`${num}: ${list}`, `${list}, ${num} in total`, `an image showing ${num}: ${list}`, `a picture of ${num}, ${list}`, `${num} on a ${background(v)} background: ${list}`][form]!;
    }
    case 'count':
    case 'count-filtered': {
      const count = c[0] as Claim & { kind: 'count' };
      const num = countPhrase(count.n, v, count);
      const be = count.n === 1 ? 'is' : 'are';
      return [`${num} on a ${background(v)} background`, `an image with ${num}`, `there ${be} ${num}`, `a picture of ${num}`, `${num} in the picture`][form]!;
    }
    case 'relation':
    case 'count-relation': {
      const rel = c[c.length - 1] as Claim & { kind: 'relation' };
      // Forms 2 and 3 name b first with the inverse relation: varied word order, same meaning.
      const inverse = form === 2 || form === 3;
      const first = refPhrase(inverse ? rel.b : rel.a, v);
      const relWords = v.word(RELATION_WORDS[inverse ? INVERSE_RELATION[rel.rel] : rel.rel]);
      const second = refPhrase(inverse ? rel.a : rel.b, v);
      const bare = `${first} ${relWords} ${second}`;
      if (template === 'relation') {
        return [bare, `${first} is ${relWords} ${second}`, `${first} is ${relWords} ${second}`, `there is ${bare}`, `a picture of ${bare}`][form]!;
      }
      const core = bare;
      const num = countPhrase((c[0] as Claim & { kind: 'count' }).n, v);
      return v.choose(2) === 0 ? `${num}, with ${core}` : `${core}, ${num} in all`;
    }
    case 'position': {
      const pos = c[0] as Claim & { kind: 'position' };
      const ref = refPhrase(pos.ref, v);
      const where = wherePhrase(pos.row, pos.col, v);
      return [`${ref} ${where}`, `${where} there is ${ref}`, `${ref} placed ${where}`, `a picture with ${ref} ${where}`, `${where} is ${ref}`][form]!;
    }
  }
}

function objectRef(o: WorldObject, withSize: boolean): Ref {
  return withSize ? { shape: o.shape, colour: o.colour, size: o.size } : { shape: o.shape, colour: o.colour };
}

/** True claims for a template, or undefined when the scene cannot support it (e.g. a relation needs two objects). */
export function trueClaims(template: Template, scene: Scene, rng: Rng): Claim[] | undefined {
  const objs = scene.objects;
  const withSize = rng.chance(0.35);
  const list = (): Claim => ({ kind: 'list', refs: rng.shuffle(objs.map((o) => objectRef(o, withSize))) });
  const total = (): Claim => ({ kind: 'count', n: objs.length });
  const relation = (): Claim | undefined => {
    const pairs: [WorldObject, WorldObject, Relation][] = [];
    for (const a of objs) for (const b of objs) for (const rel of RELATIONS) if (a !== b && relationHolds(a, rel, b)) pairs.push([a, b, rel]);
    if (pairs.length === 0) return undefined;
    const [a, b, rel] = rng.pick(pairs);
    return { kind: 'relation', a: objectRef(a, withSize), rel, b: objectRef(b, withSize) };
  };
  switch (template) {
    case 'list': return [list()];
    case 'count-list': return [total(), list()];
    case 'count': return [total()];
    case 'count-filtered': {
      const o = rng.pick(objs);
      const byColour = rng.chance(0.5);
      const n = objs.filter((x) => (byColour ? x.colour === o.colour : x.shape === o.shape)).length;
      return [byColour ? { kind: 'count', n, colour: o.colour } : { kind: 'count', n, shape: o.shape }];
    }
    case 'relation': {
      const r = relation();
      return r && [r];
    }
    case 'count-relation': {
      const r = relation();
      return r && [total(), r];
    }
    case 'position': {
      const o = rng.pick(objs);
      return [{ kind: 'position', ref: objectRef(o, withSize), row: o.row, col: o.col }];
    }
  }
}

function others<T>(all: readonly T[], not: T): T[] {
  return all.filter((x) => x !== not);
}

/** Every single-attribute change of one claim, as [changed claim, what changed]. */
function mutations(claim: Claim, config: WorldConfig): [Claim, Change][] {
  const refMutations = (ref: Ref): [Ref, Change][] => [
    ...(ref.colour ? others(config.colours, ref.colour).map((colour): [Ref, Change] => [{ ...ref, colour }, 'colour']) : []),
    ...others(config.shapes, ref.shape).map((shape): [Ref, Change] => [{ ...ref, shape }, 'shape']),
    ...(ref.size ? others(config.sizes, ref.size).map((size): [Ref, Change] => [{ ...ref, size }, 'size']) : []),
  ];
  switch (claim.kind) {
    case 'list':
      return claim.refs.flatMap((ref, i) => refMutations(ref).map(([r, ch]): [Claim, Change] => [{ ...claim, refs: claim.refs.map((x, j) => (j === i ? r : x)) }, ch]));
    case 'relation':
      return [
        [{ ...claim, rel: INVERSE_RELATION[claim.rel] }, 'relation'],
        ...refMutations(claim.a).map(([a, ch]): [Claim, Change] => [{ ...claim, a }, ch]),
        ...refMutations(claim.b).map(([b, ch]): [Claim, Change] => [{ ...claim, b }, ch]),
      ];
    case 'count': {
      const min = claim.colour || claim.shape ? 1 : config.minObjects;
      return [claim.n - 1, claim.n + 1].filter((n) => n >= Math.max(1, min) && n <= config.maxObjects).map((n): [Claim, Change] => [{ ...claim, n }, 'count']);
    }
    case 'position':
      return [
        ...[0, 1, 2].filter((r) => r !== claim.row).map((row): [Claim, Change] => [{ ...claim, row }, 'position']),
        ...[0, 1, 2].filter((c) => c !== claim.col).map((col): [Claim, Change] => [{ ...claim, col }, 'position']),
        ...refMutations(claim.ref).map(([ref, ch]): [Claim, Change] => [{ ...claim, ref }, ch]),
      ];
  }
}

/**
 * A caption made false by changing one attribute, relation, count or position of one claim,
 * worded with the same voice. Count claims that only pad a relation or list are left alone so that
 * the negative is about the objects. Undefined when no single change makes it false.
 */
export function hardNegative(caption: WorldCaption, scene: Scene, config: WorldConfig, rng: Rng): HardNegative | undefined {
  const targets = caption.claims.length > 1 ? [caption.claims.length - 1] : [0];
  const options = targets.flatMap((i) => mutations(caption.claims[i]!, config).map(([m, changed]) => ({ claims: caption.claims.map((c, j) => (j === i ? m : c)), changed })));
  rng.shuffle(options);
  for (const option of options) {
    if (option.claims.every((c) => claimHolds(c, scene))) continue;
    const text = realise(caption.template, option.claims, caption.voice, config.synonymRate);
    if (text !== caption.text) return { text, claims: option.claims, changed: option.changed };
  }
  return undefined;
}

const TEMPLATE_WEIGHTS: [Template, number][] = [
  ['list', 3], ['count-list', 2], ['count', 1], ['count-filtered', 2], ['relation', 4], ['count-relation', 2], ['position', 3],
];

function pickTemplate(rng: Rng): Template {
  const total = TEMPLATE_WEIGHTS.reduce((s, [, w]) => s + w, 0);
  let u = rng.next() * total;
  for (const [t, w] of TEMPLATE_WEIGHTS) {
    u -= w;
    if (u < 0) return t;
  }
  return 'list';
}

/** `config.captionsPerImage` different true captions of a scene. */
export function captionScene(scene: Scene, config: WorldConfig, rng: Rng): WorldCaption[] {
  const captions: WorldCaption[] = [];
  const seen = new Set<string>();
  for (let attempt = 0; captions.length < config.captionsPerImage && attempt < 200; attempt++) {
    const template = pickTemplate(rng);
    const claims = trueClaims(template, scene, rng);
    if (!claims) continue;
    const voice = Math.floor(rng.next() * 2 ** 31);
    const text = realise(template, claims, voice, config.synonymRate);
    if (seen.has(text)) continue;
    seen.add(text);
    captions.push({ text, template, claims, voice });
  }
  if (captions.length < config.captionsPerImage) throw new Error(`could not make ${config.captionsPerImage} different captions for a scene of ${scene.objects.length} objects`);
  return captions;
}
