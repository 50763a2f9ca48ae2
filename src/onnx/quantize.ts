// Dynamic int8 quantisation of a linear layer's matrix product, written with standard ONNX ops:
// weights int8, symmetric, one scale per output channel (computed here, at export); activations
// quantised to uint8 per tensor at run time (DynamicQuantizeLinear). onnxruntime fuses the
// DynamicQuantizeLinear → MatMulInteger → Cast → Mul chain into one int8 GEMM kernel.
import type { Parameter } from '../nn/module.js';
import type { Graph } from './graph.js';

export interface QuantizedWeight {
  /** Wᵀ as int8 [in, out]. */
  values: Int8Array;
  /** One scale per output channel [out]: W[o, i] ≈ values[i, o]·scale[o]. */
  scale: Float32Array;
}

/** Symmetric per-output-channel int8 of a [out, in] weight: scale = max|W[o,:]|/127, values in [−127, 127]. */
export function quantizeWeight(data: Float32Array, rows: number, cols: number): QuantizedWeight {
  const values = new Int8Array(rows * cols);
  const scale = new Float32Array(rows);
  for (let o = 0; o < rows; o++) {
    let max = 0;
    for (let i = 0; i < cols; i++) max = Math.max(max, Math.abs(data[o * cols + i]!));
    const s = max > 0 ? max / 127 : 1;
    scale[o] = s;
    for (let i = 0; i < cols; i++) values[i * rows + o] = Math.max(-127, Math.min(127, Math.round(data[o * cols + i]! / s)));
  }
  return { values, scale };
}

/**
 * Rows of an embedding table [rows, width] looked up by `ids`, the table stored int8 with one scale per
 * row (weight-only: a lookup has no activation to quantise). Returns float rows [..ids, width].
 */
export function quantizedGather(g: Graph, table: Parameter, ids: string): string {
  const [rows, width] = table.shape as [number, number];
  const key = g.keyOf(table);
  // quantizeWeight treats each row as an output channel; its values come back transposed [width, rows].
  const q = quantizeWeight(table.value.dataSync() as Float32Array, rows, width);
  const values = new Int8Array(rows * width);
  for (let r = 0; r < rows; r++) for (let c = 0; c < width; c++) values[r * width + c] = q.values[c * rows + r]!;
  const stored = g.tensor(`${key}.int8`, 'int8', [rows, width], values);
  const scale = g.tensor(`${key}.scale`, 'float32', [rows, 1], q.scale);
  const picked = g.op('Cast', [g.op('Gather', [stored, ids], { axis: 0 })], { to: 1 });
  return g.op('Mul', [picked, g.op('Gather', [scale, ids], { axis: 0 })]);
}

/** x·Wᵀ with W quantised per channel and x quantised at run time; the float result, without bias. */
export function quantizedMatmul(g: Graph, x: string, weight: Parameter): string {
  const [rows, cols] = weight.shape as [number, number];
  const key = g.keyOf(weight);
  const q = quantizeWeight(weight.value.dataSync() as Float32Array, rows, cols);
  const values = g.tensor(`${key}.T.int8`, 'int8', [cols, rows], q.values);
  const scale = g.tensor(`${key}.scale`, 'float32', [rows], q.scale);
  const [xq, xScale, xZero] = g.opN('DynamicQuantizeLinear', [x], 3) as [string, string, string];
  const product = g.op('Cast', [g.op('MatMulInteger', [xq, values, xZero])], { to: 1 });
  return g.op('Mul', [product, g.op('Mul', [xScale, scale])]);
}
