// The OpenAPI 3.1 description of every endpoint, served at /openapi.json. A test checks that it
// lists exactly the routes the server registers.
import { readPackageVersion } from '../version.js';

const json = (schema: object) => ({ 'application/json': { schema } });
const imageBody = (fields: Record<string, object> = {}, required: string[] = []) => ({
  required: true,
  description: 'The image as raw bytes (Content-Type image/jpeg, image/png or image/webp; other fields in the query string) or as multipart/form-data with a file field "image" and the other fields as text fields.',
  content: {
    'image/jpeg': { schema: { type: 'string', format: 'binary' } },
    'image/png': { schema: { type: 'string', format: 'binary' } },
    'image/webp': { schema: { type: 'string', format: 'binary' } },
    'multipart/form-data': {
      schema: { type: 'object', required: ['image', ...required], properties: { image: { type: 'string', format: 'binary' }, ...fields } },
    },
  },
});
const error = { $ref: '#/components/schemas/Error' };
const errors = (...codes: number[]) =>
  Object.fromEntries(codes.map((c) => [String(c), { description: ERROR_TEXT[c] ?? 'error', content: json(error) }]));
const ERROR_TEXT: Record<number, string> = {
  400: 'bad input (the message names the field), or a capability the served model lacks',
  401: 'missing or wrong API key',
  404: 'unknown id, or no gallery configured',
  409: 'conflict (the id exists; a swap is running)',
  413: 'body, image, text or field over its limit',
  415: 'wrong content type or image format',
  503: 'not ready, queue full or timed out (Retry-After says when to retry)',
};
const common = errors(400, 401, 413, 415, 503);
const ok = (description: string, schema: object) => ({ '200': { description, content: json(schema) } });
const vector = { type: 'array', items: { type: 'number' } };
const generation = {
  beams: { type: 'integer', minimum: 1, maximum: 8, description: 'beam width (1 = greedy)' },
  max_length: { type: 'integer', description: 'longest sequence in tokens, [DEC] (and the prompt) included, as BLIP counts' },
  min_length: { type: 'integer', description: 'end of sequence blocked until this many tokens' },
};
const query = (name: string, schema: object, description: string) => ({ name, in: 'query', required: false, schema, description });

