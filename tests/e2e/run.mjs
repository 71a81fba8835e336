// Browser end-to-end tests of the built page (dist/). Run by `./x test`.
import { serve, browser, open, screenshot, assert, run } from './harness.mjs';

const server = await serve();
const timeout = 120_000;

async function previewAndBadge({ webgpu, name, expectBackend, expectText }) {
  const b = await browser({ webgpu });
  try {
    const page = await open(b.context, server.url);
    await page.waitForSelector('#preview[data-state="ready"]', { timeout });
    await page.waitForSelector(`#backend-badge[data-backend="${expectBackend}"]`, { timeout });
    const badge = await page.textContent('#backend-badge');
    assert(expectText.test(badge), `badge says "${badge}", expected ${expectText}`);
    const thumbs = await page.$$eval('#preview figure', (fs) => fs.map((f) => f.textContent));
    assert(thumbs.length === 20, `expected 20 preview images, found ${thumbs.length}`);
    // Prepared subsets are interleaved by class: the first 20 MNIST labels are 0..9 twice.
    assert(thumbs.join(',') === '0,1,2,3,4,5,6,7,8,9,0,1,2,3,4,5,6,7,8,9', `labels: ${thumbs}`);
    // Each thumbnail is a real decoded image, not blank: the first one has ink on it.
    const ink = await page.$eval('#preview img', async (img) => {
      const c = document.createElement('canvas');
      c.width = img.naturalWidth; c.height = img.naturalHeight;
      const ctx = c.getContext('2d');
      ctx.drawImage(img, 0, 0);
      return ctx.getImageData(0, 0, c.width, c.height).data.filter((v, i) => i % 4 === 0 && v > 128).length;
    });
    assert(ink > 20, `first thumbnail looks blank (${ink} bright pixels)`);
    await screenshot(page, name);
    // Switching the set loads it too.
    const sets = await page.$$eval('#data-select option', (os) => os.map((o) => o.value));
    const other = sets.find((s) => s !== 'mnist');
    if (other) {
      await page.selectOption('#data-select', other);
      await page.waitForSelector(`#preview[data-set="${other}"][data-state="ready"]`, { timeout });
      await screenshot(page, `${name}-${other}`);
    }
    assert(page.errors.length === 0, `page errors: ${page.errors.join(' | ')}`);
  } finally {
    await b.close();
  }
}

const failed = await run([
  ['page loads on WebGPU (SwiftShader) and previews MNIST', () => previewAndBadge({
    webgpu: true, name: 'webgpu-preview', expectBackend: 'webgpu', expectText: /^WebGPU · .*swiftshader/i,
  })],
  ['page loads without WebGPU and says CPU fallback', () => previewAndBadge({
    webgpu: false, name: 'cpu-preview', expectBackend: 'cpu', expectText: /^CPU fallback: .+/,
  })],
]);
server.close();
process.exit(failed ? 1 : 0);
