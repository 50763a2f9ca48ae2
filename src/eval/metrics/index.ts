// Evaluation metrics with the semantics of the official evaluation code behind published BLIP/DLIP
// numbers: BLIP's itm_eval (retrieval), pycocoevalcap (BLEU, CIDEr-D) and vqaEval.py (VQA).
export { recallAtK, rankOf } from './retrieval.js';
export type { ScoreMatrix, RetrievalGroundTruth, RetrievalInput, RetrievalResult } from './retrieval.js';
export { bleu, closestRefLength } from './bleu.js';
export type { BleuOptions, BleuResult } from './bleu.js';
export { ciderD } from './cider.js';
export type { CiderOptions, CiderResult } from './cider.js';
export type { Candidates, References } from './corpus.js';
export { captionTokens, tokenizeCaption } from './tokenize.js';
export { evaluateCaptions } from './captions.js';
export type { CaptionScores } from './captions.js';
export {
  vqaAccuracy,
  vqaQuestionAccuracy,
  normalizeVqaAnswer,
  vqaProcessPunctuation,
  vqaProcessDigitArticle,
} from './vqa.js';
export type { VqaGroundTruth, VqaPrediction, VqaResult } from './vqa.js';
