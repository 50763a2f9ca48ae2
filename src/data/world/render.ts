// Renders a scene to pixels: shapes as SVG rasterised by sharp (librsvg), then per-pixel noise.
import sharp from 'sharp';
import type { Rng } from '../rng.js';
import type { WorldConfig } from './config.js';
import type { Scene, WorldObject } from './scene.js';

function polygon(cx: number, cy: number, r: number, sides: number, startDeg: number): string {
  const pts: string[] = [];
  for (let i = 0; i < sides; i++) {
    const a = ((startDeg + (360 * i) / sides) * Math.PI) / 180;
    pts.push(`${(cx + r * Math.cos(a)).toFixed(2)},${(cy + r * Math.sin(a)).toFixed(2)}`);
  }
  return pts.join(' ');
}

function starPoints(cx: number, cy: number, r: number): string {
  const pts: string[] = [];
  for (let i = 0; i < 10; i++) {
    const a = ((-90 + 36 * i) * Math.PI) / 180;
    const rr = i % 2 === 0 ? r : r * 0.45;
    pts.push(`${(cx + rr * Math.cos(a)).toFixed(2)},${(cy + rr * Math.sin(a)).toFixed(2)}`);
  }
  return pts.join(' ');
}

function shapeSvg(o: WorldObject, side: number): string {
  const cx = o.cx * side;
  const cy = o.cy * side;
  const r = o.radius * side;
  const fill = `rgb(${o.rgb.join(',')})`;
  const rot = `transform="rotate(${o.rotation.toFixed(1)} ${cx.toFixed(2)} ${cy.toFixed(2)})"`;
  switch (o.shape) {
    case 'circle':
      return `<circle cx="${cx.toFixed(2)}" cy="${cy.toFixed(2)}" r="${(r * 0.9).toFixed(2)}" fill="${fill}"/>`;
    case 'square': {
      const h = r * 0.8;
      return `<rect x="${(cx - h).toFixed(2)}" y="${(cy - h).toFixed(2)}" width="${(2 * h).toFixed(2)}" height="${(2 * h).toFixed(2)}" fill="${fill}" ${rot}/>`;
    }
    case 'triangle':
      return `<polygon points="${polygon(cx, cy + r * 0.15, r, 3, -90)}" fill="${fill}" ${rot}/>`;
    case 'star':
      return `<polygon points="${starPoints(cx, cy, r)}" fill="${fill}" ${rot}/>`;
    case 'cross': {
      const w = r * 0.32;
      return `<path d="M${cx - w},${cy - r}h${2 * w}v${r - w}h${r - w}v${2 * w}h${-(r - w)}v${r - w}h${-2 * w}v${-(r - w)}h${-(r - w)}v${-2 * w}h${r - w}z" fill="${fill}" ${rot}/>`;
    }
    case 'diamond':
      return `<polygon points="${polygon(cx, cy, r, 4, -90)}" fill="${fill}" ${rot}/>`;
    case 'hexagon':
      return `<polygon points="${polygon(cx, cy, r * 0.95, 6, 0)}" fill="${fill}" ${rot}/>`;
    case 'pentagon':
      return `<polygon points="${polygon(cx, cy, r * 0.95, 5, -90)}" fill="${fill}" ${rot}/>`;
  }
}

/** The scene as an SVG document: light background, faint random strokes, the objects. */
export function sceneSvg(scene: Scene, side: number, config: WorldConfig, rng: Rng): string {
  const strokes: string[] = [];
  for (let i = 0; i < config.textureStrokes; i++) {
    const g = scene.background.map((v) => Math.max(0, v - rng.int(25, 60)));
    const [x1, y1, x2, y2] = [rng.uniform(0, side), rng.uniform(0, side), rng.uniform(0, side), rng.uniform(0, side)];
    strokes.push(`<line x1="${x1.toFixed(1)}" y1="${y1.toFixed(1)}" x2="${x2.toFixed(1)}" y2="${y2.toFixed(1)}" stroke="rgb(${g.join(',')})" stroke-width="${(side / 64).toFixed(2)}"/>`);
  }
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${side}" height="${side}" viewBox="0 0 ${side} ${side}">`,
    `<rect width="${side}" height="${side}" fill="rgb(${scene.background.join(',')})"/>`,
    ...strokes,
    ...scene.objects.map((o) => shapeSvg(o, side)),
    '</svg>',
  ].join('');
}

/** Raw RGB pixels (HWC, uint8) of a scene with noise added. */
export async function renderSceneRgb(scene: Scene, config: WorldConfig, rng: Rng): Promise<Buffer> {
  const side = config.imageSize;
  const rgb = await sharp(Buffer.from(sceneSvg(scene, side, config, rng))).removeAlpha().raw().toBuffer();
  const amp = config.noise * 255;
  if (amp > 0) {
    for (let i = 0; i < rgb.length; i++) rgb[i] = Math.min(255, Math.max(0, Math.round(rgb[i]! + (rng.next() * 2 - 1) * amp)));
  }
  return rgb;
}

/** The scene as PNG bytes. */
export async function renderScenePng(scene: Scene, config: WorldConfig, rng: Rng): Promise<Buffer> {
  const rgb = await renderSceneRgb(scene, config, rng);
  const side = config.imageSize;
  return sharp(rgb, { raw: { width: side, height: side, channels: 3 } }).png({ compressionLevel: 6 }).toBuffer();
}
