import { join } from 'node:path';
import { packageRoot } from '../../src/paths.js';

export const fixtures = join(packageRoot, 'test', 'fixtures');
export const photos = join(fixtures, 'photos');
export const dataFixtures = join(fixtures, 'data');
