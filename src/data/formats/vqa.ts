// VQAv2: a questions file, an optional annotations file (10 answers per question; test sets have
// none), and BLIP's answer list (a JSON array of candidate answers).
import { dirname } from 'node:path';
import { z } from 'zod';
import { DataError, type BadSample } from '../errors.js';
import { applyPolicy, keepExistingImages, parseRecords, parseTop, readJson, resolveImage, type LoadOptions } from './common.js';

const QuestionSchema = z.object({ question_id: z.number().int(), image_id: z.number().int(), question: z.string().min(1) });
const QuestionsTopSchema = z.object({ data_subtype: z.string().optional(), questions: z.array(z.unknown()) });
const AnswerSchema = z.object({ answer: z.string(), answer_confidence: z.string().optional(), answer_id: z.number().int().optional() });
const AnnotationSchema = z.object({
  question_id: z.number().int(),
  image_id: z.number().int(),
  answers: z.array(AnswerSchema).min(1),
  multiple_choice_answer: z.string().optional(),
  answer_type: z.string().optional(),
  question_type: z.string().optional(),
});
const AnnotationsTopSchema = z.object({ annotations: z.array(z.unknown()) });

export interface VqaSample {
  questionId: number;
  imageId: number;
  /** Absolute image path. */
  image: string;
  question: string;
  /** The annotators' answers (10 in VQAv2); empty without an annotations file. */
  answers: string[];
  multipleChoiceAnswer?: string;
  answerType?: string;
  questionType?: string;
  source: string;
}

export interface VqaOptions extends LoadOptions {
  annotations?: string;
  /**
   * Image path from the image id, relative to imageRoot: {id} or {id:012} (zero-padded) and
   * {subtype} (the questions file's data_subtype). Default: VQAv2/COCO "{subtype}/COCO_{subtype}_{id:012}.jpg".
   */
  imagePattern?: string;
}

export const COCO_IMAGE_PATTERN = '{subtype}/COCO_{subtype}_{id:012}.jpg';

export function imagePathFor(pattern: string, imageId: number, subtype: string): string {
  return pattern
    .replaceAll('{subtype}', subtype)
    .replace(/\{id(?::0(\d+))?\}/g, (_, width: string | undefined) => (width ? String(imageId).padStart(Number(width), '0') : String(imageId)));
}

export function loadVqa(questionsFile: string, options: VqaOptions = {}): VqaSample[] {
  const top = parseTop(QuestionsTopSchema, readJson(questionsFile), questionsFile, 'a VQAv2 questions file ({questions: [...]})');
  const qs = parseRecords(QuestionSchema, top.questions, questionsFile, (i) => `questions[${i}]`);
  const problems: BadSample[] = [...qs.problems];
  const answers = new Map<number, z.output<typeof AnnotationSchema>>();
  const annFile = options.annotations;
  if (annFile) {
    const annTop = parseTop(AnnotationsTopSchema, readJson(annFile), annFile, 'a VQAv2 annotations file ({annotations: [...]})');
    const anns = parseRecords(AnnotationSchema, annTop.annotations, annFile, (i) => `annotations[${i}]`);
    problems.push(...anns.problems);
    for (const { value } of anns.valid) answers.set(value.question_id, value);
  }
  const root = options.imageRoot ?? dirname(questionsFile);
  const pattern = options.imagePattern ?? COCO_IMAGE_PATTERN;
  const subtype = top.data_subtype ?? '';
  const answered: VqaSample[] = [];
  for (const { index, value } of qs.valid) {
    const record = `questions[${index}] (question_id ${value.question_id})`;
    const ann = answers.get(value.question_id);
    if (annFile && !ann) {
      problems.push({ file: questionsFile, record, message: `no annotation with this question_id in ${annFile}` });
      continue;
    }
    if (ann && ann.image_id !== value.image_id) {
      problems.push({ file: annFile!, record: `question_id ${value.question_id}`, message: `image_id ${ann.image_id} differs from the question's ${value.image_id}` });
      continue;
    }
    answered.push({
      questionId: value.question_id,
      imageId: value.image_id,
      image: resolveImage(root, imagePathFor(pattern, value.image_id, subtype)),
      question: value.question,
      answers: ann ? ann.answers.map((a) => a.answer) : [],
      multipleChoiceAnswer: ann?.multiple_choice_answer,
      answerType: ann?.answer_type,
      questionType: ann?.question_type,
      source: `${questionsFile}: ${record}`,
    });
  }
  const from = `${options.imageRootFrom ?? "the image folder (by default the questions file's folder)"} and the image pattern "${pattern}"`;
  const { kept, problems: missing } = keepExistingImages(questionsFile, answered, (s) => s.image, (s) => s.source.slice(questionsFile.length + 2), root, { ...options, imageRootFrom: from });
  applyPolicy([...problems, ...missing], options, questionsFile);
  if (kept.length === 0) throw new DataError(`${questionsFile}: no usable questions`);
  return kept;
}

/** BLIP's answer list: a JSON array of answer strings. */
export function loadAnswerList(file: string): string[] {
  const list = parseTop(z.array(z.string()).min(1), readJson(file), file, 'an answer list (a JSON array of strings)');
  const duplicates = list.filter((a, i) => list.indexOf(a) !== i);
  if (duplicates.length > 0) throw new DataError(`${file}: duplicate answers: ${[...new Set(duplicates)].slice(0, 5).join(', ')}`);
  return list;
}
