// Distillation recipes: which task terms the student trains on and which KD terms (from the terms
// registry) pull it towards its teacher, with their options. Shipped ones live in recipes/*.json.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import type { BlipConfig } from '../models/config.js';
import type { PretrainTerm } from '../objectives/pretrain.js';
import { packageRoot } from '../paths.js';
import { AdaptorSet } from './adaptor.js';
import type { LayerAdaptors } from './adaptor.js';
import { TERMS } from './terms/index.js';
import type { DistillTerm, TermNeeds, TermOptions } from './terms/index.js';

const recipesDir = join(packageRoot, 'recipes');

const RecipeFileSchema = z.strictObject({
  description: z.string().min(1),
  /** The student's own pre-training terms (ITC, ITM, LM) and their weights. */
  task: z.strictObject({ itc: z.number().nonnegative(), itm: z.number().nonnegative(), lm: z.number().nonnegative() }),
  /** KD terms by registry name, each with its options (weight first). */
  terms: z.record(z.string(), z.unknown()),
});

export interface RecipeTerm {
  term: DistillTerm<TermOptions>;
  options: TermOptions;
}

export interface Recipe {
  /** The file it came from, for errors. */
  source: string;
  description: string;
  task: Record<PretrainTerm, number>;
  terms: RecipeTerm[];
}

function issues(error: z.ZodError, source: string, prefix: string): Error {
  const lines = error.issues.map((i) => `${source}: ${[prefix, ...i.path.map(String)].filter(Boolean).join('.') || '(recipe)'}: ${i.message}`);
  return new Error(lines.join('\n'));
}

/** A recipe from parsed JSON; errors name `source` and the bad field. */
export function parseRecipe(value: unknown, source: string): Recipe {
  const parsed = RecipeFileSchema.safeParse(value);
  if (!parsed.success) throw issues(parsed.error, source, '');
  const terms = Object.entries(parsed.data.terms).map(([name, raw]): RecipeTerm => {
    const term = Object.hasOwn(TERMS, name) ? TERMS[name] : undefined;
    if (!term) throw new Error(`${source}: terms.${name}: unknown term; the registry has ${Object.keys(TERMS).join(', ')}`);
    const options = term.schema.safeParse(raw);
    if (!options.success) throw issues(options.error, source, `terms.${name}`);
    return { term, options: options.data };
  });
  const { description, task } = parsed.data;
  if (task.itc + task.itm + task.lm === 0 && terms.every((t) => t.options.weight === 0)) throw new Error(`${source}: every task and term weight is 0; the student would learn nothing`);
  return { source, description, task, terms };
}

/** The shipped recipes' names. */
export function listRecipes(): string[] {
  return readdirSync(recipesDir)
    .filter((f) => f.endsWith('.json'))
    .map((f) => f.slice(0, -'.json'.length))
    .sort();
}

/** A recipe file, or a shipped recipe by name. */
export function loadRecipe(nameOrFile: string): Recipe {
  const shipped = join(recipesDir, `${nameOrFile}.json`);
  const file = existsSync(nameOrFile) ? nameOrFile : /^[\w-]+$/.test(nameOrFile) && existsSync(shipped) ? shipped : undefined;
  if (!file) throw new Error(`recipe "${nameOrFile}" is neither a file nor a shipped recipe (${listRecipes().join(', ')})`);
  let value: unknown;
  try {
    value = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new Error(`${file}: ${(err as Error).message}`);
  }
  return parseRecipe(value, file);
}

/** Throws, naming the recipe, when a term cannot compare this student with this teacher. */
export function checkRecipe(recipe: Recipe, student: BlipConfig, teacher: BlipConfig): void {
  for (const { term, options } of recipe.terms) {
    try {
      term.check(student, teacher, options);
    } catch (err) {
      throw new Error(`${recipe.source}: ${(err as Error).message}`);
    }
  }
}

/** What both forwards must produce for every term of the recipe. */
export function recipeNeeds(recipe: Recipe): Required<TermNeeds> {
  const needs = recipe.terms.map(({ term, options }) => term.needs(options));
  return {
    terms: [...new Set(needs.flatMap((n) => n.terms))],
    hiddenStates: needs.some((n) => n.hiddenStates === true),
    attentions: needs.some((n) => n.attentions === true),
  };
}

/** The recipe's adaptors, by module, under one module the trainer checkpoints; none without a teacher. */
export function recipeAdaptors(recipe: Recipe, student: BlipConfig, teacher: BlipConfig | undefined): AdaptorSet {
  const towers: Record<string, LayerAdaptors> = {};
  if (!teacher) return new AdaptorSet(towers);
  for (const { term, options } of recipe.terms) {
    for (const [name, tower] of Object.entries(term.adaptors?.(student, teacher, options) ?? {})) {
      if (towers[name]) throw new Error(`${recipe.source}: two terms train adaptors for module ${name}`);
      towers[name] = tower;
    }
  }
  return new AdaptorSet(towers);
}
