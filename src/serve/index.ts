// On-premises serving: `dlip serve` as a library.
export { startServer } from './server.js';
export type { RunningServer } from './server.js';
export { SERVE_DEFAULTS } from './options.js';
export type { ServeOptions } from './options.js';
export type { ModelInfo, Capability, Runtime } from './protocol.js';
export { Gallery } from './gallery/gallery.js';
export type { GalleryEntry, OpenReport } from './gallery/gallery.js';
export { VectorIndex } from './gallery/vector-index.js';
