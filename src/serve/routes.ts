// The model endpoints: embeddings, captioning, VQA, ITM and ranking texts for an image, plus the
// operational ones (health, readiness, metrics, the model being served, hot swap).
import type { FastifyInstance } from 'fastify';
import { checkImage } from './images.js';
import { checkText, FieldReader, jsonBody, readInputs, requireImage } from './inputs.js';
import { requireModel } from './context.js';
import type { ServeContext } from './context.js';
import { badRequest } from './errors.js';
import type { GenerationParams, ModelInfo } from './protocol.js';

/** The public part of ModelInfo (no local paths). */
export function describeModel(info: ModelInfo) {
  const { dir: _dir, ...rest } = info;
  return rest;
}

async function imageAndFields(ctx: ServeContext, req: Parameters<typeof readInputs>[0]) {
  const inputs = await readInputs(req);
  const image = requireImage(inputs);
  await checkImage(image, ctx.options.maxPixels);
  return { image, fields: new FieldReader(inputs.fields, ctx.options.maxTextChars) };
}

function generationParams(fields: FieldReader, defaults: GenerationParams, positions = 512): GenerationParams {
  const prompt = fields.text('prompt', true) ?? defaults.prompt;
  return {
    beams: fields.int('beams', defaults.beams, 1, 8),
    maxLength: fields.int('max_length', defaults.maxLength, 2, positions),
    minLength: fields.int('min_length', defaults.minLength, 0, positions),
    prompt,
  };
}

const dot = (a: Float32Array, b: Float32Array) => {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]! * b[i]!;
  return s;
};

const matchProbability = ([no, yes]: [number, number]) => 1 / (1 + Math.exp(no - yes));

/**
 * Runs a request whose parts go through the model separately until every part came from one model
 * version: a hot swap between them makes it run again (at most three times) instead of mixing scores.
 */
export async function sameVersion<T>(attempt: () => Promise<{ versions: Set<string>; value: T }>): Promise<T> {
  for (let i = 0; ; i++) {
    const { versions, value } = await attempt();
    if (versions.size === 1 || i === 2) return value;
  }
}

export function registerModelRoutes(app: FastifyInstance, ctx: ServeContext): void {
  const { batcher, options } = ctx;

  app.get('/healthz', async () => ({ status: 'ok' }));

  app.get('/readyz', async (_req, reply) => {
    const info = ctx.host.info;
    const galleryReady = !ctx.gallery || ctx.gallery.version !== undefined;
    if (!info || !galleryReady || ctx.state.draining) {
      const why = ctx.state.draining ? 'shutting down' : !info ? 'loading the model' : 'indexing the gallery';
      return reply.code(503).header('retry-after', '1').send({ status: 'not_ready', reason: why });
    }
    return { status: 'ready', model: describeModel(info) };
  });

  app.get('/metrics', async (_req, reply) => {
    reply.header('content-type', ctx.metrics.registry.contentType);
    return ctx.metrics.registry.metrics();
  });

  app.get('/v1/model', async () => describeModel(requireModel(ctx)));

  app.post('/v1/embeddings/image', async (req) => {
    const info = requireModel(ctx, 'embed');
    const { image } = await imageAndFields(ctx, req);
    const [r] = await batcher.submit('image-embed', [image], {});
    return { model: r!.version, dim: info.embeddingDim, embedding: Array.from(r!.value) };
  });

  app.post('/v1/embeddings/text', async (req) => {
    const info = requireModel(ctx, 'embed');
    const body = jsonBody(req);
    const texts = body.texts;
    if (!Array.isArray(texts) || texts.length === 0) throw badRequest('"texts" must be a non-empty array of strings', 'bad_field');
    if (texts.length > options.maxTexts) throw badRequest(`"texts" has ${texts.length} entries, more than the limit of ${options.maxTexts} (--max-texts)`, 'too_many_texts');
    const checked = texts.map((t, i) => checkText(t, `texts[${i}]`, options.maxTextChars));
    const results = await batcher.submit('text-embed', checked, {});
    return { model: results[0]!.version, dim: info.embeddingDim, embeddings: results.map((r) => Array.from(r.value)) };
  });

  app.post('/v1/caption', async (req) => {
    const info = requireModel(ctx, 'caption');
    const { image, fields } = await imageAndFields(ctx, req);
    const params = generationParams(fields, { beams: 3, maxLength: 20, minLength: 5, prompt: info.captionPrompt });
    const [r] = await batcher.submit('caption', [image], { params });
    return { model: r!.version, caption: r!.value };
  });

  app.post('/v1/vqa', async (req) => {
    requireModel(ctx, 'vqa');
    const { image, fields } = await imageAndFields(ctx, req);
    const question = fields.text('question');
    if (fields.has('answer')) {
      // A closed list of candidates: BLIP's ranking instead of open-ended generation.
      const answers = fields.texts('answer', options.maxTexts);
      const [r] = await batcher.submit('vqa-rank', [{ image, question }], { answers });
      return { model: r!.version, question, answer: answers[r!.value.index]!, score: r!.value.score };
    }
    const params = generationParams(fields, { beams: 3, maxLength: 10, minLength: 1, prompt: '' });
    const [r] = await batcher.submit('vqa', [{ image, question }], { params });
    return { model: r!.version, question, answer: r!.value };
  });

  app.post('/v1/itm', async (req) => {
    requireModel(ctx, 'itm');
    const { image, fields } = await imageAndFields(ctx, req);
    const text = fields.text('text');
    const [r] = await batcher.submit('itm', [{ image, texts: [text] }], {});
    const logits = r!.value[0]!;
    return { model: r!.version, match: matchProbability(logits), logits };
  });

  app.post('/v1/rank/texts', async (req) => {
    requireModel(ctx, 'embed');
    const { image, fields } = await imageAndFields(ctx, req);
    const texts = fields.texts('text', options.maxTexts);
    const k = fields.int('k', texts.length, 1, texts.length);
    const rerank = fields.int('rerank', 0, 0, Math.min(k, options.maxRerank));
    return sameVersion(async () => {
      const [[img], embedded] = await Promise.all([batcher.submit('image-embed', [image], {}), batcher.submit('text-embed', texts, {})]);
      const versions = new Set([img!.version, ...embedded.map((t) => t.version)]);
      let ranked = embedded.map((t, index) => ({ index, text: texts[index]!, cosine: dot(img!.value, t.value), score: dot(img!.value, t.value), match: undefined as number | undefined }));
      ranked.sort((a, b) => b.cosine - a.cosine);
      ranked = ranked.slice(0, k);
      const reranked = ranked.slice(0, rerank);
      if (rerank > 0) {
        const [itm] = await batcher.submit('itm', [{ image, texts: reranked.map((r) => r.text) }], {});
        versions.add(itm!.version);
        reranked.forEach((r, i) => {
          const logits = itm!.value[i]!;
          r.match = matchProbability(logits);
          r.score = logits[1] + r.cosine;
        });
        reranked.sort((a, b) => b.score - a.score);
      }
      return { versions, value: { model: img!.version, results: [...reranked, ...ranked.slice(rerank)] } };
    });
  });

  app.post('/admin/model', async (req) => {
    const body = jsonBody(req);
    const spec = checkText(body.model, 'model', 4096);
    const { from, to } = await ctx.host.swap(spec);
    return { previous: from ? describeModel(from) : null, current: describeModel(to) };
  });
}
