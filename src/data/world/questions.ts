// VQA questions about a scene, VQAv2 style: five types, ten answers each from simulated
// annotators who mostly agree (some use a synonym, a few are wrong).
import type { Rng } from '../rng.js';
import type { WorldConfig } from './config.js';
import { claimHolds, relationHolds, type Scene, type WorldObject } from './scene.js';
import { COLOUR_WORDS, RELATIONS, SHAPE_WORDS, type Colour, type Relation, type Shape } from './vocabulary.js';

export const QUESTION_TYPES = ['colour', 'shape', 'count', 'exist', 'relation'] as const;
export type QuestionType = (typeof QUESTION_TYPES)[number];

export interface WorldQuestion {
  type: QuestionType;
  question: string;
  /** The true answer (canonical word or digit). */
  answer: string;
  /** Ten annotator answers. */
  answers: string[];
  /** VQAv2's answer_type and question_type (its leading words). */
  answerType: 'yes/no' | 'number' | 'other';
  questionType: string;
}

const RELATION_QUESTION: Record<Relation, string> = { left: 'to the left of', right: 'to the right of', above: 'above', below: 'below' };

function uniqueBy<K>(objs: readonly WorldObject[], key: (o: WorldObject) => K): WorldObject[] {
  return objs.filter((o) => objs.filter((x) => key(x) === key(o)).length === 1);
}

/** A plausible different answer: synonym (half the time, where one exists) or a mistake of the same type. */
function noisyAnswer(truth: string, type: QuestionType, config: WorldConfig, rng: Rng): string {
  if (type === 'exist' || type === 'relation') return truth === 'yes' ? 'no' : 'yes';
  if (type === 'count') {
    const n = Number(truth);
    return String(n === 0 ? 1 : n + (rng.chance(0.5) ? 1 : -1));
  }
  const synonyms = type === 'colour' ? COLOUR_WORDS[truth as Colour].slice(1) : SHAPE_WORDS[truth as Shape].singular.slice(1);
  if (synonyms.length > 0 && rng.chance(0.5)) return rng.pick(synonyms);
  const pool: readonly string[] = type === 'colour' ? config.colours : config.shapes;
  return rng.pick(pool.filter((x) => x !== truth));
}

function annotate(truth: string, type: QuestionType, config: WorldConfig, rng: Rng): string[] {
  return Array.from({ length: 10 }, () => (rng.chance(config.answerNoise) ? noisyAnswer(truth, type, config, rng) : truth));
}

type Draft = Omit<WorldQuestion, 'answers' | 'type'>;

function draft(type: QuestionType, scene: Scene, config: WorldConfig, rng: Rng): Draft | undefined {
  const objs = scene.objects;
  switch (type) {
    case 'colour': {
      const candidates = uniqueBy(objs, (o) => o.shape);
      if (candidates.length === 0) return undefined;
      const o = rng.pick(candidates);
      return { question: `what color is the ${o.shape}?`, answer: o.colour, answerType: 'other', questionType: 'what color is the' };
    }
    case 'shape': {
      const candidates = uniqueBy(objs, (o) => o.colour);
      if (candidates.length === 0) return undefined;
      const o = rng.pick(candidates);
      return { question: `what shape is the ${o.colour} object?`, answer: o.shape, answerType: 'other', questionType: 'what shape is the' };
    }
    case 'count': {
      const kind = rng.int(0, 2);
      if (kind === 0) return { question: 'how many shapes are there?', answer: String(objs.length), answerType: 'number', questionType: 'how many' };
      if (kind === 1) {
        const colour = rng.pick(config.colours);
        const n = objs.filter((o) => o.colour === colour).length;
        return { question: `how many ${colour} objects are there?`, answer: String(n), answerType: 'number', questionType: 'how many' };
      }
      const shape = rng.pick(config.shapes);
      const n = objs.filter((o) => o.shape === shape).length;
      return { question: `how many ${SHAPE_WORDS[shape].plural[0]} are there?`, answer: String(n), answerType: 'number', questionType: 'how many' };
    }
    case 'exist': {
      // Half the questions ask about an object that is there, half about one that is not.
      const present = rng.chance(0.5);
      let colour: Colour;
      let shape: Shape;
      if (present) {
        const o = rng.pick(objs);
        colour = o.colour;
        shape = o.shape;
      } else {
        colour = rng.pick(config.colours);
        shape = rng.pick(config.shapes);
      }
      const there = claimHolds({ kind: 'count', n: 0, colour, shape }, scene) ? 'no' : 'yes';
      return { question: `is there ${/^[aeiou]/.test(colour) ? 'an' : 'a'} ${colour} ${shape}?`, answer: there, answerType: 'yes/no', questionType: 'is there a' };
    }
    case 'relation': {
      const named = uniqueBy(objs, (o) => `${o.colour} ${o.shape}`);
      if (named.length < 2) return undefined;
      const a = rng.pick(named);
      const b = rng.pick(named.filter((x) => x !== a));
      const rel = rng.pick(RELATIONS);
      const yes = relationHolds(a, rel, b);
      return {
        question: `is the ${a.colour} ${a.shape} ${RELATION_QUESTION[rel]} the ${b.colour} ${b.shape}?`,
        answer: yes ? 'yes' : 'no', answerType: 'yes/no', questionType: 'is the',
      };
    }
  }
}

/** `config.questionsPerImage` questions, cycling through the types from a random start so all types occur. */
export function questionScene(scene: Scene, config: WorldConfig, rng: Rng): WorldQuestion[] {
  const out: WorldQuestion[] = [];
  const seen = new Set<string>();
  let t = rng.int(0, QUESTION_TYPES.length - 1);
  for (let attempt = 0; out.length < config.questionsPerImage && attempt < 60; attempt++, t++) {
    const type = QUESTION_TYPES[t % QUESTION_TYPES.length]!;
    const d = draft(type, scene, config, rng);
    if (!d || seen.has(d.question)) continue;
    seen.add(d.question);
    out.push({ ...d, type, answers: annotate(d.answer, type, config, rng) });
  }
  return out;
}
