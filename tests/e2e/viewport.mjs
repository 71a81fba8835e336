import { serve, open, screenshot } from './harness.mjs';
import { chromium } from 'playwright-core';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
const [,, query, name, w, h, full] = process.argv;
const server = await serve();
const dir = await mkdtemp(join(tmpdir(), 'vp-'));
const ctx = await chromium.launchPersistentContext(dir, { executablePath: '/usr/bin/chromium', headless: true,
  args: ['--headless','--no-sandbox','--no-first-run','--disable-background-networking','--disable-component-update','--disable-sync','--disable-quic'],
  viewport: { width: +w, height: +h } });
const page = await open(ctx, server.url + query);
await page.waitForSelector('#train-backend[data-ready="true"]', { timeout: 120000 });
await page.waitForTimeout(500);
const sw = await page.evaluate(() => [document.documentElement.scrollWidth, window.innerWidth]);
console.log('scrollWidth/innerWidth', sw, 'errors', page.errors);
if (process.env.OVERFLOW) {
  const wide = await page.evaluate(() => [...document.querySelectorAll('body *')]
    .filter((e) => e.getBoundingClientRect().right > window.innerWidth + 1 && e.getBoundingClientRect().width > 0)
    .slice(0, 15).map((e) => `${e.tagName}#${e.id}.${e.className} ${Math.round(e.getBoundingClientRect().right)}`));
  console.log(wide.join('\n'));
}
await page.screenshot({ path: `artifacts/e2e/${name}.png`, fullPage: full === '1' });
await ctx.close(); server.close();
