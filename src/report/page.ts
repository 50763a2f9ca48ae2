// The report as one HTML document: its styles, Chart.js, the charts' data and the script that draws
// them all inline, images as data: URIs, so it opens offline and makes no request.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { assetsDir } from '../paths.js';
import { readPackageVersion } from '../version.js';
import type { ChartSpec } from './charts.js';
import { html, jsonScript, raw, scriptText } from './html.js';
import type { Html } from './html.js';

export interface Page {
  title: string;
  /** Lines under the title: what run, when, on what. */
  meta: string[];
  sections: Html[];
  charts: ChartSpec[];
}

/** Chart.js's UMD build (it defines window.Chart), without its source-map comment: a browser with
 * devtools open would request the map. */
function chartJs(): string {
  const main = createRequire(import.meta.url).resolve('chart.js');
  const file = join(dirname(main), 'chart.umd.min.js');
  return readFileSync(file, 'utf8').replace(/\n\/\/# sourceMappingURL=\S+\s*$/, '\n');
}

export function renderPage(page: Page): string {
  const doc = html`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; img-src data:; style-src 'unsafe-inline'; script-src 'unsafe-inline'">
<meta name="generator" content="dlip ${readPackageVersion()}">
<title>${page.title}</title>
<style>${raw(readFileSync(join(assetsDir, 'report', 'report.css'), 'utf8'))}</style>
</head>
<body>
<h1>${page.title}</h1>
${page.meta.map((line) => html`<p class="meta">${line}</p>`)}
${page.sections}
<script type="application/json" id="dlip-charts">${jsonScript(page.charts)}</script>
<script>${scriptText(chartJs())}</script>
<script>${scriptText(readFileSync(join(assetsDir, 'report', 'report.js'), 'utf8'))}</script>
</body>
</html>
`;
  return doc.text;
}
