// Resizing a ViT's learned position grid when a checkpoint trained at one resolution is used at
// another (BLIP's interpolate_pos_embed). Hand-written: tfjs has no bicubic resize.

const A = -0.75; // PyTorch's bicubic coefficient

function cubicWeights(t: number): [number, number, number, number] {
  const w = (x: number): number => {
    const ax = Math.abs(x);
    if (ax <= 1) return (A + 2) * ax ** 3 - (A + 3) * ax ** 2 + 1;
    if (ax < 2) return A * ax ** 3 - 5 * A * ax ** 2 + 8 * A * ax - 4 * A;
    return 0;
  };
  return [w(t + 1), w(t), w(1 - t), w(2 - t)];
}

/** For each output index: the four clamped source indices and their weights (align_corners=False). */
function axisTaps(inSize: number, outSize: number): { index: number[]; weight: number[] }[] {
  const scale = inSize / outSize;
  return Array.from({ length: outSize }, (_, o) => {
    const src = (o + 0.5) * scale - 0.5;
    const i0 = Math.floor(src);
    const weight = cubicWeights(src - i0);
    const index = [-1, 0, 1, 2].map((d) => Math.min(Math.max(i0 + d, 0), inSize - 1));
    return { index, weight };
  });
}

/**
 * Bicubically resizes the patch part of a [1, 1 + g², D] position embedding to [1, 1 + n², D],
 * keeping the CLS position, as torch.nn.functional.interpolate(mode='bicubic', align_corners=False).
 */
export function interpolatePositionEmbedding(data: Float32Array, width: number, newGrid: number): Float32Array {
  const oldGrid = Math.round(Math.sqrt(data.length / width - 1));
  if ((oldGrid * oldGrid + 1) * width !== data.length) {
    throw new Error(`position_embedding of ${data.length / width} tokens is not 1 + a square grid`);
  }
  const out = new Float32Array((newGrid * newGrid + 1) * width);
  out.set(data.subarray(0, width));
  const taps = axisTaps(oldGrid, newGrid);
  for (let oy = 0; oy < newGrid; oy++) {
    const ty = taps[oy]!;
    for (let ox = 0; ox < newGrid; ox++) {
      const tx = taps[ox]!;
      const dst = (1 + oy * newGrid + ox) * width;
      for (let a = 0; a < 4; a++) {
        for (let b = 0; b < 4; b++) {
          const w = ty.weight[a]! * tx.weight[b]!;
          const src = (1 + ty.index[a]! * oldGrid + tx.index[b]!) * width;
          for (let c = 0; c < width; c++) out[dst + c]! += w * data[src + c]!;
        }
      }
    }
  }
  return out;
}
