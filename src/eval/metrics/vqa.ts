// VQA accuracy with the semantics of the official VQA evaluation (vqaEval.py), including its quirks,
// because published VQAv2 numbers include them.

// The official contractions table, as it is: keys with capitals ("Im", "Ive", ...) can never match
// because answers are lower-cased first, and "somebody'd" maps to "somebodyd"; both are kept.
const CONTRACTIONS: ReadonlyMap<string, string> = new Map(
  Object.entries({
    aint: "ain't", arent: "aren't", cant: "can't", couldve: "could've", couldnt: "couldn't",
    "couldn'tve": "couldn't've", "couldnt've": "couldn't've", didnt: "didn't", doesnt: "doesn't",
    dont: "don't", hadnt: "hadn't", "hadnt've": "hadn't've", "hadn'tve": "hadn't've", hasnt: "hasn't",
    havent: "haven't", hed: "he'd", "hed've": "he'd've", "he'dve": "he'd've", hes: "he's", howd: "how'd",
    howll: "how'll", hows: "how's", "Id've": "I'd've", "I'dve": "I'd've", Im: "I'm", Ive: "I've",
    isnt: "isn't", itd: "it'd", "itd've": "it'd've", "it'dve": "it'd've", itll: "it'll", "let's": "let's",
    maam: "ma'am", mightnt: "mightn't", "mightnt've": "mightn't've", "mightn'tve": "mightn't've",
    mightve: "might've", mustnt: "mustn't", mustve: "must've", neednt: "needn't", notve: "not've",
    oclock: "o'clock", oughtnt: "oughtn't", "ow's'at": "'ow's'at", "'ows'at": "'ow's'at",
    "'ow'sat": "'ow's'at", shant: "shan't", "shed've": "she'd've", "she'dve": "she'd've",
    "she's": "she's", shouldve: "should've", shouldnt: "shouldn't", "shouldnt've": "shouldn't've",
    "shouldn'tve": "shouldn't've", "somebody'd": 'somebodyd', "somebodyd've": "somebody'd've",
    "somebody'dve": "somebody'd've", somebodyll: "somebody'll", somebodys: "somebody's",
    someoned: "someone'd", "someoned've": "someone'd've", "someone'dve": "someone'd've",
    someonell: "someone'll", someones: "someone's", somethingd: "something'd",
    "somethingd've": "something'd've", "something'dve": "something'd've", somethingll: "something'll",
    thats: "that's", thered: "there'd", "thered've": "there'd've", "there'dve": "there'd've",
    therere: "there're", theres: "there's", theyd: "they'd", "theyd've": "they'd've",
    "they'dve": "they'd've", theyll: "they'll", theyre: "they're", theyve: "they've", twas: "'twas",
    wasnt: "wasn't", "wed've": "we'd've", "we'dve": "we'd've", weve: "we've", werent: "weren't",
    whatll: "what'll", whatre: "what're", whats: "what's", whatve: "what've", whens: "when's",
    whered: "where'd", wheres: "where's", whereve: "where've", whod: "who'd", "whod've": "who'd've",
    "who'dve": "who'd've", wholl: "who'll", whos: "who's", whove: "who've", whyll: "why'll",
    whyre: "why're", whys: "why's", wont: "won't", wouldve: "would've", wouldnt: "wouldn't",
    "wouldnt've": "wouldn't've", "wouldn'tve": "wouldn't've", yall: "y'all", "yall'll": "y'all'll",
    "y'allll": "y'all'll", "yall'd've": "y'all'd've", "y'alld've": "y'all'd've",
    "y'all'dve": "y'all'd've", youd: "you'd", "youd've": "you'd've", "you'dve": "you'd've",
    youll: "you'll", youre: "you're", youve: "you've",
  }),
);

// Only these number words (and "none" → "0") are mapped; "eleven" stays a word.
const NUMBER_WORDS: ReadonlyMap<string, string> = new Map([
  ['none', '0'], ['zero', '0'], ['one', '1'], ['two', '2'], ['three', '3'], ['four', '4'],
  ['five', '5'], ['six', '6'], ['seven', '7'], ['eight', '8'], ['nine', '9'], ['ten', '10'],
]);

const ARTICLES: ReadonlySet<string> = new Set(['a', 'an', 'the']);

// Order matters: each is replaced in turn. Apostrophes and periods are not here.
const PUNCTUATION = [';', '/', '[', ']', '"', '{', '}', '(', ')', '=', '+', '\\', '_', '-', '>', '<', '@', '`', ',', '?', '!'];

// A comma between two digits ("1,000"): when present anywhere, every punctuation mark is deleted
// rather than turned into a space. Python's \d matches any Unicode digit, hence \p{Nd}.
const COMMA_BETWEEN_DIGITS = /\p{Nd},\p{Nd}/u;
// A period not followed by a digit. The official pattern starts with "(?!<=\d)", a lookahead
// (meant as a lookbehind) that can never fire where a period starts, so it is left out.
const STRIPPABLE_PERIOD = /\.(?!\p{Nd})/gu;
// The official code passes re.UNICODE (= 32) where re.sub takes its count, so only the first 32
// such periods are removed.
const MAX_PERIODS_STRIPPED = 32;

/** vqaEval's processPunctuation: punctuation to space or nothing, then at most 32 periods removed. */
export function vqaProcessPunctuation(text: string): string {
  const deleteAll = COMMA_BETWEEN_DIGITS.test(text);
  let out = text;
  for (const p of PUNCTUATION) {
    // The test looks at the original text, the replacement acts on the running result.
    const spaced = text.includes(p + ' ') || text.includes(' ' + p);
    out = out.replaceAll(p, spaced || deleteAll ? '' : ' ');
  }
  let stripped = 0;
  return out.replace(STRIPPABLE_PERIOD, (period) => (stripped++ < MAX_PERIODS_STRIPPED ? '' : period));
}

