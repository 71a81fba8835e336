//! The rules of RIGL.md through the code path the trainer really uses (a `Trainer` on the
//! CPU backend, on real MNIST), each against an expectation computed here by hand: the drop
//! count k, what a RigL update step does to kept, regrown, dropped and grown weights, that
//! Static, SET and SNFS take their SGD step before the mask update, one SGD step with
//! momentum and weight decay through the mask, the SNFS moving average and growth by it, and
//! the learning rate at chosen steps of each schedule.

mod common;

use riglab::backend::{Backend, Tensor, block_on};
use riglab::config::Config;
use riglab::cpu::CpuBackend;
use riglab::events::mask_updates;
use riglab::train::{Event, MaskUpdate, Trainer};

/// LeNet-like with small layers: fc1 784x20 (15,680 weights), fc2 20x10 (200), fc3 10x10
/// (100). Uniform at S = 0.9: active 15680 - floor(14112.0) = 1568, 200 - 180 = 20 and
/// 100 - 90 = 10.
const SMALL: &str = "model=mlp:20,10&dist=uniform&sparsity=0.9&batch=32&eval_every=1000";
const ACTIVE: [usize; 3] = [1568, 20, 10];

fn trainer(query: &str) -> Trainer<CpuBackend> {
    let (train, test) = common::mnist(1000, 100);
    Trainer::cpu(&Config::parse_strict(query).unwrap(), train, test).unwrap()
}

/// Per layer: weights, momentum, mask (host copies).
#[derive(Clone, Debug)]
struct Snapshot {
    weights: Vec<Vec<f32>>,
    momentum: Vec<Vec<f32>>,
    masks: Vec<Vec<bool>>,
}

fn snapshot(t: &mut Trainer<CpuBackend>) -> Snapshot {
    let n = t.layers().len();
    let read = |t: &mut Trainer<CpuBackend>, tensor| {
        (0..n)
            .map(|l| block_on(t.backend.read(l, tensor)))
            .collect()
    };
    Snapshot {
        weights: read(t, Tensor::Weights),
        momentum: read(t, Tensor::Momentum),
        masks: t.masks.clone(),
    }
}

fn step(t: &mut Trainer<CpuBackend>) -> Vec<Event> {
    let mut events = Vec::new();
    block_on(t.step(&mut events));
    events
}

fn updates(events: &[Event]) -> Vec<MaskUpdate> {
    mask_updates(events).into_iter().cloned().collect()
}

/// The k active weights of smallest |w| (no ties among trained float weights).
fn smallest(weights: &[f32], mask: &[bool], k: usize) -> Vec<usize> {
    let mut active: Vec<usize> = (0..mask.len()).filter(|&i| mask[i]).collect();
    active.sort_by(|&a, &b| weights[a].abs().total_cmp(&weights[b].abs()));
    let mut d = active[..k].to_vec();
    d.sort_unstable();
    d
}

/// The k weights of `candidates` of largest |score|.
fn largest(score: &[f32], candidates: &[usize], k: usize) -> Vec<usize> {
    let mut c = candidates.to_vec();
    c.sort_by(|&a, &b| score[b].abs().total_cmp(&score[a].abs()));
    let mut g = c[..k].to_vec();
    g.sort_unstable();
    g
}

fn as_usize(v: &[u32]) -> Vec<usize> {
    v.iter().map(|&i| i as usize).collect()
}

/// One SGD step with momentum and weight decay (src/cpu/sgd.rs, PyTorch's form), in the
/// same f32 order: m' = momentum * m + (g + wd * w); w' = w - lr * m'.
fn sgd(w: f32, m: f32, g: f32, lr: f32) -> (f32, f32) {
    let m2 = 0.9f32 * m + g + 5e-4f32 * w;
    (w - lr * m2, m2)
}

