// onnxruntime-node behind a small typed surface: one graph, fed and read as plain typed arrays.
// The rest of dlip never imports onnxruntime directly.
import * as ort from 'onnxruntime-node';

export interface HostTensor {
  data: Float32Array | BigInt64Array;
  dims: readonly number[];
}

export interface SessionOptions {
  /** Threads of one operator (onnxruntime's intra-op pool); default: onnxruntime's choice (all cores). */
  threads?: number;
}

/** float32 tensor of `dims`. */
export function floats(data: Float32Array, dims: readonly number[]): HostTensor {
  return { data, dims };
}

/** int64 tensor (token ids, masks) from int32 or plain numbers. */
export function int64s(data: ArrayLike<number>, dims: readonly number[]): HostTensor {
  return { data: BigInt64Array.from(Array.from(data), BigInt), dims };
}

export class OnnxSession {
  private constructor(
    private readonly session: ort.InferenceSession,
    readonly source: string,
  ) {}

  /** Opens a graph from an .onnx file path or its bytes; `source` names it in errors. */
  static async open(model: string | Uint8Array, options: SessionOptions = {}, source = typeof model === 'string' ? model : 'ONNX graph'): Promise<OnnxSession> {
    const sessionOptions: ort.InferenceSession.SessionOptions = {
      executionProviders: ['cpu'],
      graphOptimizationLevel: 'all',
      ...(options.threads ? { intraOpNumThreads: options.threads, interOpNumThreads: 1 } : {}),
    };
    try {
      const session = typeof model === 'string'
        ? await ort.InferenceSession.create(model, sessionOptions)
        : await ort.InferenceSession.create(model, sessionOptions);
      return new OnnxSession(session, source);
    } catch (err) {
      throw new Error(`${source}: onnxruntime cannot load it: ${(err as Error).message}`);
    }
  }

  get inputNames(): readonly string[] {
    return this.session.inputNames;
  }

  get outputNames(): readonly string[] {
    return this.session.outputNames;
  }

  /** Runs the graph; every output comes back as float32 data with its dims. */
  async run(feeds: Record<string, HostTensor>): Promise<Record<string, { data: Float32Array; dims: number[] }>> {
    const missing = this.session.inputNames.filter((n) => !(n in feeds));
    if (missing.length > 0) throw new Error(`${this.source}: inputs missing: ${missing.join(', ')}`);
    const ortFeeds: Record<string, ort.Tensor> = {};
    for (const [name, t] of Object.entries(feeds)) {
      ortFeeds[name] = t.data instanceof BigInt64Array ? new ort.Tensor('int64', t.data, [...t.dims]) : new ort.Tensor('float32', t.data, [...t.dims]);
    }
    let results: ort.InferenceSession.OnnxValueMapType;
    try {
      results = await this.session.run(ortFeeds);
    } catch (err) {
      const shapes = Object.entries(feeds).map(([n, t]) => `${n} [${t.dims.join(',')}]`).join(', ');
      throw new Error(`${this.source}: run failed on ${shapes}: ${(err as Error).message}`);
    }
    const out: Record<string, { data: Float32Array; dims: number[] }> = {};
    for (const [name, value] of Object.entries(results)) {
      const t = value as ort.Tensor;
      out[name] = { data: t.data as Float32Array, dims: [...t.dims] };
    }
    return out;
  }

  async close(): Promise<void> {
    await this.session.release();
  }
}
