// Reading a request's image and fields, whichever way it came: multipart/form-data (a file part
// `image` plus text fields), raw image bytes (Content-Type image/jpeg|png|webp, fields in the query
// string) or JSON. Each reader names the field that is missing or wrong.
import type { FastifyRequest } from 'fastify';
import { badRequest, HttpError } from './errors.js';

export interface Inputs {
  image?: Buffer;
  fields: Map<string, string[]>;
}

function addField(fields: Map<string, string[]>, name: string, value: unknown): void {
  const values = Array.isArray(value) ? value : [value];
  for (const v of values) {
    if (typeof v !== 'string') continue;
    const list = fields.get(name) ?? [];
    list.push(v);
    fields.set(name, list);
  }
}

/** The image and fields of a multipart or raw-bytes request (query-string fields count too). */
export async function readInputs(req: FastifyRequest): Promise<Inputs> {
  const fields = new Map<string, string[]>();
  for (const [k, v] of Object.entries((req.query ?? {}) as Record<string, unknown>)) addField(fields, k, v);
  if (req.isMultipart()) {
    let image: Buffer | undefined;
    try {
      for await (const part of req.parts()) {
        if (part.type === 'file') {
          if (part.fieldname !== 'image') {
            await part.toBuffer();
            throw badRequest(`multipart: unexpected file field "${part.fieldname}"; send the image in the field "image"`);
          }
          if (image) throw badRequest('multipart: more than one "image" file; send one image per request');
          image = await part.toBuffer();
        } else {
          if (part.valueTruncated) throw new HttpError(413, 'field_too_large', `multipart: field "${part.fieldname}" is too long`);
          addField(fields, part.fieldname, part.value);
        }
      }
    } catch (err) {
      const status = (err as { statusCode?: number }).statusCode;
      if (err instanceof HttpError || (status !== undefined && status < 500)) throw err;
      // busboy's parse errors (a cut-off body, a broken boundary) carry no status: the client's fault.
      throw badRequest(`multipart: the body could not be parsed (${(err as Error).message})`, 'bad_multipart');
    }
    return { image, fields };
  }
  if (Buffer.isBuffer(req.body)) return { image: req.body, fields };
  if (req.body !== undefined && req.body !== null) {
    throw new HttpError(415, 'unsupported_media_type', 'send the image as multipart/form-data (file field "image") or as raw bytes with Content-Type image/jpeg, image/png or image/webp');
  }
  return { fields };
}

export function requireImage(inputs: Inputs): Buffer {
  if (!inputs.image) {
    throw badRequest('no image: send multipart/form-data with a file field "image", or the raw bytes with Content-Type image/jpeg, image/png or image/webp', 'missing_image');
  }
  return inputs.image;
}

export class FieldReader {
  constructor(
    private readonly fields: Map<string, string[]>,
    private readonly maxTextChars: number,
  ) {}

  private one(name: string): string | undefined {
    const values = this.fields.get(name);
    if (!values || values.length === 0) return undefined;
    if (values.length > 1) throw badRequest(`field "${name}" is given ${values.length} times; give it once`);
    return values[0];
  }

  has(name: string): boolean {
    return (this.fields.get(name)?.length ?? 0) > 0;
  }

  /** A non-blank text of at most maxTextChars characters. */
  text(name: string): string;
  text(name: string, optional: true): string | undefined;
  text(name: string, optional = false): string | undefined {
    const value = this.one(name);
    if (value === undefined) {
      if (optional) return undefined;
      throw badRequest(`field "${name}" is required`, 'missing_field');
    }
    return checkText(value, name, this.maxTextChars);
  }

  /** Every value of a repeatable field (e.g. text=a&text=b), each checked as text(). */
  texts(name: string, maxCount: number): string[] {
    const values = this.fields.get(name) ?? [];
    if (values.length === 0) throw badRequest(`field "${name}" is required (repeat it for several texts)`, 'missing_field');
    if (values.length > maxCount) throw new HttpError(413, 'too_many_texts', `field "${name}": ${values.length} texts, more than the limit of ${maxCount}`);
    return values.map((v, i) => checkText(v, `${name}[${i}]`, this.maxTextChars));
  }

  int(name: string, fallback: number, min: number, max: number): number {
    const value = this.one(name);
    if (value === undefined) return fallback;
    return checkInt(Number(value.trim() === '' ? NaN : value), name, min, max);
  }

  bool(name: string, fallback: boolean): boolean {
    const value = this.one(name);
    if (value === undefined) return fallback;
    if (value === 'true' || value === '1') return true;
    if (value === 'false' || value === '0') return false;
    throw badRequest(`field "${name}" must be true or false, got "${value.slice(0, 40)}"`, 'bad_field');
  }
}

export function checkText(value: unknown, name: string, maxChars: number): string {
  if (typeof value !== 'string') throw badRequest(`"${name}" must be a string`, 'bad_field');
  if (value.trim() === '') throw badRequest(`"${name}" is empty`, 'bad_field');
  if (value.length > maxChars) throw new HttpError(413, 'text_too_long', `"${name}" has ${value.length} characters, more than the limit of ${maxChars} (--max-text-chars)`);
  return value;
}

export function checkInt(value: unknown, name: string, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw badRequest(`"${name}" must be an integer from ${min} to ${max}, got ${JSON.stringify(value)?.slice(0, 40)}`, 'bad_field');
  }
  return value;
}

/** The JSON body as an object, or a 415/400 that says what to send. */
export function jsonBody(req: FastifyRequest): Record<string, unknown> {
  const body = req.body;
  if (Buffer.isBuffer(body) || req.isMultipart()) throw new HttpError(415, 'unsupported_media_type', 'send a JSON body with Content-Type application/json');
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw badRequest('the body must be a JSON object', 'bad_json');
  return body as Record<string, unknown>;
}