#[test]
fn rigl_drops_k_by_magnitude_and_its_update_step_takes_no_sgd_step() {
    // dt = 10, 40 steps, T_end = 30: updates at 0, 10, 20. f(0) = 0.3, f(10) = 0.15 (1 +
    // cos(pi / 3)) = 0.225, f(20) = 0.15 (1 + cos(2 pi / 3)) = 0.075.
    let mut t = trainer(&format!(
        "{SMALL}&method=rigl&dt=10&steps=40&lr_schedule=constant"
    ));
    let want_k = [
        [470, 6, 3], // floor(0.3 * 1568) = floor(470.4), floor(6.0), floor(3.0)
        [352, 4, 2], // floor(352.8), floor(4.5), floor(2.25)
        [117, 1, 0], // floor(117.6), floor(1.5), floor(0.75)
    ];
    let mut regrown_seen = 0;
    for (u_i, at) in [0usize, 10, 20].into_iter().enumerate() {
        while t.step < at {
            step(&mut t);
        }
        let before = snapshot(&mut t);
        let ups = updates(&step(&mut t));
        let after = snapshot(&mut t);
        assert_eq!(ups.len(), 3, "every masked layer is updated at step {at}");
        for u in &ups {
            let l = u.layer;
            assert_eq!(u.k, want_k[u_i][l], "k at step {at}, layer {l}");
            assert_eq!(
                u.active, ACTIVE[l],
                "RIGL.md step 6: the active count is kept"
            );
            // RIGL.md step 2: the k smallest |w| (no SGD on the update step, so the weights
            // the rule saw are those before it); net drops are among them.
            let d = smallest(&before.weights[l], &before.masks[l], u.k);
            let dropped = as_usize(&u.dropped);
            assert!(
                dropped.iter().all(|i| d.binary_search(i).is_ok()),
                "layer {l}"
            );
            let regrown: Vec<usize> = d.iter().copied().filter(|&i| after.masks[l][i]).collect();
            assert_eq!(dropped.len() + regrown.len(), u.k);
            regrown_seen += regrown.len();
            for i in 0..before.masks[l].len() {
                let (w0, m0) = (before.weights[l][i], before.momentum[l][i]);
                let (w1, m1) = (after.weights[l][i], after.momentum[l][i]);
                let grown = u.grown.binary_search(&(i as u32)).is_ok();
                if grown || dropped.binary_search(&i).is_ok() {
                    // Steps 4-5: newly grown start at 0, dropped are masked to 0; both lose
                    // their momentum.
                    assert_eq!((w1, m1), (0.0, 0.0), "layer {l} weight {i}");
                    assert_eq!(after.masks[l][i], grown);
                } else {
                    // Kept, regrown (step 4: keeps value and momentum) and inactive weights:
                    // untouched, bit for bit, since RigL's update step replaces SGD (step 7).
                    assert_eq!(
                        (w1.to_bits(), m1.to_bits()),
                        (w0.to_bits(), m0.to_bits()),
                        "layer {l} weight {i}"
                    );
                }
            }
        }
    }
    assert!(regrown_seen > 0, "some dropped weight was regrown");
}

#[test]
fn static_and_set_take_their_sgd_step_before_the_mask_update() {
    for method in ["static", "set"] {
        // Constant lr 0.1; SET updates at 0 and 10 (T_end = 15).
        let mut t = trainer(&format!(
            "{SMALL}&method={method}&dt=10&steps=20&lr=0.1&lr_schedule=constant"
        ));
        while t.step < 10 {
            step(&mut t);
        }
        let before = snapshot(&mut t);
        let events = step(&mut t);
        let after = snapshot(&mut t);
        let ups = updates(&events);
        assert_eq!(ups.len(), if method == "set" { 3 } else { 0 }, "{method}");
        let lr = events
            .iter()
            .find_map(|e| match e {
                Event::Step(s) => Some(s.lr),
                _ => None,
            })
            .unwrap();
        assert_eq!(lr, 0.1);
        for l in 0..3 {
            // The gradient of this step (of the active weights: not a RigL update step).
            let g = block_on(t.backend.read(l, Tensor::Grad));
            let u = ups.iter().find(|u| u.layer == l);
            let changed = |i: u32| {
                u.is_some_and(|u| {
                    u.dropped.binary_search(&i).is_ok() || u.grown.binary_search(&i).is_ok()
                })
            };
            for (i, &gi) in g.iter().enumerate() {
                let (w0, m0) = (before.weights[l][i], before.momentum[l][i]);
                let (w1, m1) = (after.weights[l][i], after.momentum[l][i]);
                if changed(i as u32) {
                    assert_eq!((w1, m1), (0.0, 0.0));
                } else if before.masks[l][i] {
                    // One SGD step through the mask, taken before the update, whose kept
                    // weights carry it.
                    let (w, m) = sgd(w0, m0, gi, 0.1);
                    assert_eq!(
                        (w1.to_bits(), m1.to_bits()),
                        (w.to_bits(), m.to_bits()),
                        "{method} layer {l} weight {i}"
                    );
                } else {
                    // Inactive weights do not move and stay exactly 0.
                    assert_eq!(
                        (w1, m1, w0),
                        (0.0, 0.0, 0.0),
                        "{method} layer {l} weight {i}"
                    );
                }
            }
        }
    }
}

