// Public API of dlip's data layer: the built-in world, real-data loaders, image preprocessing,
// the streaming pipeline and BLIP's tokenizer.
export * from './errors.js';
export { preCaption, preQuestion, swapLeftRight } from './text.js';
export { fitGenerationLengths, BLIP_CAPTION_PROMPT, BLIP_GENERATION_LENGTHS, type GenerationLengths } from './caption-lengths.js';
export { Rng, hashSeed } from './rng.js';
export * from './tokenizer.js';
export * from './image.js';
export { readJson, type LoadOptions, type ImageCaptions, type CaptionDataset } from './formats/common.js';
export { loadKarpathy, KarpathyRecordSchema, type KarpathyRecord } from './formats/karpathy.js';
export { loadCocoCaptions } from './formats/coco.js';
export { loadFlickrTokens, type FlickrOptions } from './formats/flickr.js';
export { loadJsonlCaptions, JsonlRecordSchema } from './formats/jsonl.js';
export { loadVqa, loadAnswerList, imagePathFor, COCO_IMAGE_PATTERN, type VqaSample, type VqaOptions } from './formats/vqa.js';
export { loadCaptions, detectCaptionFormat, CAPTION_FORMATS, type CaptionFormat } from './formats/detect.js';
export { openDataset, Dataset, ManifestSchema, MANIFEST_NAME, SPLITS, type Split, type Manifest, type ManifestInput, type HardNegativeRecord } from './manifest.js';
export { BoundedQueue } from './pipeline/bounded-queue.js';
export { DecodePool, defaultWorkerCount } from './pipeline/decode-pool.js';
export { runDecodeJob, type DecodeJob } from './pipeline/decode-job.js';
export { loadBatches, disposeBatch, epochOrder, type Batch, type LoaderOptions, type Augmentation } from './pipeline/loader.js';
export { captionPairs, type CaptionPair } from './pipeline/samples.js';
export * from './world/vocabulary.js';
export * from './world/config.js';
export { generateScene, claimHolds, refMatches, relationHolds, GRID, type Scene, type WorldObject, type Ref, type Claim } from './world/scene.js';
export { captionScene, hardNegative, realise, trueClaims, TEMPLATES, type Template, type Change, type WorldCaption, type HardNegative } from './world/captions.js';
export { questionScene, QUESTION_TYPES, type QuestionType, type WorldQuestion } from './world/questions.js';
export { generateWorldImage, renderRng, type WorldImage } from './world/generate.js';
export { sceneSvg, renderSceneRgb, renderScenePng } from './world/render.js';
export { synthesizeWorld, builtinWorld, worldCacheDir, WORLD_IMAGE_PATTERN, type SynthOptions } from './world/synth.js';
