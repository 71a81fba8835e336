// A tiny end-to-end harness: serves dist/ on a free localhost port, launches Debian's
// Chromium through playwright-core (never a downloaded browser), runs named tests and
// prints one line per test and a summary. Screenshots go to artifacts/e2e/.
import { createServer } from 'node:http';
import { readFile, mkdir, mkdtemp, rm } from 'node:fs/promises';
import { extname, join, normalize, resolve } from 'node:path';
import { tmpdir } from 'node:os';
import { chromium } from 'playwright-core';

export const ROOT = resolve(new URL('../..', import.meta.url).pathname);
export const DIST = join(ROOT, 'dist');
export const ARTIFACTS = join(ROOT, 'artifacts', 'e2e');

const TYPES = {
  '.html': 'text/html', '.js': 'text/javascript', '.wasm': 'application/wasm',
  '.css': 'text/css', '.json': 'application/json', '.gz': 'application/octet-stream',
};

/** Serves `dir` on 127.0.0.1; resolves to { url, close }. */
export async function serve(dir = DIST) {
  const server = createServer(async (req, res) => {
    const path = decodeURIComponent(new URL(req.url, 'http://x').pathname);
    const file = normalize(join(dir, path.endsWith('/') ? path + 'index.html' : path));
    if (!file.startsWith(dir)) { res.writeHead(403).end(); return; }
    try {
      const body = await readFile(file);
      res.writeHead(200, { 'content-type': TYPES[extname(file)] ?? 'application/octet-stream' });
      res.end(body);
    } catch {
      res.writeHead(404).end('not found');
    }
  });
  await new Promise((ok) => server.listen(0, '127.0.0.1', ok));
  return { url: `http://127.0.0.1:${server.address().port}/`, close: () => server.close() };
}

const BASE_ARGS = [
  '--headless', '--no-sandbox', '--no-first-run', '--disable-background-networking',
  '--disable-component-update', '--disable-sync', '--disable-quic',
];

/** Launches Chromium with or without WebGPU (and a window of `viewport`, and `extra`
 *  flags); resolves to { context, close }. */
export async function browser({ webgpu, viewport = { width: 1280, height: 800 }, extra = [] }) {
  const dataDir = await mkdtemp(join(tmpdir(), 'riglab-e2e-'));
  const args = [...BASE_ARGS, ...(webgpu ? ['--enable-unsafe-webgpu'] : []), ...extra];
  const context = await chromium.launchPersistentContext(dataDir, {
    executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
    headless: true,
    args,
    viewport,
  });
  return {
    context,
    close: async () => { await context.close(); await rm(dataDir, { recursive: true, force: true }); },
  };
}

/** Opens a page, collecting console errors and uncaught exceptions. */
export async function open(context, url) {
  const page = await context.newPage();
  page.errors = [];
  page.on('pageerror', (e) => page.errors.push(String(e)));
  page.on('console', (m) => { if (m.type() === 'error') page.errors.push(m.text()); });
  await page.goto(url);
  return page;
}

export async function screenshot(page, name) {
  await mkdir(ARTIFACTS, { recursive: true });
  const path = join(ARTIFACTS, `${name}.png`);
  await page.screenshot({ path, fullPage: true });
  return path;
}

/** Saves a screenshot of one element (e.g. a card) as artifacts/e2e/<name>.png. */
export async function screenshotOf(page, selector, name) {
  await mkdir(ARTIFACTS, { recursive: true });
  const path = join(ARTIFACTS, `${name}.png`);
  await page.locator(selector).screenshot({ path });
  return path;
}

/** axe-core's serious and critical violations on the page as it is: "id: targets" each. */
export async function accessibilityProblems(page) {
  const axe = await readFile(join(ROOT, 'node_modules/axe-core/axe.min.js'), 'utf8');
  await page.addScriptTag({ content: axe });
  return page.evaluate(async () => {
    const r = await window.axe.run(document, { resultTypes: ['violations'] });
    return r.violations
      .filter((v) => v.impact === 'serious' || v.impact === 'critical')
      .map((v) => `${v.id} (${v.impact}): ${v.nodes.slice(0, 3).map((n) => n.target.join(' ')).join(', ')}`);
  });
}

export function assert(cond, message) {
  if (!cond) throw new Error(message);
}

/** Runs tests in order: each is [name, async fn]. Returns the number of failures.
 *  E2E_ONLY=<regex> runs only the tests whose names match. */
export async function run(tests) {
  const only = process.env.E2E_ONLY ? new RegExp(process.env.E2E_ONLY, 'i') : null;
  if (only) tests = tests.filter(([name]) => only.test(name));
  let failed = 0;
  for (const [name, fn] of tests) {
    const t0 = Date.now();
    try {
      await fn();
      console.log(`ok    ${name} (${((Date.now() - t0) / 1000).toFixed(1)} s)`);
    } catch (e) {
      failed += 1;
      console.log(`FAIL  ${name}: ${e.message}`);
    }
  }
  console.log(`e2e: ${tests.length - failed} passed, ${failed} failed`);
  return failed;
}
