// Cost accounting of multi-head attention; the computation itself is ops.attention (fused on native).

/** Multiply-accumulates of the two attention matmuls (scores and weighted sum). */
export function attentionMacs(queries: number, keys: number, width: number): number {
  return 2 * queries * keys * width;
}
