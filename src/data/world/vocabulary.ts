// The built-in world's vocabulary: the attribute values a scene can take and the words (with
// paraphrases) that name them. Canonical names are the first word of each list and are what VQA
// answers and scene records use.

export const SHAPES = ['circle', 'square', 'triangle', 'star', 'cross', 'diamond', 'hexagon', 'pentagon'] as const;
export type Shape = (typeof SHAPES)[number];

export const COLOURS = ['red', 'green', 'blue', 'yellow', 'purple', 'orange', 'cyan', 'black', 'pink', 'brown', 'grey'] as const;
export type Colour = (typeof COLOURS)[number];

export const SIZES = ['small', 'large'] as const;
export type Size = (typeof SIZES)[number];

export const RELATIONS = ['left', 'right', 'above', 'below'] as const;
export type Relation = (typeof RELATIONS)[number];

export const COLOUR_RGB: Record<Colour, [number, number, number]> = {
  red: [220, 30, 30],
  green: [30, 160, 50],
  blue: [35, 70, 220],
  yellow: [235, 200, 20],
  purple: [130, 40, 170],
  orange: [245, 130, 20],
  cyan: [20, 190, 200],
  black: [25, 25, 25],
  pink: [240, 110, 180],
  brown: [125, 75, 35],
  grey: [128, 128, 128],
};

/** Singular words for each shape (first = canonical) and their plurals, index-aligned. */
export const SHAPE_WORDS: Record<Shape, { singular: string[]; plural: string[] }> = {
  circle: { singular: ['circle', 'disc'], plural: ['circles', 'discs'] },
  square: { singular: ['square', 'box'], plural: ['squares', 'boxes'] },
  triangle: { singular: ['triangle'], plural: ['triangles'] },
  star: { singular: ['star'], plural: ['stars'] },
  cross: { singular: ['cross', 'plus'], plural: ['crosses', 'pluses'] },
  diamond: { singular: ['diamond', 'rhombus'], plural: ['diamonds', 'rhombuses'] },
  hexagon: { singular: ['hexagon'], plural: ['hexagons'] },
  pentagon: { singular: ['pentagon'], plural: ['pentagons'] },
};

export const COLOUR_WORDS: Record<Colour, string[]> = {
  red: ['red'],
  green: ['green'],
  blue: ['blue'],
  yellow: ['yellow'],
  purple: ['purple', 'violet'],
  orange: ['orange'],
  cyan: ['cyan', 'turquoise'],
  black: ['black'],
  pink: ['pink'],
  brown: ['brown'],
  grey: ['grey', 'gray'],
};

export const SIZE_WORDS: Record<Size, string[]> = {
  small: ['small', 'little', 'tiny'],
  large: ['large', 'big'],
};

/** Phrases for "A <rel> B"; every phrase of "left"/"right" contains that word so a flip can swap it. */
export const RELATION_WORDS: Record<Relation, string[]> = {
  left: ['to the left of', 'left of', 'on the left of'],
  right: ['to the right of', 'right of', 'on the right of'],
  above: ['above', 'over'],
  below: ['below', 'under', 'beneath'],
};

export const INVERSE_RELATION: Record<Relation, Relation> = { left: 'right', right: 'left', above: 'below', below: 'above' };

export const NUMBER_WORDS = ['zero', 'one', 'two', 'three', 'four', 'five', 'six', 'seven', 'eight', 'nine'];

export const GENERIC_NOUNS = { singular: ['shape', 'object', 'figure'], plural: ['shapes', 'objects', 'figures'] };

/** Row and column names of a 3×3 grid. */
export const ROW_WORDS = ['top', 'middle', 'bottom'];
export const COLUMN_WORDS = ['left', 'center', 'right'];
