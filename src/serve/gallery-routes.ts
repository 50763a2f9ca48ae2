// The gallery endpoints: add an upload, list, get, remove, and search it by text (optionally
// reranked with ITM) or by image.
import { randomUUID } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { requireGallery, requireModel } from './context.js';
import type { ServeContext } from './context.js';
import { badRequest, HttpError } from './errors.js';
import { GalleryConflict } from './gallery/gallery.js';
import type { GalleryEntry } from './gallery/gallery.js';
import { checkImage } from './images.js';
import { checkInt, checkText, FieldReader, readInputs, requireImage } from './inputs.js';
import { sameVersion } from './routes.js';

const ID = /^[A-Za-z0-9._:-]{1,128}$/;
const MAX_META_BYTES = 4096;

function entryJson(e: GalleryEntry) {
  return { id: e.id, meta: e.meta, added: new Date(e.added).toISOString(), model: e.version };
}

function parseMeta(text: string | undefined): Record<string, unknown> {
  if (text === undefined) return {};
  if (Buffer.byteLength(text) > MAX_META_BYTES) throw new HttpError(413, 'meta_too_large', `"meta" is ${Buffer.byteLength(text)} bytes, more than ${MAX_META_BYTES}`);
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw badRequest(`"meta" is not valid JSON (${(err as Error).message})`, 'bad_field');
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw badRequest('"meta" must be a JSON object', 'bad_field');
  return value as Record<string, unknown>;
}

function checkId(id: string): string {
  if (!ID.test(id)) throw badRequest(`id "${id.slice(0, 140)}" must be 1-128 characters of letters, digits, '.', '_', ':' or '-'`, 'bad_id');
  return id;
}

const matchProbability = ([no, yes]: [number, number]) => 1 / (1 + Math.exp(no - yes));

export function registerGalleryRoutes(app: FastifyInstance, ctx: ServeContext): void {
  const { batcher, options } = ctx;

  app.post('/v1/gallery', async (req, reply) => {
    const gallery = requireGallery(ctx);
    requireModel(ctx, 'embed');
    const inputs = await readInputs(req);
    const image = requireImage(inputs);
    const fields = new FieldReader(inputs.fields, MAX_META_BYTES);
    const id = checkId(fields.text('id', true) ?? randomUUID());
    const meta = parseMeta(fields.text('meta', true));
    await checkImage(image, options.maxPixels);
    if (gallery.get(id)) throw new HttpError(409, 'conflict', new GalleryConflict(id).message);
    // A swap between embedding and storing makes the embedding stale: embed again with the new model.
    for (let attempt = 0; attempt < 3; attempt++) {
      const [r] = await batcher.submit('image-embed', [image], {});
      try {
        if ((await gallery.add(id, r!.value, r!.version, meta, image)) === 'added') {
          ctx.metrics.galleryEntries.set(gallery.size);
          return reply.code(201).send({ id, model: r!.version });
        }
      } catch (err) {
        if (err instanceof GalleryConflict) throw new HttpError(409, 'conflict', err.message);
        throw err;
      }
    }
    throw new HttpError(503, 'model_swapping', 'the model changed three times while adding; retry', 1);
  });

  app.get('/v1/gallery', async (req) => {
    const gallery = requireGallery(ctx);
    const query = req.query as Record<string, unknown>;
    const fields = new FieldReader(new Map(Object.entries(query).map(([k, v]) => [k, Array.isArray(v) ? v : [String(v)]])), 100);
    const offset = fields.int('offset', 0, 0, Number.MAX_SAFE_INTEGER);
    const limit = fields.int('limit', 100, 1, 1000);
    return { total: gallery.size, offset, entries: gallery.list(offset, limit).map(entryJson) };
  });

  app.get('/v1/gallery/:id', async (req) => {
    const gallery = requireGallery(ctx);
    const { id } = req.params as { id: string };
    const entry = gallery.get(id);
    if (!entry) throw new HttpError(404, 'unknown_id', `the gallery has no entry "${id.slice(0, 140)}"`);
    return entryJson(entry);
  });

  app.delete('/v1/gallery/:id', async (req) => {
    const gallery = requireGallery(ctx);
    const { id } = req.params as { id: string };
    if (!(await gallery.remove(id))) throw new HttpError(404, 'unknown_id', `the gallery has no entry "${id.slice(0, 140)}"`);
    ctx.metrics.galleryEntries.set(gallery.size);
    return { id, removed: true };
  });

  app.post('/v1/gallery/search', async (req) => {
    const gallery = requireGallery(ctx);
    requireModel(ctx, 'embed');
    let text: string | undefined;
    let image: Buffer | undefined;
    let fields: FieldReader;
    if (req.headers['content-type']?.startsWith('application/json')) {
      const body = req.body as Record<string, unknown>;
      if (typeof body !== 'object' || body === null || Array.isArray(body)) throw badRequest('the body must be a JSON object', 'bad_json');
      text = checkText(body.text, 'text', options.maxTextChars);
      const raw = new Map<string, string[]>();
      for (const name of ['k', 'rerank'] as const) if (body[name] !== undefined) raw.set(name, [String(checkInt(body[name], name, 0, Number.MAX_SAFE_INTEGER))]);
      fields = new FieldReader(raw, options.maxTextChars);
    } else {
      const inputs = await readInputs(req);
      image = requireImage(inputs);
      await checkImage(image, options.maxPixels);
      fields = new FieldReader(inputs.fields, options.maxTextChars);
    }
    const k = fields.int('k', 10, 1, 1000);
    const rerank = fields.int('rerank', 0, 0, Math.min(k, options.maxRerank));
    if (rerank > 0 && text === undefined) throw badRequest('"rerank" needs a text query: ITM scores image-text pairs', 'bad_field');
    return sameVersion(async () => {
      const [q] = text !== undefined ? await batcher.submit('text-embed', [text], {}) : await batcher.submit('image-embed', [image!], {});
      const versions = new Set([q!.version, gallery.version ?? '']);
      const hits = gallery.search(q!.value, k).map((h) => ({ id: h.id, cosine: h.score, score: h.score, match: undefined as number | undefined }));
      const top = hits.slice(0, rerank);
      if (rerank > 0) {
        // An entry removed meanwhile has no image any more: it leaves the results.
        const images = await Promise.all(top.map((h) => gallery.image(h.id).catch(() => undefined)));
        const kept = top.flatMap((h, i) => (images[i] ? [{ hit: h, image: images[i] }] : []));
        const scored = await batcher.submit('itm', kept.map((p) => ({ image: p.image, texts: [text!] })), {});
        scored.forEach((s, i) => {
          versions.add(s.version);
          const logits = s.value[0]!;
          const hit = kept[i]!.hit;
          hit.match = matchProbability(logits);
          hit.score = logits[1] + hit.cosine;
        });
        top.splice(0, top.length, ...kept.map((p) => p.hit).sort((a, b) => b.score - a.score));
      }
      const results = [...top, ...hits.slice(rerank)].flatMap((h) => {
        const entry = gallery.get(h.id);
        return entry ? [{ ...h, meta: entry.meta }] : [];
      });
      return { versions, value: { model: q!.version, results } };
    });
  });
}
