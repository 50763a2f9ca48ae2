// Our ops against tfjs's own implementations on the cpu backend, gradients included.
import { describe, it, before } from 'node:test';
import assert from 'node:assert/strict';
import { tf, initBackend } from '../../src/engine/backend.js';
import { gatherRows, gelu, layerNorm, linear, matmul } from '../../src/engine/ops.js';

function close(a: tf.Tensor, b: tf.Tensor, tol: number, what: string): void {
  assert.deepEqual(a.shape, b.shape, `${what}: shape`);
  const diff = tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]!;
  assert.ok(diff <= tol, `${what}: max |diff| ${diff}`);
}

for (const backend of ['cpu', 'wasm'] as const) {
  describe(`ops [${backend}]`, () => {
    before(async () => {
      await initBackend(backend);
    });

    it('matmul matches tf.matMul in value and gradient for every transpose and rank', () => {
      const shapes: [number[], number[]][] = [
        [[3, 4], [4, 5]],
        [[2, 3, 4], [2, 4, 5]],
        [[2, 2, 3, 4], [2, 2, 4, 5]],
      ];
      for (const [sa, sb] of shapes) {
        for (const ta of [false, true]) {
          for (const tb of [false, true]) {
            tf.tidy(() => {
              const swap = (s: number[], t: boolean) => (t ? [...s.slice(0, -2), s[s.length - 1]!, s[s.length - 2]!] : s);
              const a = tf.randomNormal(swap(sa, ta), 0, 1, 'float32', 1);
              const b = tf.randomNormal(swap(sb, tb), 0, 1, 'float32', 2);
              const w = tf.randomNormal([...sa.slice(0, -1), sb[sb.length - 1]!], 0, 1, 'float32', 3);
              const ours = tf.grads((x: tf.Tensor, y: tf.Tensor) => tf.sum(tf.mul(matmul(x, y, ta, tb), w)));
              const ref = tf.grads((x: tf.Tensor, y: tf.Tensor) => tf.sum(tf.mul(tf.matMul(x, y, ta, tb), w)));
              const what = `rank ${sa.length} ta=${ta} tb=${tb}`;
              close(matmul(a, b, ta, tb), tf.matMul(a, b, ta, tb), 1e-5, what);
              const [ga, gb] = ours([a, b]);
              const [ra, rb] = ref([a, b]);
              close(ga!, ra!, 1e-4, `${what} dA`);
              close(gb!, rb!, 1e-4, `${what} dB`);
            });
          }
        }
      }
    });

    it('embedding lookup sums the gradient of repeated ids', () => {
      tf.tidy(() => {
        const table = tf.randomNormal([6, 3], 0, 1, 'float32', 4) as tf.Tensor2D;
        const ids = tf.tensor2d([[1, 1, 4], [0, 1, 5]], [2, 3], 'int32');
        const looked = gatherRows(table, ids);
        assert.deepEqual(looked.shape, [2, 3, 3]);
        close(looked, tf.gather(table, ids), 0, 'values');
        const g = tf.grad((t: tf.Tensor) => tf.sum(tf.mul(gatherRows(t, ids), tf.range(1, 19).reshape([2, 3, 3]))))(table);
        // id 1 appears at flat positions 0, 1 and 4: rows [1,2,3] + [4,5,6] + [13,14,15].
        assert.deepEqual(Array.from(g.slice([1, 0], [1, 3]).dataSync()), [18, 21, 24]);
        assert.deepEqual(Array.from(g.slice([2, 0], [1, 3]).dataSync()), [0, 0, 0]);
      });
    });

    it('gathers whole examples of a batch with a scatter-add gradient', () => {
      tf.tidy(() => {
        const batch = tf.randomNormal([4, 2, 3], 0, 1, 'float32', 5);
        const picked = gatherRows(batch, tf.tensor1d([1, 1, 3], 'int32'));
        assert.deepEqual(picked.shape, [3, 2, 3]);
        close(picked, tf.gather(batch, [1, 1, 3]), 0, 'values');
        const g = tf.grad((x: tf.Tensor) => tf.sum(gatherRows(x, tf.tensor1d([1, 1, 3], 'int32'))))(batch);
        assert.deepEqual(g.shape, [4, 2, 3]);
        assert.deepEqual(Array.from(g.sum([1, 2]).dataSync()), [0, 12, 0, 6]);
      });
    });

    it('linear, exact GELU and LayerNorm give the textbook values', () => {
      tf.tidy(() => {
        const y = linear(tf.tensor2d([[1, 2]]), tf.tensor2d([[1, 0], [0, 1], [1, 1]]), tf.tensor1d([0, 0, 0.5]));
        assert.deepEqual(Array.from(y.dataSync()), [1, 2, 3.5]);
        // GELU(1) = 0.5·(1 + erf(1/√2)) = 0.8413447; the tanh form gives 0.8411920.
        assert.ok(Math.abs(gelu(tf.scalar(1)).dataSync()[0]! - 0.8413447) < 1e-6);
        const n = layerNorm(tf.tensor2d([[1, 2, 3, 6]]), tf.ones([4]), tf.zeros([4]), 1e-5).dataSync();
        // mean 3, biased variance 3.5
        [1, 2, 3, 6].forEach((v, i) => assert.ok(Math.abs(n[i]! - (v - 3) / Math.sqrt(3.5 + 1e-5)) < 1e-5));
      });
    });
  });
}
