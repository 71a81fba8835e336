// Soak benchmark (prints figures, asserts nothing about them): trains a 3-run race for
// SOAK_STEPS steps on the CPU fallback, then runs SOAK_CYCLES preset/play/pause/reset
// cycles, and reports the wasm linear memory and the JS heap at the start, after training
// and at the end. Exits 1 only on a page error or a timeout.
// Usage: node tests/e2e/soak.mjs   (after `trunk build --release`)
//        SOAK_STEPS=300 SOAK_CYCLES=3 node tests/e2e/soak.mjs   (a quick check)
import { serve, browser, open } from './harness.mjs';

const STEPS = Number(process.env.SOAK_STEPS ?? 10000);
const CYCLES = Number(process.env.SOAK_CYCLES ?? 50);
// No step for this long while training (or no settling while cycling) counts as a hang.
const STALL_MS = 300_000;
const ready = '#train-backend[data-ready="true"]';

const mb = (n) => (n == null ? null : Math.round((n / 2 ** 20) * 10) / 10);
const pct = (a, b) => (a && b != null ? Math.round(((b - a) / a) * 1000) / 10 : null);
const log = (msg) => process.stderr.write(`soak: ${msg}\n`);
const state = async (page) => JSON.parse(await page.textContent('#lab-state'));

/** Polls #lab-state until `pred` holds; throws after `ms` or on a page error. */
async function waitFor(page, pred, what, ms = STALL_MS) {
  const t0 = Date.now();
  for (;;) {
    const s = await state(page);
    if (page.errors.length) throw new Error(`page error while waiting for ${what}: ${page.errors.join(' | ')}`);
    if (pred(s)) return s;
    if (Date.now() - t0 > ms) throw new Error(`timed out waiting for ${what}; state ${JSON.stringify(s)}`);
    await page.waitForTimeout(100);
  }
}

/** The wasm memory and the JS heap, after a forced GC (--js-flags=--expose-gc). */
async function memory(page, label) {
  const m = await page.evaluate(async () => {
    for (let i = 0; i < 3; i++) {
      window.gc?.();
      await new Promise((ok) => setTimeout(ok, 50));
    }
    return {
      wasm: window.__soakWasm?.memory?.buffer.byteLength ?? null,
      heap: performance.memory?.usedJSHeapSize ?? null,
      gc: typeof window.gc === 'function',
    };
  });
  log(`${label}: wasm ${mb(m.wasm)} MB, JS heap ${mb(m.heap)} MB${m.gc ? '' : ' (no forced GC)'}`);
  return m;
}

const server = await serve();
// Exact performance.memory figures and window.gc().
const { context, close } = await browser({ webgpu: false, extra: ['--enable-precise-memory-info', '--js-flags=--expose-gc'] });
// Trunk's loader (dist/index.html) dispatches TrunkApplicationStarted with detail.wasm,
// the wasm-bindgen exports, whose .memory is the linear memory. Keep it for memory().
await context.addInitScript(() => {
  addEventListener('TrunkApplicationStarted', (e) => { window.__soakWasm = e.detail?.wasm; });
});

