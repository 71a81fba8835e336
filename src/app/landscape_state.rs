//! What a landscape view shows: its shape (a line, a plane, a trajectory map) as it fills in,
//! how far it is, how to draw it and its numbers as CSV. The page's state holds it; the
//! landscape card (`landscape`) computes and shows it.

use super::charts::RUN_COLORS;
use super::landscape_draw::{PathStyle, draw_line, draw_map, draw_plane};
use crate::landscape::map::PlaneMap;

#[derive(Clone, Debug, PartialEq)]
pub enum Shape {
    /// Losses along theta(c) = (1 - c) A + c B, one series per mask.
    Line {
        coeffs: Vec<f64>,
        series: Vec<(String, Vec<f64>)>,
    },
    /// losses[row][col] for coordinates (coords[col], coords[row]); rows fill in as computed.
    Plane {
        coords: Vec<f64>,
        losses: Vec<Vec<f64>>,
        center: f64,
    },
    /// The loss on a trajectory plane with the paths (None while the PCA is computed);
    /// per path its legend label and run colour.
    Map {
        map: Option<PlaneMap>,
        styles: Vec<(String, usize)>,
        start_label: String,
    },
}

#[derive(Clone, Debug, PartialEq)]
pub struct Landscape {
    pub title: String,
    pub shape: Shape,
    pub done: usize,
    pub total: usize,
    /// What `done` counts: points, rows, snapshots, grid points.
    pub unit: &'static str,
    pub millis: f64,
}

impl Landscape {
    pub fn finished(&self) -> bool {
        self.done == self.total && !matches!(self.shape, Shape::Map { map: None, .. })
    }

    /// Draws it on `canvas`.
    pub fn draw(&self, canvas: web_sys::HtmlCanvasElement) {
        let _ = match &self.shape {
            Shape::Line { coeffs, series } => draw_line(
                canvas,
                &coeffs[..series[0].1.len().min(coeffs.len())],
                series,
            ),
            Shape::Plane { coords, losses, .. } => draw_plane(canvas, coords, losses),
            Shape::Map {
                map: Some(map),
                styles,
                start_label,
            } => {
                let styles: Vec<PathStyle> = styles
                    .iter()
                    .map(|(label, k)| PathStyle {
                        color: RUN_COLORS[k % RUN_COLORS.len()],
                        label: label.clone(),
                    })
                    .collect();
                draw_map(canvas, map, &styles, start_label)
            }
            Shape::Map { map: None, .. } => Ok(()),
        };
    }

    /// The numbers behind it as CSV (a map: the same bytes as the CLI's).
    pub fn csv(&self) -> String {
        to_csv(self)
    }

    /// One line under a map: what its axes explain and what the marks are.
    pub fn caption(&self) -> Option<String> {
        let Shape::Map { map: Some(m), .. } = &self.shape else {
            return None;
        };
        Some(format!(
            "PC1 explains {:.1}% and PC2 {:.1}% of the movement (squared distance from the origin of the plane). \
             Red points: mask updates; ring: the start; squares: the ends.",
            100.0 * m.explained[0],
            100.0 * m.explained[1]
        ))
    }
}

fn to_csv(l: &Landscape) -> String {
    match &l.shape {
        Shape::Line { coeffs, series } => {
            let mut s = format!(
                "c,{}\n",
                series
                    .iter()
                    .map(|x| x.0.replace(' ', "_"))
                    .collect::<Vec<_>>()
                    .join(",")
            );
            for (i, c) in coeffs.iter().enumerate() {
                let vals: Vec<String> = series
                    .iter()
                    .map(|x| x.1.get(i).map_or(String::new(), |v| format!("{v:.6}")))
                    .collect();
                s.push_str(&format!("{c},{}\n", vals.join(",")));
            }
            s
        }
        Shape::Map { map, .. } => map.as_ref().map_or_else(String::new, PlaneMap::csv),
        Shape::Plane { coords, losses, .. } => {
            let mut s = String::from("x,y,loss\n");
            for (r, row) in losses.iter().enumerate() {
                for (c, v) in row.iter().enumerate() {
                    s.push_str(&format!("{},{},{v:.6}\n", coords[c], coords[r]));
                }
            }
            s
        }
    }
}
