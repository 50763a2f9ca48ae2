// What a model can be asked to do, by architecture, for the TypeScript model and its ONNX graphs alike:
// `dlip eval` and `dlip serve` run either through the same eval functions.
import type { BlipModel } from '../models/blip.js';
import type { Architecture, BlipConfig } from '../models/config.js';
import type { OnnxBlipModel } from '../onnx/runtime-model.js';
import type { RetrievalModel } from './retrieval.js';
import type { CaptionModel } from './generate.js';
import type { VqaModel } from './vqa.js';

/** A model to run: the TypeScript model, or its exported graphs running in onnxruntime. */
export type EvaluableModel = BlipModel | OnnxBlipModel;
export type Described = { config: BlipConfig; architecture: Architecture };

export const isRetrieval = (m: EvaluableModel): m is EvaluableModel & RetrievalModel & Described => m.architecture === 'BlipForImageTextRetrieval' || m.architecture === 'BlipForPreTraining';
export const canCaption = (m: EvaluableModel): m is EvaluableModel & CaptionModel & Described => m.architecture === 'BlipForConditionalGeneration' || m.architecture === 'BlipForPreTraining';
export const canAnswer = (m: EvaluableModel): m is EvaluableModel & VqaModel & Described => m.architecture === 'BlipForQuestionAnswering';
