// Browser benchmark (prints figures, asserts nothing): app size, data size, time to the
// first training step, steps/s and main-thread long tasks while training, the time of a
// 21 x 21 loss-landscape plane, in headless Chromium with WebGPU (SwiftShader) and without
// (CPU fallback).
// Usage: node tests/e2e/bench.mjs   (after `trunk build --release`; ./x bench runs both);
// BENCH_ONLY=<regex> runs only the setups and presets whose names match.
import { readdir, readFile } from 'node:fs/promises';
import { gzipSync } from 'node:zlib';
import { join } from 'node:path';
import { serve, browser, open, DIST } from './harness.mjs';

const kb = (n) => Math.round(n / 1024);
const files = await readdir(DIST);
let appGzip = 0;
for (const f of files.filter((f) => /\.(wasm|js|css)$/.test(f))) {
  appGzip += gzipSync(await readFile(join(DIST, f)), { level: 9 }).length;
}
const manifest = JSON.parse(await readFile(join(DIST, 'data/manifest.json'), 'utf8'));
const mnist = manifest.sets.find((s) => s.name === 'mnist');
const dataBytes = [...mnist.train.files, ...mnist.test.files].reduce((a, f) => a + f.bytes, 0);

const server = await serve();
const state = async (page) => JSON.parse(await page.textContent('#lab-state'));
const results = { app_gzip_kb: kb(appGzip), default_data_kb: kb(dataBytes), pages: {} };

const setups = [
  ['webgpu_forced', true, '?backend=gpu'],
  ['webgpu_auto', true, ''],
  ['cpu_fallback', false, ''],
];
const only = process.env.BENCH_ONLY ? new RegExp(process.env.BENCH_ONLY) : null;
const chosen = ([name]) => !only || only.test(name);
for (const [name, webgpu, query] of setups.filter(chosen)) {
  const b = await browser({ webgpu });
  const page = await open(b.context, 'about:blank');
  await page.evaluate(() => {
    window.__longTasks = [];
    new PerformanceObserver((l) => l.getEntries().forEach((e) => window.__longTasks.push(e.duration)))
      .observe({ type: 'longtask', buffered: true });
  });
  // Cold: nothing cached. Warm: the same page again, data now in Cache Storage.
  const timings = {};
  for (const visit of ['cold', 'warm']) {
    const t0 = Date.now();
    await page.goto(server.url + query);
    await page.waitForSelector('#train-backend[data-ready="true"]', { timeout: 120_000 });
    const ready = Date.now() - t0;
    const t1 = Date.now();
    await page.click('#play');
    await page.waitForFunction(() => JSON.parse(document.querySelector('#lab-state').textContent).step >= 1);
    timings[visit] = { ready_ms: ready, first_step_ms: ready + (Date.now() - t1) };
    await page.click('#play');
  }
  // Steps/s and long tasks over 10 s of training.
  await page.evaluate(() => {
    window.__longTasks = [];
    new PerformanceObserver((l) => l.getEntries().forEach((e) => window.__longTasks.push(e.duration)))
      .observe({ type: 'longtask' });
  });
  const s0 = (await state(page)).step;
  await page.click('#play');
  await page.waitForTimeout(10000);
  const s1 = (await state(page)).step;
  const longTasks = await page.evaluate(() => window.__longTasks);
  // A 21 x 21 landscape plane (mlp:300,100, 512 evaluation samples) around the trained point.
  await page.click('#play');
  await page.waitForFunction(() => !JSON.parse(document.querySelector('#lab-state').textContent).busy);
  const t2 = Date.now();
  const longBefore = (await page.evaluate(() => window.__longTasks)).length;
  await page.click('#landscape-plane');
  await page.waitForSelector('#landscape[data-state="computing"]', { timeout: 60_000 });
  await page.waitForSelector('#landscape[data-state="done"]', { timeout: 300_000 });
  const landscapeMs = Date.now() - t2;
  const landscapeLong = (await page.evaluate(() => window.__longTasks)).slice(longBefore);
  // The escape demo, whole: Static to its plateau, both continuations, the line and the map.
  let escape = null;
  if (!webgpu) {
    const e0 = (await page.evaluate(() => window.__longTasks)).length;
    const t3 = Date.now();
    await page.click('#escape-start');
    await page.waitForSelector('#escape[data-state="done"]', { timeout: 600_000 });
    const long = (await page.evaluate(() => window.__longTasks)).slice(e0);
    escape = { ms: Date.now() - t3, long_tasks_over_50ms: long.length, longest_task_ms: Math.round(Math.max(0, ...long)) };
  }
  results.pages[name] = {
    badge: await page.textContent('#backend-badge'),
    trains_on: await page.textContent('#train-backend'),
    ...timings,
    steps_per_s: (s1 - s0) / 10,
    long_tasks_over_50ms: longTasks.length,
    longest_task_ms: Math.round(Math.max(0, ...longTasks)),
    landscape_21x21_ms: landscapeMs,
    landscape_long_tasks_over_50ms: landscapeLong.length,
    landscape_longest_task_ms: Math.round(Math.max(0, ...landscapeLong)),
    escape_demo: escape,
  };
  await b.close();
}
// The CPU backend of the page (no WebGPU) on other presets and races, and WebGPU forced: steps/s (of the primary
// run, and of all runs together) and long tasks over 10 s; each in Web Workers (the default)
// and on the page's own thread (`workers=0`, as before the workers), one after the other.
results.presets = {};
const presets = [
  ['mlp_dense', '?method=dense&sparsity=0'],
  ['mlp_rigl90', '?'],
  ['cifar_cnn_rigl90', '?data=cifar10&model=cnn:16,32,128&sparsity=0.9'],
  ['race_2_runs', '?vs=static'],
  ['race_4_runs', '?vs=static,set,snfs'],
  // WebGPU (SwiftShader here), forced: in a worker on its own device, or on the page's thread.
  ['webgpu_mlp_rigl90', '?backend=gpu', true],
];
const both = presets.flatMap(([n, q, gpu]) => [[n, q, gpu], [`${n}_page_thread`, `${q}${q === '?' ? '' : '&'}workers=0`, gpu]]);
for (const [name, query, webgpu] of both.filter(chosen)) {
  const b = await browser({ webgpu: Boolean(webgpu) });
  const page = await open(b.context, server.url + query);
  try {
    await page.waitForSelector('#train-backend[data-ready="true"]', { timeout: 120_000 });
    await page.evaluate(() => {
      window.__longTasks = [];
      new PerformanceObserver((l) => l.getEntries().forEach((e) => window.__longTasks.push(e.duration)))
        .observe({ type: 'longtask' });
    });
    await page.click('#play');
    await page.waitForFunction(() => JSON.parse(document.querySelector('#lab-state').textContent).step >= 2, null, { timeout: 120_000 });
    const s0 = await state(page);
    await page.evaluate(() => { window.__longTasks = []; });
    await page.waitForTimeout(10000);
    const s1 = await state(page);
    const longTasks = await page.evaluate(() => window.__longTasks);
    const total = s1.run_steps.reduce((a, n, i) => a + n - s0.run_steps[i], 0);
    results.presets[name] = {
      query,
      runs: s1.runs,
      runs_in_workers: s1.workers,
      workers: s1.pool,
      steps_per_s: (s1.step - s0.step) / 10,
      total_steps_per_s: total / 10,
      long_tasks_over_50ms: longTasks.length,
      longest_task_ms: Math.round(Math.max(0, ...longTasks)),
    };
  } catch (e) {
    results.presets[name] = { query, error: String(e) };
  }
  await b.close();
}
server.close();
console.log(JSON.stringify(results, null, 2));
