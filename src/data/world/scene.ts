// Scenes of the built-in world and the facts a caption can state about them. Captions are made
// from these facts (claims), so whether a caption is true of a scene can be checked exactly.
import type { Rng } from '../rng.js';
import type { WorldConfig } from './config.js';
import { COLOUR_RGB, type Colour, type Relation, type Shape, type Size } from './vocabulary.js';

export const GRID = 3;

export interface WorldObject {
  shape: Shape;
  colour: Colour;
  size: Size;
  row: number;
  col: number;
  /** Centre and radius in fractions of the image side; rotation in degrees. */
  cx: number;
  cy: number;
  radius: number;
  rotation: number;
  rgb: [number, number, number];
}

export interface Scene {
  objects: WorldObject[];
  background: [number, number, number];
}

/** A reference to objects: shape always, colour and size when named. */
export interface Ref {
  shape: Shape;
  colour?: Colour;
  size?: Size;
}

export type Claim =
  | { kind: 'list'; refs: Ref[] }
  | { kind: 'relation'; a: Ref; rel: Relation; b: Ref }
  | { kind: 'count'; n: number; colour?: Colour; shape?: Shape }
  | { kind: 'position'; ref: Ref; row: number; col: number };

export function generateScene(rng: Rng, config: WorldConfig): Scene {
  const n = rng.int(config.minObjects, config.maxObjects);
  const cells = rng.shuffle(Array.from({ length: GRID * GRID }, (_, i) => i)).slice(0, n);
  const cell = 1 / GRID;
  const objects = cells.map((c): WorldObject => {
    const row = Math.floor(c / GRID);
    const col = c % GRID;
    const size = rng.pick(config.sizes);
    const radius = cell * (size === 'small' ? 0.24 : 0.42) * rng.uniform(0.92, 1.08);
    const slack = Math.max(0, cell / 2 - radius) * config.positionJitter;
    const colour = rng.pick(config.colours);
    return {
      shape: rng.pick(config.shapes),
      colour,
      size,
      row,
      col,
      cx: (col + 0.5) * cell + rng.uniform(-slack, slack),
      cy: (row + 0.5) * cell + rng.uniform(-slack, slack),
      radius,
      rotation: rng.uniform(-config.maxRotation, config.maxRotation),
      rgb: COLOUR_RGB[colour].map((v) => Math.round(Math.min(255, Math.max(0, v + rng.uniform(-1, 1) * 255 * config.colourJitter)))) as [number, number, number],
    };
  });
  return {
    objects,
    background: [rng.int(205, 245), rng.int(205, 245), rng.int(205, 245)],
  };
}

export function refMatches(ref: Ref, o: WorldObject): boolean {
  return ref.shape === o.shape && (ref.colour === undefined || ref.colour === o.colour) && (ref.size === undefined || ref.size === o.size);
}

/** Whether `a` stands in relation `rel` to `b` (grid cells; "left" = smaller column). */
export function relationHolds(a: WorldObject, rel: Relation, b: WorldObject): boolean {
  switch (rel) {
    case 'left': return a.col < b.col;
    case 'right': return a.col > b.col;
    case 'above': return a.row < b.row;
    case 'below': return a.row > b.row;
  }
}

/** Whether the refs can be matched one-to-one onto all the scene's objects. */
function listMatches(refs: readonly Ref[], objects: readonly WorldObject[]): boolean {
  if (refs.length !== objects.length) return false;
  const used = new Array<boolean>(objects.length).fill(false);
  const assign = (i: number): boolean => {
    if (i === refs.length) return true;
    for (let j = 0; j < objects.length; j++) {
      if (!used[j] && refMatches(refs[i]!, objects[j]!)) {
        used[j] = true;
        if (assign(i + 1)) return true;
        used[j] = false;
      }
    }
    return false;
  };
  return assign(0);
}

/** Truth of a claim in a scene (existential reading of refs, exact reading of lists and counts). */
export function claimHolds(claim: Claim, scene: Scene): boolean {
  const objs = scene.objects;
  switch (claim.kind) {
    case 'list':
      return listMatches(claim.refs, objs);
    case 'relation':
      return objs.some((a) => refMatches(claim.a, a) && objs.some((b) => b !== a && refMatches(claim.b, b) && relationHolds(a, claim.rel, b)));
    case 'count':
      return objs.filter((o) => (claim.colour === undefined || o.colour === claim.colour) && (claim.shape === undefined || o.shape === claim.shape)).length === claim.n;
    case 'position':
      return objs.some((o) => refMatches(claim.ref, o) && o.row === claim.row && o.col === claim.col);
  }
}
