import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  normalizeVqaAnswer,
  vqaAccuracy,
  vqaProcessDigitArticle,
  vqaProcessPunctuation,
  vqaQuestionAccuracy,
} from '../../../src/eval/metrics/index.js';

function close(actual: number, expected: number): void {
  assert.ok(Math.abs(actual - expected) <= 1e-9, `${actual} != ${expected}`);
}

const tenTimes = (a: string): string[] => Array.from({ length: 10 }, () => a);
/** `hits` copies of `match`, the rest distinct other answers. */
const withMatches = (match: string, hits: number): string[] => [
  ...Array.from({ length: hits }, () => match),
  ...Array.from({ length: 10 - hits }, (_, i) => `other${i}`),
];

test('normalisation: case, trailing period, number words, articles, contractions', () => {
  assert.equal(normalizeVqaAnswer('Yes.'), 'yes');
  assert.equal(normalizeVqaAnswer('Two dogs'), '2 dogs');
  assert.equal(normalizeVqaAnswer('the red one'), 'red 1');
  assert.equal(normalizeVqaAnswer('An apple'), 'apple');
  assert.equal(normalizeVqaAnswer('none'), '0');
  assert.equal(normalizeVqaAnswer('eleven'), 'eleven');
  assert.equal(normalizeVqaAnswer('dont know'), "don't know");
  assert.equal(normalizeVqaAnswer('isnt'), "isn't");
  // The official table's capitalised keys never match lower-cased text.
  assert.equal(normalizeVqaAnswer('Im'), 'im');
  // ...and it maps the correct "somebody'd" to "somebodyd".
  assert.equal(vqaProcessDigitArticle("somebody'd"), 'somebodyd');
  // Articles are dropped after number mapping, contractions applied last.
  assert.equal(vqaProcessDigitArticle('  A   cat  '), 'cat');
});

test('punctuation: space or nothing depending on context', () => {
  // No "/ " or " /" and no digit,digit: the mark becomes a space.
  assert.equal(vqaProcessPunctuation('black/white'), 'black white');
  assert.equal(normalizeVqaAnswer('red-white'), 'red white');
  // ", " occurs: commas are deleted; "-" has no neighbouring space: it becomes a space.
  assert.equal(vqaProcessPunctuation('hot-dog, yes'), 'hot dog yes');
  // A comma between digits anywhere: every mark is deleted, not spaced.
  assert.equal(vqaProcessPunctuation('1,000'), '1000');
  assert.equal(vqaProcessPunctuation('1,000 red/white'), '1000 redwhite');
  // Apostrophes are untouched.
  assert.equal(vqaProcessPunctuation("man's"), "man's");
});

test('periods: kept before a digit, otherwise removed, at most 32 of them', () => {
  assert.equal(vqaProcessPunctuation('2.5'), '2.5');
  assert.equal(vqaProcessPunctuation('3.'), '3');
  assert.equal(vqaProcessPunctuation('u.s.a.'), 'usa');
  // 40 periods: the first 32 go, 8 stay (re.UNICODE = 32 lands in re.sub's count).
  assert.equal(vqaProcessPunctuation('.'.repeat(40)), '.'.repeat(8));
  assert.equal(vqaProcessPunctuation(`${'a.'.repeat(33)}`), `${'a'.repeat(32)}a.`);
});

test('leave-one-out accuracy, by hand', () => {
  // m of 10 answers match. Leaving out a matching answer leaves m-1, a non-matching one m:
  // acc = (m · min(1, (m-1)/3) + (10-m) · min(1, m/3)) / 10.
  // m = 1: (1·0 + 9·1/3)/10 = 0.3
  close(vqaQuestionAccuracy('cat', withMatches('cat', 1)), 0.3);
  // m = 2: (2·1/3 + 8·2/3)/10 = (2/3 + 16/3)/10 = 0.6
  close(vqaQuestionAccuracy('cat', withMatches('cat', 2)), 0.6);
  // m = 3: (3·2/3 + 7·1)/10 = 0.9
  close(vqaQuestionAccuracy('cat', withMatches('cat', 3)), 0.9);
  // m = 4: every subset has at least 3 matches → 1
  close(vqaQuestionAccuracy('cat', withMatches('cat', 4)), 1);
  close(vqaQuestionAccuracy('dog', withMatches('cat', 4)), 0);
});

test('all ten answers identical: no normalisation, so "yes." and "Yes" miss (exact string match)', () => {
  assert.equal(vqaQuestionAccuracy('yes.', tenTimes('yes')), 0);
  assert.equal(vqaQuestionAccuracy('Yes', tenTimes('yes')), 0);
  assert.equal(vqaQuestionAccuracy('YES', tenTimes('yes')), 0);
  assert.equal(vqaQuestionAccuracy('yes', tenTimes('yes')), 1);
  // Normalised (answers differ): case folds on both sides.
  assert.equal(vqaQuestionAccuracy('YES', [...tenTimes('yes').slice(1), 'no']), 1);
  // Whitespace cleaning (newlines, tabs, strip) happens before the identity check and always.
  assert.equal(vqaQuestionAccuracy(' yes\n', tenTimes('yes')), 1);
  // One answer differs only by case: the set has two members, so everything is normalised.
  assert.equal(vqaQuestionAccuracy('yes.', [...Array.from({ length: 9 }, () => 'yes'), 'Yes']), 1);
  assert.equal(vqaQuestionAccuracy('two', [...tenTimes('2').slice(1), '2 ']), 0);
  assert.equal(vqaQuestionAccuracy('two', [...tenTimes('2').slice(1), 'two']), 1);
});

test('overall, per question type and per answer type, ×100', () => {
  const r = vqaAccuracy(
    [
      { questionId: 1, answers: withMatches('red', 2), questionType: 'what color', answerType: 'other' },
      { questionId: 2, answers: [...withMatches('blue', 9).slice(0, 9), 'light blue'], questionType: 'what color', answerType: 'other' },
      { questionId: 3, answers: tenTimes('yes'), questionType: 'is this', answerType: 'yes/no' },
    ],
    [
      { questionId: 3, answer: 'no' },
      { questionId: 1, answer: 'Red' },
      { questionId: 2, answer: 'the blue' },
    ],
  );
  // Question 1: 2 matches → 60; question 2: answers differ, so "the blue" is normalised to "blue"
  // and matches 9 → 100; question 3: 0.
  assert.deepEqual(r.perQuestion, [60, 100, 0]);
  close(r.overall, 160 / 3);
  close(r.perQuestionType['what color']!, 80);
  close(r.perQuestionType['is this']!, 0);
  close(r.perAnswerType['other']!, 80);
  close(r.perAnswerType['yes/no']!, 0);
});

test('readable errors name the question', () => {
  const gt = [{ questionId: 7, answers: ['a', 'b'] }];
  assert.throws(() => vqaAccuracy(gt, []), /question 7 has no prediction/);
  assert.throws(() => vqaAccuracy(gt, [{ questionId: 7, answer: 'a' }, { questionId: 8, answer: 'a' }]), /unknown question 8/);
  assert.throws(() => vqaAccuracy(gt, [{ questionId: 7, answer: 'a' }, { questionId: '7', answer: 'b' }]), /question 7 has more than one prediction/);
  assert.throws(() => vqaAccuracy([{ questionId: 9, answers: [] }], [{ questionId: 9, answer: 'a' }]), /question 9 has no ground-truth answers/);
});
