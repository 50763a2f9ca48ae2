// Evaluation: inference procedures (two-stage retrieval, caption generation, VQA answer ranking and
// generation) and the metrics that score their outputs.
export * from './metrics/index.js';
export { evaluateRetrieval, NOT_RERANKED } from './retrieval.js';
export type { RetrievalModel, ImageSource, RetrievalTexts, RetrievalOptions, RetrievalScores, DenseMatrix } from './retrieval.js';
export { generate, greedySearch, beamSearch, captionDecoder, generateCaptions, specialTokens } from './generate.js';
export { cachedDecoder } from './kv-cache.js';
export type { SequenceDecoder, CachedDecoder, Decoder, CaptionModel, GenerateOptions, GeneratedSequence, CaptionOptions } from './generate.js';
export { rankAnswers, answerDecoder, encodeQuestions, rankVqaAnswers, generateVqaAnswers } from './vqa.js';
export type { VqaModel, RankAnswersOptions, RankedCandidate, RankedAnswer, VqaGenerateOptions } from './vqa.js';
