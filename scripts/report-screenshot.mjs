#!/usr/bin/env node
// Renders a run folder's report (as `dlip report` does) and saves a PNG of it in Chromium: the picture
// of the report in the README. Needs the build (npm run build) and a Chromium (Debian: apt-get install
// chromium; or CHROMIUM_PATH). Stops if the page logs an error or tries to make any request.
//
//   node scripts/report-screenshot.mjs RUN_DIR [--out FILE.png] [--width 1280] [--height 1400] [--full]
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const USAGE = 'usage: node scripts/report-screenshot.mjs RUN_DIR [--out FILE.png] [--width px] [--height px] [--full]';

function fail(message) {
  console.error(`report-screenshot: ${message}`);
  process.exit(1);
}

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    out: { type: 'string' },
    width: { type: 'string', default: '1280' },
    height: { type: 'string', default: '1400' },
    full: { type: 'boolean', default: false },
  },
});
if (positionals.length !== 1) fail(USAGE);
const [width, height] = [values.width, values.height].map((v, i) => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 200) fail(`--${i ? 'height' : 'width'} ${v}: expected an integer of at least 200 pixels`);
  return n;
});
const runDir = positionals[0];
const out = values.out ?? join(runDir, 'report.png');

const built = join(root, 'dist', 'src', 'report', 'report.js');
if (!existsSync(built)) fail(`${built} is missing: run npm run build first`);
const { writeReport } = await import(pathToFileURL(built).href);
const { findChromium } = await import(pathToFileURL(join(root, 'dist', 'src', 'report', 'chromium.js')).href);
const { chromium } = await import('playwright-core');

const executablePath = findChromium();
if (!executablePath) fail('no Chromium found: apt-get install chromium, or set CHROMIUM_PATH');

const html = await writeReport(runDir);
const url = pathToFileURL(html).href;
const browser = await chromium.launch({ executablePath, args: ['--disable-gpu'] });
try {
  const page = await browser.newPage({ viewport: { width, height } });
  const problems = [];
  page.on('console', (m) => m.type() === 'error' && problems.push(`console error: ${m.text()}`));
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  await page.route('**/*', (route) => {
    if (route.request().url() === url) return route.continue();
    problems.push(`request: ${route.request().url()}`);
    return route.abort();
  });
  await page.goto(url, { waitUntil: 'load' });
  if (problems.length) fail(`${html}:\n  ${problems.join('\n  ')}`);
  await page.screenshot({ path: out, fullPage: values.full });
  console.log(`report: ${html}\nscreenshot: ${out} (${width}×${values.full ? 'full page' : height})`);
} finally {
  await browser.close();
}