let page;
let code = 0;
try {
  const t0 = Date.now();
  page = await open(context, `${server.url}?steps=${STEPS}&vs=static,set`);
  page.on('crash', () => page.errors.push('page crashed'));
  await page.waitForSelector(ready, { timeout: 120_000, state: 'attached' });
  let s = await waitFor(page, (s) => s.step === 0 && !s.busy, 'a fresh lab');
  if (s.runs !== 3) throw new Error(`expected a 3-run race, got ${JSON.stringify(s)}`);
  if (!(await page.evaluate(() => window.__soakWasm?.memory))) {
    throw new Error('no wasm memory: TrunkApplicationStarted did not carry detail.wasm.memory');
  }
  // "training on CPU (1 thread)", without the live steps/s after it.
  const trainsOn = (await page.textContent('#train-backend')).split('·')[0].trim();
  log(`${trainsOn}; ${s.runs} runs, ${STEPS} steps, ${CYCLES} cycles`);
  const start = await memory(page, 'start');

  // Train the whole race, reporting progress every ~30 s.
  const t1 = Date.now();
  await page.click('#play');
  let last = { step: 0, at: Date.now() };
  let shown = Date.now();
  for (;;) {
    s = await state(page);
    if (page.errors.length) throw new Error(`page error while training: ${page.errors.join(' | ')}`);
    if (s.step === STEPS) break;
    if (s.step !== last.step) last = { step: s.step, at: Date.now() };
    if (Date.now() - last.at > STALL_MS) throw new Error(`training stalled at step ${s.step}`);
    if (Date.now() - shown > 30_000) {
      shown = Date.now();
      log(`step ${s.step}/${STEPS}, ${((Date.now() - t1) / 1000).toFixed(0)} s`);
    }
    await page.waitForTimeout(250);
  }
  const trainS = (Date.now() - t1) / 1000;
  s = await waitFor(page, (s) => !s.busy, 'the end of training to settle');
  log(`trained ${STEPS} steps in ${trainS.toFixed(0)} s, test accuracy ${s.test_accuracy}`);
  const trained = await memory(page, 'after training');

  // Preset / play / pause / reset cycles through every preset in turn.
  const presets = await page.$$eval('#preset option', (os) => os.map((o) => o.value).filter((v) => v));
  const perCycle = [];
  const t2 = Date.now();
  shown = Date.now();
  for (let i = 0; i < CYCLES; i++) {
    const preset = presets[i % presets.length];
    const before = s.config;
    await page.selectOption('#preset', preset);
    // Settled: the runs rebuilt from the new configuration (data loaded), paused at 0.
    s = await waitFor(page, (s) => s.config !== before && s.step === 0 && !s.busy, `preset "${preset}"`);
    await page.waitForSelector(ready, { timeout: STALL_MS, state: 'attached' });
    await page.click('#play');
    await waitFor(page, (s) => s.step > 20, `steps of "${preset}"`);
    await page.click('#play'); // pause
    await waitFor(page, (s) => !s.busy, 'the pause to settle');
    await page.click('#reset');
    s = await waitFor(page, (s) => s.step === 0 && !s.busy, 'the reset');
    await page.waitForSelector(ready, { timeout: STALL_MS, state: 'attached' });
    // A cheap sample each cycle (no forced GC), to see which quantity creeps.
    perCycle.push(await page.evaluate(() => [
      window.__soakWasm.memory.buffer.byteLength, performance.memory?.usedJSHeapSize ?? null]));
    if (Date.now() - shown > 30_000 || i === CYCLES - 1) {
      shown = Date.now();
      const [w, h] = perCycle.at(-1);
      log(`cycle ${i + 1}/${CYCLES} (${preset}), ${((Date.now() - t2) / 1000).toFixed(0)} s: ` +
        `wasm ${mb(w)} MB, JS heap ${mb(h)} MB`);
    }
  }
  const end = await memory(page, 'end');

  // The report, then the same figures as one JSON line.
  const row = (name, m) => `${name.padEnd(16)}${String(mb(m.wasm)).padStart(10)}${String(mb(m.heap)).padStart(12)}`;
  console.log(`soak: ${STEPS} steps of a 3-run race (${trainsOn}), then ${CYCLES} preset cycles`);
  console.log(`${''.padEnd(16)}${'wasm MB'.padStart(10)}${'JS heap MB'.padStart(12)}`);
  console.log(row('start', start));
  console.log(row('after training', trained));
  console.log(row('end', end));
  console.log(`growth after training -> end: wasm ${pct(trained.wasm, end.wasm)} %, JS heap ${pct(trained.heap, end.heap)} %`);
  console.log(`growth start -> end:          wasm ${pct(start.wasm, end.wasm)} %, JS heap ${pct(start.heap, end.heap)} %`);
  console.log(`training ${trainS.toFixed(0)} s, cycles ${((Date.now() - t2) / 1000).toFixed(0)} s, ` +
    `total ${((Date.now() - t0) / 1000).toFixed(0)} s; page errors: ${page.errors.length}`);
  console.log(JSON.stringify({
    steps: STEPS, cycles: CYCLES, train_s: Math.round(trainS),
    wasm_mb: { start: mb(start.wasm), after_training: mb(trained.wasm), end: mb(end.wasm) },
    js_heap_mb: { start: mb(start.heap), after_training: mb(trained.heap), end: mb(end.heap) },
    growth_pct: {
      wasm_training_to_end: pct(trained.wasm, end.wasm), js_heap_training_to_end: pct(trained.heap, end.heap),
      wasm_start_to_end: pct(start.wasm, end.wasm), js_heap_start_to_end: pct(start.heap, end.heap),
    },
    per_cycle_mb: perCycle.map(([w, h]) => [mb(w), mb(h)]),
    page_errors: page.errors.length,
  }));
  if (page.errors.length) throw new Error(`page errors: ${page.errors.join(' | ')}`);
} catch (e) {
  console.error(`soak: FAILED: ${e.message}`);
  code = 1;
} finally {
  await close();
  server.close();
}
process.exit(code);
