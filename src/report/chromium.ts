// Where a Chromium to render reports in is (the browser test, scripts/report-screenshot.mjs):
// $CHROMIUM_PATH, else the system's (Debian's `chromium` package; CI installs it).
import { existsSync } from 'node:fs';

const SYSTEM = ['/usr/bin/chromium', '/usr/bin/chromium-browser', '/usr/bin/google-chrome', '/usr/bin/google-chrome-stable'];

export function findChromium(): string | undefined {
  const given = process.env.CHROMIUM_PATH;
  if (given) {
    if (!existsSync(given)) throw new Error(`CHROMIUM_PATH=${given}: no such file`);
    return given;
  }
  return SYSTEM.find((path) => existsSync(path));
}