/** vqaEval's processDigitArticle: lower-case, number words → digits, drop articles, contractions. */
export function vqaProcessDigitArticle(text: string): string {
  const words: string[] = [];
  for (const raw of text.toLowerCase().split(/\s+/u)) {
    if (raw === '') continue;
    const word = NUMBER_WORDS.get(raw) ?? raw;
    if (!ARTICLES.has(word)) words.push(word);
  }
  return words.map((w) => CONTRACTIONS.get(w) ?? w).join(' ');
}

/** Both normalisation steps, in the official order. */
export function normalizeVqaAnswer(text: string): string {
  return vqaProcessDigitArticle(vqaProcessPunctuation(text));
}

/** Newlines and tabs become spaces, then surrounding whitespace goes: done to every answer first. */
function cleanWhitespace(text: string): string {
  return text.replaceAll('\n', ' ').replaceAll('\t', ' ').trim();
}

/**
 * Accuracy of one prediction in [0, 1]: for each ground-truth answer left out in turn,
 * min(1, matches among the others / 3), averaged. Normalisation is applied to the prediction and the
 * answers only when the answers are not all identical (after whitespace cleaning), as the official
 * code does; so "yes." and "Yes" score 0 against ten plain "yes". Normalisation lower-cases; without it
 * the comparison is exact, as in the official code.
 */
export function vqaQuestionAccuracy(prediction: string, answers: readonly string[]): number {
  if (answers.length === 0) throw new Error('vqaQuestionAccuracy: no ground-truth answers');
  let gts = answers.map(cleanWhitespace);
  let pred = cleanWhitespace(prediction);
  if (new Set(gts).size > 1) {
    gts = gts.map(normalizeVqaAnswer);
    pred = normalizeVqaAnswer(pred);
  }
  const matches = gts.map((a) => a === pred);
  const totalMatches = matches.filter(Boolean).length;
  let sum = 0;
  for (const self of matches) sum += Math.min(1, (totalMatches - (self ? 1 : 0)) / 3);
  return sum / gts.length;
}

export interface VqaGroundTruth {
  readonly questionId: string | number;
  /** The human answers (10 in VQAv2). */
  readonly answers: readonly string[];
  /** e.g. "what color is the"; questions without one are left out of perQuestionType. */
  readonly questionType?: string;
  /** "yes/no", "number" or "other"; questions without one are left out of perAnswerType. */
  readonly answerType?: string;
}

export interface VqaPrediction {
  readonly questionId: string | number;
  readonly answer: string;
}

export interface VqaResult {
  /** Mean accuracy ×100 over all questions. */
  readonly overall: number;
  /** Question type → mean accuracy ×100. */
  readonly perQuestionType: Readonly<Record<string, number>>;
  /** Answer type → mean accuracy ×100. */
  readonly perAnswerType: Readonly<Record<string, number>>;
  /** Accuracy ×100 of each ground-truth question, in the given order. */
  readonly perQuestion: readonly number[];
}

function meanTimes100(values: readonly number[]): number {
  return (100 * values.reduce((s, v) => s + v, 0)) / values.length;
}

function groupMeans(groups: ReadonlyMap<string, number[]>): Record<string, number> {
  // fromEntries defines own properties, so even a type named "__proto__" stays a plain key.
  return Object.fromEntries([...groups].map(([key, values]) => [key, meanTimes100(values)]));
}

function indexPredictions(predictions: readonly VqaPrediction[]): Map<string, string> {
  const byId = new Map<string, string>();
  for (const p of predictions) {
    const id = String(p.questionId);
    if (byId.has(id)) throw new Error(`vqaAccuracy: question ${id} has more than one prediction`);
    byId.set(id, p.answer);
  }
  return byId;
}

/**
 * VQA accuracy over a set of questions, ×100, with per question-type and per answer-type means.
 * Unlike the official code it does not round to 2 decimals. Like it, every ground-truth question
 * needs exactly one prediction and every prediction a question (loadRes asserts the id sets match).
 */
export function vqaAccuracy(groundTruth: readonly VqaGroundTruth[], predictions: readonly VqaPrediction[]): VqaResult {
  if (groundTruth.length === 0) throw new Error('vqaAccuracy: no questions');
  const byId = indexPredictions(predictions);
  const known = new Set(groundTruth.map((q) => String(q.questionId)));
  for (const id of byId.keys()) {
    if (!known.has(id)) throw new Error(`vqaAccuracy: prediction for unknown question ${id}`);
  }
  const perQuestion: number[] = [];
  const byQuestionType = new Map<string, number[]>();
  const byAnswerType = new Map<string, number[]>();
  const add = (groups: Map<string, number[]>, key: string | undefined, acc: number): void => {
    if (key === undefined) return;
    const list = groups.get(key) ?? [];
    list.push(acc);
    groups.set(key, list);
  };
  for (const q of groundTruth) {
    const id = String(q.questionId);
    const prediction = byId.get(id);
    if (prediction === undefined) throw new Error(`vqaAccuracy: question ${id} has no prediction`);
    if (q.answers.length === 0) throw new Error(`vqaAccuracy: question ${id} has no ground-truth answers`);
    const acc = vqaQuestionAccuracy(prediction, q.answers);
    perQuestion.push(acc);
    add(byQuestionType, q.questionType, acc);
    add(byAnswerType, q.answerType, acc);
  }
  return {
    overall: meanTimes100(perQuestion),
    perQuestionType: groupMeans(byQuestionType),
    perAnswerType: groupMeans(byAnswerType),
    perQuestion: perQuestion.map((a) => 100 * a),
  };
}
