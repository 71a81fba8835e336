//! Views of the masks: one image per layer with drop/grow flashes, the per-input-pixel
//! connection heatmap (the paper's Figure 7) and density bars.

use wasm_bindgen::{Clamped, JsCast};
use web_sys::{CanvasRenderingContext2d, HtmlCanvasElement, ImageData};

use super::lab::{FLASH_MS, Flash};

/// Largest mask image drawn, in blocks: bigger layers are downsampled.
const MAX_W: usize = 392;
const MAX_H: usize = 160;
const DARK: [f32; 3] = [17.0, 24.0, 39.0];
const ACTIVE: [f32; 3] = [45.0, 212.0, 191.0];
pub const DROP: [f32; 3] = [229.0, 72.0, 77.0];
pub const GROW: [f32; 3] = [74.0, 222.0, 128.0];
/// The colour-blind-safe pair (palette=cb): orange and blue (Okabe-Ito).
pub const DROP_CB: [f32; 3] = [230.0, 159.0, 0.0];
pub const GROW_CB: [f32; 3] = [86.0, 180.0, 233.0];

fn put(canvas: &HtmlCanvasElement, w: usize, h: usize, rgba: &[u8]) {
    if canvas.width() != w as u32 || canvas.height() != h as u32 {
        canvas.set_width(w as u32);
        canvas.set_height(h as u32);
    }
    let Some(ctx) = canvas
        .get_context("2d")
        .ok()
        .flatten()
        .and_then(|c| c.dyn_into::<CanvasRenderingContext2d>().ok())
    else {
        return;
    };
    if let Ok(data) = ImageData::new_with_u8_clamped_array_and_sh(Clamped(rgba), w as u32, h as u32)
    {
        let _ = ctx.put_image_data(&data, 0.0, 0.0);
    }
}

fn mix(a: [f32; 3], b: [f32; 3], t: f32) -> [f32; 3] {
    [
        a[0] + (b[0] - a[0]) * t,
        a[1] + (b[1] - a[1]) * t,
        a[2] + (b[2] - a[2]) * t,
    ]
}

/// How a `rows x cols` weight matrix maps to image pixels: each pixel is a `bh x bw` block.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Blocks {
    pub bw: usize,
    pub bh: usize,
    pub w: usize,
    pub h: usize,
}

impl Blocks {
    pub fn new(rows: usize, cols: usize) -> Self {
        let bw = cols.div_ceil(MAX_W).max(1);
        let bh = rows.div_ceil(MAX_H).max(1);
        Self {
            bw,
            bh,
            w: cols.div_ceil(bw),
            h: rows.div_ceil(bh),
        }
    }

    /// "each pixel = 2 x 2 weights", or "one pixel per weight".
    pub fn describe(&self) -> String {
        if self.bw == 1 && self.bh == 1 {
            "one pixel per weight".into()
        } else {
            format!("each pixel averages {} x {} weights", self.bh, self.bw)
        }
    }
}

/// A layer's weight matrix as pixels: a block's colour mixes dark (inactive) and teal by the
/// share of active weights in it, brighter for larger mean |w| (relative to the layer's
/// typical active |w|). Drops flash red and grows green, fading over FLASH_MS.
pub fn draw_mask(
    canvas: &HtmlCanvasElement,
    (rows, cols): (usize, usize),
    mask: &[bool],
    weights: &[f32],
    flashes: &[&Flash],
    now: f64,
    colour_blind: bool,
) {
    if mask.len() != rows * cols {
        return; // (a view of another run's shape, about to be rebuilt)
    }
    let b = Blocks::new(rows, cols);
    let mut count = vec![0u32; b.w * b.h];
    let mut size = vec![0f32; b.w * b.h];
    let (mut total, mut n) = (0f64, 0usize);
    for r in 0..rows {
        for c in 0..cols {
            let i = r * cols + c;
            if mask[i] {
                let p = (r / b.bh) * b.w + c / b.bw;
                let a = weights.get(i).map_or(0.0, |w| w.abs());
                count[p] += 1;
                size[p] += a;
                total += f64::from(a);
                n += 1;
            }
        }
    }
    let scale = if n > 0 {
        (2.0 * total / n as f64) as f32
    } else {
        1.0
    };
    let per_block = (b.bw * b.bh) as f32;
    let mut colors: Vec<[f32; 3]> = count
        .iter()
        .zip(&size)
        .map(|(&k, &s)| {
            if k == 0 {
                return DARK;
            }
            let bright = 0.3 + 0.7 * (s / k as f32 / scale).min(1.0).sqrt();
            mix(
                DARK,
                [ACTIVE[0] * bright, ACTIVE[1] * bright, ACTIVE[2] * bright],
                (k as f32 / per_block).max(0.35),
            )
        })
        .collect();
    for f in flashes {
        let fade = (1.0 - (now - f.at_ms) / FLASH_MS).clamp(0.0, 1.0) as f32;
        if fade == 0.0 {
            continue;
        }
        let (drop, grow) = if colour_blind {
            (DROP_CB, GROW_CB)
        } else {
            (DROP, GROW)
        };
        for (list, color) in [(&f.dropped, drop), (&f.grown, grow)] {
            for &i in list.iter() {
                let (r, c) = (i as usize / cols, i as usize % cols);
                let p = (r / b.bh) * b.w + c / b.bw;
                colors[p] = mix(colors[p], color, fade);
            }
        }
    }
    let rgba: Vec<u8> = colors
        .iter()
        .flat_map(|c| [c[0] as u8, c[1] as u8, c[2] as u8, 255])
        .collect();
    put(canvas, b.w, b.h, &rgba);
}

/// Figure 7 of the paper: for each input pixel, how many active connections leave it
/// (column counts of the first layer's mask), as a `side x side` heatmap.
pub fn draw_pixel_heatmap(
    canvas: &HtmlCanvasElement,
    rows: usize,
    cols: usize,
    mask: &[bool],
    side: usize,
) -> usize {
    let mut counts = vec![0usize; cols];
    for r in 0..rows {
        for (c, &m) in mask[r * cols..(r + 1) * cols].iter().enumerate() {
            counts[c] += usize::from(m);
        }
    }
    let max = counts.iter().copied().max().unwrap_or(0).max(1);
    // Black through purple and orange to pale yellow.
    const STOPS: [[f32; 3]; 4] = [
        [0.0, 0.0, 4.0],
        [120.0, 28.0, 109.0],
        [237.0, 105.0, 37.0],
        [252.0, 255.0, 164.0],
    ];
    let rgba: Vec<u8> = counts
        .iter()
        .take(side * side)
        .flat_map(|&k| {
            let t = k as f32 / max as f32 * 3.0;
            let i = (t.floor() as usize).min(2);
            let c = mix(STOPS[i], STOPS[i + 1], t - i as f32);
            [c[0] as u8, c[1] as u8, c[2] as u8, 255]
        })
        .collect();
    put(canvas, side, side, &rgba);
    max
}