#[test]
fn snfs_keeps_a_moving_average_of_the_dense_gradient_and_grows_by_it_after_its_sgd_step() {
    // first_update=dt: updates at 10 and 20 only (T_end = 30).
    let mut t = trainer(&format!(
        "{SMALL}&method=snfs&dt=10&steps=40&first_update=dt&lr=0.1&lr_schedule=constant"
    ));
    let n = 3;
    let mut ema: Vec<Vec<f32>> = (0..n)
        .map(|l| vec![0.0; t.layers()[l].num_weights()])
        .collect();
    while t.step < 10 {
        step(&mut t);
        for (l, e) in ema.iter_mut().enumerate() {
            // RIGL.md "SNFS": m = 0.9 m + 0.1 g of the dense gradient, every step (the
            // backend's order: d * m + (1 - d) * g).
            let g = block_on(t.backend.read(l, Tensor::Grad));
            for (m, g) in e.iter_mut().zip(g) {
                *m = 0.9f32 * *m + (1.0 - 0.9f32) * g;
            }
            let got = block_on(t.backend.read(l, Tensor::SnfsEma));
            assert_eq!(got, *e, "layer {l} after step {}", t.step);
        }
    }
    // The update step at 10: the SGD step first, then drop by |w| of the post-step weights and
    // grow by |average| (not by the raw gradient) among the weights not kept.
    let before = snapshot(&mut t);
    let ups = updates(&step(&mut t));
    let after = snapshot(&mut t);
    assert_eq!(ups.len(), 3);
    let mut differs_from_gradient = false;
    for u in &ups {
        let l = u.layer;
        let g = block_on(t.backend.read(l, Tensor::Grad));
        let avg = block_on(t.backend.read(l, Tensor::SnfsEma));
        let (mask0, w0, m0) = (&before.masks[l], &before.weights[l], &before.momentum[l]);
        // The post-step weights, by hand, and the k smallest of them.
        let post: Vec<f32> = (0..w0.len())
            .map(|i| {
                if mask0[i] {
                    sgd(w0[i], m0[i], g[i], 0.1).0
                } else {
                    0.0
                }
            })
            .collect();
        // floor(f(10) * 1568) etc. with f(10) = 0.15 (1 + cos(pi / 3)) = 0.225.
        assert_eq!(u.k, [352, 4, 2][l]);
        let d = smallest(&post, mask0, u.k);
        let kept: Vec<bool> = (0..mask0.len())
            .map(|i| mask0[i] && d.binary_search(&i).is_err())
            .collect();
        let candidates: Vec<usize> = (0..mask0.len()).filter(|&i| !kept[i]).collect();
        let grown_all = largest(&avg, &candidates, u.k);
        let want_grown: Vec<usize> = grown_all
            .iter()
            .copied()
            .filter(|i| d.binary_search(i).is_err())
            .collect();
        let want_dropped: Vec<usize> = d
            .iter()
            .copied()
            .filter(|i| grown_all.binary_search(i).is_err())
            .collect();
        assert_eq!(as_usize(&u.grown), want_grown, "layer {l} grown");
        assert_eq!(as_usize(&u.dropped), want_dropped, "layer {l} dropped");
        differs_from_gradient |= largest(&g, &candidates, u.k) != grown_all;
        // Kept weights carry the SGD step; regrown ones too (they keep value and momentum).
        for i in (0..mask0.len()).filter(|&i| mask0[i] && after.masks[l][i]) {
            assert_eq!(after.weights[l][i], post[i], "layer {l} weight {i}");
        }
    }
    assert!(
        differs_from_gradient,
        "growth by the average must differ from growth by the gradient somewhere"
    );
}

#[test]
fn the_learning_rate_follows_each_schedule_at_chosen_steps() {
    // 40 steps at lr 0.2: cosine 0.1 (1 + cos(pi t / 40)); step x0.1 from t = 20, x0.01
    // from t = 30; constant 0.2.
    let expected = |schedule: &str, t: usize| -> f64 {
        match schedule {
            "cosine" => 0.1 * (1.0 + (std::f64::consts::PI * t as f64 / 40.0).cos()),
            "step" if t >= 30 => 0.2 * 0.01,
            "step" if t >= 20 => 0.2 * 0.1,
            "step" => 0.2,
            _ => 0.2,
        }
    };
    for schedule in ["cosine", "step", "constant"] {
        let mut t = trainer(&format!(
            "{SMALL}&method=static&steps=40&lr=0.2&lr_schedule={schedule}"
        ));
        let mut lrs = Vec::new();
        while !t.done() {
            for e in step(&mut t) {
                if let Event::Step(s) = e {
                    lrs.push((s.step, s.lr));
                }
            }
        }
        for (step, lr) in lrs {
            if [0, 10, 19, 20, 29, 30, 39].contains(&step) {
                let want = expected(schedule, step);
                assert!(
                    (lr - want).abs() < 1e-12,
                    "{schedule} at {step}: {lr} vs {want}"
                );
            }
        }
    }
}