export function openApiDocument(): object {
  return {
    openapi: '3.1.0',
    info: {
      title: 'dlip serve',
      version: readPackageVersion(),
      description: 'BLIP-style vision-language inference on your own machine: embeddings, captions, VQA, ITM and a persistent image gallery.',
    },
    components: {
      securitySchemes: { bearer: { type: 'http', scheme: 'bearer' }, apiKey: { type: 'apiKey', in: 'header', name: 'X-API-Key' } },
      schemas: {
        Error: { type: 'object', required: ['error', 'message'], properties: { error: { type: 'string' }, message: { type: 'string' } } },
        Model: {
          type: 'object',
          properties: {
            spec: { type: 'string' }, architecture: { type: 'string' }, version: { type: 'string' }, parameters: { type: 'integer' },
            imageSize: { type: 'integer' }, embeddingDim: { type: 'integer' }, capabilities: { type: 'array', items: { type: 'string', enum: ['embed', 'itm', 'caption', 'vqa'] } },
            runtime: { type: 'string', enum: ['tfjs', 'onnx', 'onnx int8'], description: 'what runs the forward passes (dlip serve --runtime, --quantize)' },
            captionPrompt: { type: 'string', description: "/v1/caption's default prompt: the one the model was trained with (its dlip.json), else BLIP's \"a picture of \"" },
            loadSeconds: { type: 'number' }, warmupSeconds: { type: 'number' },
          },
        },
        Entry: { type: 'object', properties: { id: { type: 'string' }, meta: { type: 'object' }, added: { type: 'string', format: 'date-time' }, model: { type: 'string' } } },
        Hit: { type: 'object', properties: { id: { type: 'string' }, cosine: { type: 'number' }, score: { type: 'number', description: 'cosine, or ITM match logit + cosine when reranked' }, match: { type: 'number', description: 'ITM match probability (reranked hits)' }, meta: { type: 'object' } } },
      },
    },
    security: [{ bearer: [] }, { apiKey: [] }, {}],
    paths: {
      '/healthz': { get: { summary: 'The process is alive (answers while a batch runs)', security: [], responses: ok('alive', { type: 'object' }) } },
      '/readyz': { get: { summary: 'A model is loaded and warmed up and the gallery indexed', security: [], responses: { ...ok('ready', { type: 'object' }), ...errors(503) } } },
      '/metrics': { get: { summary: 'Prometheus metrics: requests and latencies per route, batch sizes, queue depth, model version, gallery size', responses: { '200': { description: 'text exposition format', content: { 'text/plain': { schema: { type: 'string' } } } }, ...errors(401) } } },
      '/openapi.json': { get: { summary: 'This document', security: [], responses: ok('OpenAPI 3.1', { type: 'object' }) } },
      '/v1/model': { get: { summary: 'The model being served', responses: { ...ok('model', { $ref: '#/components/schemas/Model' }), ...errors(401, 503) } } },
      '/v1/embeddings/image': {
        post: { summary: 'Unit ITC embedding of an image', requestBody: imageBody(), responses: { ...ok('embedding', { type: 'object', properties: { model: { type: 'string' }, dim: { type: 'integer' }, embedding: vector } }), ...common } },
      },
      '/v1/embeddings/text': {
        post: {
          summary: 'Unit ITC embeddings of texts',
          requestBody: { required: true, content: json({ type: 'object', required: ['texts'], properties: { texts: { type: 'array', items: { type: 'string' }, minItems: 1 } } }) },
          responses: { ...ok('embeddings', { type: 'object', properties: { model: { type: 'string' }, dim: { type: 'integer' }, embeddings: { type: 'array', items: vector } } }), ...common },
        },
      },
      '/v1/caption': {
        post: {
          summary: 'Caption an image (BLIP decoding from [DEC] + prompt)',
          parameters: [query('beams', generation.beams, 'default 3'), query('max_length', generation.max_length, 'default 20'), query('min_length', generation.min_length, 'default 5'), query('prompt', { type: 'string' }, 'default: the prompt the model was trained with (its dlip.json), else "a picture of "')],
          requestBody: imageBody({ ...generation, prompt: { type: 'string' } }),
          responses: { ...ok('caption', { type: 'object', properties: { model: { type: 'string' }, caption: { type: 'string' } } }), ...common },
        },
      },
      '/v1/vqa': {
        post: {
          summary: 'Answer a question about an image: generated, or the best of the candidate answers given (BLIP rank_answer)',
          parameters: [
            query('question', { type: 'string' }, 'the question (raw-bytes requests)'),
            query('answer', { type: 'array', items: { type: 'string' } }, 'candidate answers (repeat the field); without them the answer is generated'),
            query('beams', generation.beams, 'default 3'),
            query('max_length', generation.max_length, 'default 10'),
          ],
          requestBody: imageBody({ question: { type: 'string' }, answer: { type: 'array', items: { type: 'string' } }, ...generation }, ['question']),
          responses: { ...ok('answer', { type: 'object', properties: { model: { type: 'string' }, question: { type: 'string' }, answer: { type: 'string' }, score: { type: 'number', description: 'sequence score of a ranked answer' } } }), ...common },
        },
      },
      '/v1/itm': {
        post: {
          summary: 'Image-text matching score of a pair',
          parameters: [query('text', { type: 'string' }, 'the text (raw-bytes requests)')],
          requestBody: imageBody({ text: { type: 'string' } }, ['text']),
          responses: { ...ok('score', { type: 'object', properties: { model: { type: 'string' }, match: { type: 'number' }, logits: vector } }), ...common },
        },
      },
      '/v1/rank/texts': {
        post: {
          summary: 'Image → texts: rank candidate texts for an image by cosine, optionally reranking the top ones with ITM',
          parameters: [query('text', { type: 'array', items: { type: 'string' } }, 'candidate texts (repeat the field)'), query('k', { type: 'integer' }, 'results returned (default all)'), query('rerank', { type: 'integer' }, 'top candidates rescored with ITM (default 0)')],
          requestBody: imageBody({ text: { type: 'array', items: { type: 'string' } }, k: { type: 'integer' }, rerank: { type: 'integer' } }, ['text']),
          responses: { ...ok('ranking', { type: 'object', properties: { model: { type: 'string' }, results: { type: 'array', items: { type: 'object' } } } }), ...common },
        },
      },
      '/v1/gallery': {
        post: {
          summary: 'Add an image to the gallery (acknowledged once on disk)',
          parameters: [query('id', { type: 'string' }, 'client-chosen id (default: a UUID)'), query('meta', { type: 'string' }, 'JSON object stored with the entry')],
          requestBody: imageBody({ id: { type: 'string', pattern: '^[A-Za-z0-9._:-]{1,128}$' }, meta: { type: 'string', description: 'a JSON object, at most 4 KB' } }),
          responses: { '201': { description: 'stored', content: json({ type: 'object', properties: { id: { type: 'string' }, model: { type: 'string' } } }) }, ...common, ...errors(404, 409) },
        },
        get: {
          summary: 'List gallery entries in the order they were added',
          parameters: [query('offset', { type: 'integer', minimum: 0 }, 'default 0'), query('limit', { type: 'integer', minimum: 1, maximum: 1000 }, 'default 100')],
          responses: { ...ok('entries', { type: 'object', properties: { total: { type: 'integer' }, offset: { type: 'integer' }, entries: { type: 'array', items: { $ref: '#/components/schemas/Entry' } } } }), ...errors(400, 401, 404, 503) },
        },
      },
      '/v1/gallery/{id}': {
        parameters: [{ name: 'id', in: 'path', required: true, schema: { type: 'string' } }],
        get: { summary: 'One gallery entry', responses: { ...ok('entry', { $ref: '#/components/schemas/Entry' }), ...errors(401, 404, 503) } },
        delete: { summary: 'Remove an entry (acknowledged once on disk)', responses: { ...ok('removed', { type: 'object' }), ...errors(401, 404, 503) } },
      },
      '/v1/gallery/search': {
        post: {
          summary: 'Search the gallery: text → images (JSON {text, k, rerank}) or image → images (an image body; k in the query)',
          parameters: [query('k', { type: 'integer', minimum: 1, maximum: 1000 }, 'results (default 10)')],
          requestBody: {
            required: true,
            content: {
              ...json({ type: 'object', required: ['text'], properties: { text: { type: 'string' }, k: { type: 'integer' }, rerank: { type: 'integer', description: 'top hits rescored with ITM (text queries)' } } }),
              ...imageBody().content,
            },
          },
          responses: { ...ok('hits', { type: 'object', properties: { model: { type: 'string' }, results: { type: 'array', items: { $ref: '#/components/schemas/Hit' } } } }), ...common, ...errors(404) },
        },
      },
      '/admin/model': {
        post: {
          summary: 'Hot swap: load, warm up and switch to another model without dropping requests; the old one keeps serving if the new one fails',
          requestBody: { required: true, content: json({ type: 'object', required: ['model'], properties: { model: { type: 'string', description: 'model folder, shipped model name or Hugging Face name' } } }) },
          responses: { ...ok('swapped', { type: 'object', properties: { previous: { $ref: '#/components/schemas/Model' }, current: { $ref: '#/components/schemas/Model' } } }), ...errors(400, 401, 409, 415) },
        },
      },
    },
  };
}
