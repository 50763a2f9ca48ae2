// One image of the built-in world: scene, captions, hard negatives and questions, each from its
// own random stream of (seed, image index), so any image can be made alone and knobs that affect
// one part (e.g. questionsPerImage) leave the others unchanged.
import { Rng } from '../rng.js';
import type { WorldConfig } from './config.js';
import { captionScene, hardNegative, type HardNegative, type WorldCaption } from './captions.js';
import { questionScene, type WorldQuestion } from './questions.js';
import { generateScene, type Scene } from './scene.js';

export interface WorldImage {
  index: number;
  scene: Scene;
  captions: WorldCaption[];
  /** negatives[i] is the hard negative of captions[i], when one exists. */
  negatives: (HardNegative | undefined)[];
  questions: WorldQuestion[];
}

const STREAM = { scene: 1, captions: 2, negatives: 3, questions: 4, render: 5 } as const;

export function generateWorldImage(seed: number, index: number, config: WorldConfig): WorldImage {
  const scene = generateScene(new Rng(seed, index, STREAM.scene), config);
  const captions = captionScene(scene, config, new Rng(seed, index, STREAM.captions));
  const negRng = new Rng(seed, index, STREAM.negatives);
  return {
    index,
    scene,
    captions,
    negatives: captions.map((c) => hardNegative(c, scene, config, negRng)),
    questions: questionScene(scene, config, new Rng(seed, index, STREAM.questions)),
  };
}

/** The random stream the renderer draws noise and strokes from. */
export const renderRng = (seed: number, index: number): Rng => new Rng(seed, index, STREAM.render);
