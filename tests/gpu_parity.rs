//! The GPU backend against the CPU backend (the reference), natively on whatever adapter wgpu
//! finds (Mesa lavapipe where there is no GPU): whole training steps (forward, loss, backward
//! with masked and dense gradients, the SNFS average, SGD, mask resets) for the MLP and a
//! small CNN, with fully connected layers and convolutions on the sparse path (active
//! weights only) and on the dense one; evaluation and `loss_at`; loss read-back; a 200-step RigL run and a pruning
//! run (which moves layers from the dense to the sparse path) with `Trainer<GpuBackend>` and
//! `Trainer<CpuBackend>` from the same `Setup`. The sparse kernels alone are compared with
//! the CPU in src/gpu/tests/layers.rs.
//!
//! Without an adapter these tests fail and say how to install one, unless RIGLAB_SKIP_GPU=1.

mod common;

use riglab::backend::{Backend, StepOptions, Tensor, block_on};
use riglab::config::Config;
use riglab::cpu::CpuBackend;
use riglab::data::Dataset;
use riglab::events::mask_updates;
use riglab::gpu::{
    CONV_SPARSE_BELOW_DENSITY, GpuBackend, SMALL_LAYER_WEIGHTS, SPARSE_BELOW_DENSITY,
    context_for_tests,
};
use riglab::model::Point;
use riglab::train::{Event, Setup, Trainer};

/// Largest |gpu - cpu| over the largest |cpu| of a tensor, for one step (kernels alone agree
/// to ~1e-6; a step chains several).
const STEP_TOLERANCE: f32 = 1e-4;
/// Largest difference of a step's mean loss between the backends over a whole run.
const LOSS_TOLERANCE: f64 = 1e-4;

fn gpu(setup: &Setup, train: Dataset, test: Dataset) -> Option<GpuBackend> {
    let ctx = context_for_tests()?;
    Some(GpuBackend::with_context(ctx, setup, train, test).expect("a GPU backend"))
}

fn relative_error(gpu: &[f32], cpu: &[f32]) -> f32 {
    assert_eq!(gpu.len(), cpu.len());
    let scale = cpu.iter().fold(0f32, |m, v| m.max(v.abs())).max(1e-30);
    gpu.iter()
        .zip(cpu)
        .fold(0f32, |m, (g, c)| m.max((g - c).abs()))
        / scale
}

fn assert_close(what: &str, gpu: &[f32], cpu: &[f32], tolerance: f32) {
    let e = relative_error(gpu, cpu);
    assert!(e <= tolerance, "{what}: relative error {e} > {tolerance}");
}

fn masked(v: &[f32], mask: &[bool]) -> Vec<f32> {
    v.iter()
        .zip(mask)
        .map(|(&x, &m)| if m { x } else { 0.0 })
        .collect()
}

/// Steps of every kind on both backends; every tensor compared after each.
fn step_parity(query: &str, n_train: usize) {
    let (train, test) = common::mnist(n_train, 100);
    let c = Config::parse_strict(query).unwrap();
    let setup = Setup::new(&c).unwrap();
    let Some(mut g) = gpu(&setup, train.clone(), test.clone()) else {
        return;
    };
    let mut cpu = CpuBackend::new(&setup, train, test).unwrap();
    let mut masks = setup.masks.clone();
    // Fully connected layers below the threshold, or small, take the sparse path, masked
    // convolutions below theirs too, the others the dense one.
    for (l, (shape, mask)) in setup.exp.layers().iter().zip(&masks).enumerate() {
        let density = mask.iter().filter(|&&m| m).count() as f64 / mask.len() as f64;
        let fc = shape.kind == riglab::sparse::LayerKind::Dense;
        let small = mask.len() <= SMALL_LAYER_WEIGHTS;
        let masked = setup.exp.densities[l] < 1.0;
        let want = if fc {
            density < SPARSE_BELOW_DENSITY || small
        } else {
            masked && density < CONV_SPARSE_BELOW_DENSITY
        };
        assert_eq!(
            g.computes_sparse(l),
            want,
            "{query}: layer {l} at density {density}"
        );
    }
    // With augment=1 in the query: each step's images transformed, by a seed per step.
    let augment = c.augments().then_some(0x5EED);
    let sgd = |dense_grad, sgd, snfs_decay| StepOptions {
        lr: 0.1,
        momentum: 0.9,
        wd: 5e-4,
        dense_grad,
        sgd,
        snfs_decay,
        augment,
    };
    // A RigL update step (dense gradient, no SGD), plain sparse steps, an SNFS step.
    let steps = [
        sgd(true, false, None),
        sgd(false, true, None),
        sgd(true, true, Some(0.9)),
        sgd(false, true, None),
    ];
    for (t, o) in steps.iter().enumerate() {
        let batch: Vec<u32> = (0..c.batch as u32)
            .map(|i| (i * 7 + t as u32 * 13) % n_train as u32)
            .collect();
        g.train_step(&batch, o);
        cpu.train_step(&batch, o);
        let (lg, lc) = (
            block_on(g.take_losses(true)),
            block_on(cpu.take_losses(true)),
        );
        assert_eq!(lg.len(), 1, "one loss per step");
        let what = format!("{query}, step {t} ({o:?})");
        assert!(
            ((lg[0] - lc[0]) / lc[0]).abs() < 1e-5,
            "{what}: loss {} vs {}",
            lg[0],
            lc[0]
        );
        for (l, mask) in masks.iter().enumerate() {
            let p = &cpu.net.params[l];
            let read = |g: &mut GpuBackend, t| block_on(g.read(l, t));
            let w = format!("{what}, layer {l}");
            assert_close(
                &format!("{w} weights"),
                &read(&mut g, Tensor::Weights),
                &p.weights,
                STEP_TOLERANCE,
            );
            assert_close(
                &format!("{w} momentum"),
                &read(&mut g, Tensor::Momentum),
                &p.momentum,
                STEP_TOLERANCE,
            );
            assert_close(
                &format!("{w} bias"),
                &block_on(g.read(l, Tensor::Bias)),
                &p.bias,
                STEP_TOLERANCE,
            );
            assert_close(
                &format!("{w} bias momentum"),
                &block_on(g.read(l, Tensor::BiasMomentum)),
                &p.bias_momentum,
                STEP_TOLERANCE,
            );
            let grad = read(&mut g, Tensor::Grad);
            if o.dense_grad {
                assert_close(
                    &format!("{w} dense gradient"),
                    &grad,
                    &p.grad,
                    STEP_TOLERANCE,
                );
            } else {
                // The CPU computes active entries only; the GPU zeroes the others.
                assert_close(
                    &format!("{w} masked gradient"),
                    &grad,
                    &masked(&p.grad, mask),
                    STEP_TOLERANCE,
                );
                assert!(
                    grad.iter().zip(mask).all(|(&x, &m)| m || x == 0.0),
                    "{w}: inactive gradient"
                );
            }
            if o.snfs_decay.is_some() {
                let ema = block_on(cpu.read(l, Tensor::SnfsEma));
                assert_close(
                    &format!("{w} SNFS average"),
                    &read(&mut g, Tensor::SnfsEma),
                    &ema,
                    STEP_TOLERANCE,
                );
            }
        }
        if t == 1 {
            // A mask update on layer 0: drop the first 5 active weights, grow the first 5
            // inactive ones; both get value and momentum 0 (RIGL.md steps 4-5).
            let m = &mut masks[0];
            let dropped: Vec<u32> = (0..m.len() as u32)
                .filter(|&i| m[i as usize])
                .take(5)
                .collect();
            let grown: Vec<u32> = (0..m.len() as u32)
                .filter(|&i| !m[i as usize])
                .take(5)
                .collect();
            if grown.is_empty() {
                continue;
            }
            dropped.iter().for_each(|&i| m[i as usize] = false);
            grown.iter().for_each(|&i| m[i as usize] = true);
            let reset: Vec<u32> = dropped.iter().chain(&grown).copied().collect();
            g.set_mask(0, m, &reset);
            cpu.set_mask(0, m, &reset);
            let w = block_on(g.read(0, Tensor::Weights));
            let m = block_on(g.read(0, Tensor::Momentum));
            let p = &cpu.net.params[0];
            assert_close("weights after set_mask", &w, &p.weights, STEP_TOLERANCE);
            assert_close("momentum after set_mask", &m, &p.momentum, STEP_TOLERANCE);
            assert!(
                reset
                    .iter()
                    .all(|&i| w[i as usize] == 0.0 && m[i as usize] == 0.0),
                "resets"
            );
        }
    }
}

#[test]
fn training_steps_match_the_cpu_on_the_mlp() {
    step_parity(
        "model=mlp:300,100&method=rigl&dist=uniform&sparsity=0.9&batch=32",
        300,
    );
}

/// Its masked convolutions on the sparse path (density 0.2), then on the dense one with
/// their lists of active weights (density 0.7).
#[test]
fn training_steps_match_the_cpu_on_a_cnn() {
    for sparsity in [0.8, 0.3] {
        step_parity(
            &format!("model=cnn:4,8,16&method=rigl&dist=uniform&sparsity={sparsity}&batch=12"),
            60,
        );
    }
}

/// Odd sizes (no multiple of a workgroup) at densities from nearly empty to just below the
/// threshold, every fully connected layer on the sparse path; batch 13 leaves most of a
/// workgroup's samples idle, batch 130 needs two workgroups along the batch.
#[test]
fn sparse_training_steps_match_the_cpu_at_several_densities() {
    for sparsity in [0.97, 0.8, 0.55] {
        for batch in [13, 130] {
            step_parity(
                &format!(
                    "model=mlp:37,23&method=static&dist=uniform&sparsity={sparsity}&batch={batch}"
                ),
                300,
            );
        }
    }
}

/// Augmented images (crops of the reflection-padded image, flips): the GPU's gather and the
/// CPU's load the same pixels, for a CNN and for an MLP input.
#[test]
fn augmented_training_steps_match_the_cpu() {
    step_parity(
        "model=cnn:4,8,16&method=rigl&dist=uniform&sparsity=0.8&batch=12&augment=1",
        60,
    );
    step_parity("model=mlp:64,32&method=dense&batch=20&augment=1", 100);
}

#[test]
fn dense_training_steps_match_the_cpu() {
    step_parity("model=mlp:64,32&method=dense&batch=20", 100);
}

#[test]
fn evaluation_and_loss_at_match_the_cpu_and_leave_training_alone() {
    let (train, test) = common::mnist(400, 300);
    let c = Config::parse_strict("method=static&sparsity=0.8&batch=50").unwrap();
    let setup = Setup::new(&c).unwrap();
    let Some(mut g) = gpu(&setup, train.clone(), test.clone()) else {
        return;
    };
    let mut cpu = CpuBackend::new(&setup, train, test).unwrap();
    let o = StepOptions {
        lr: 0.1,
        momentum: 0.9,
        wd: 5e-4,
        dense_grad: false,
        sgd: true,
        snfs_decay: None,
        augment: None,
    };
    for t in 0..5u32 {
        let batch: Vec<u32> = (t * 50..t * 50 + 50).collect();
        g.train_step(&batch, &o);
        cpu.train_step(&batch, &o);
    }
    // 300 test images: one full evaluation batch of 300; 350 training images: two batches,
    // the second padded.
    for (split, n) in [
        (riglab::backend::Split::Test, 300),
        (riglab::backend::Split::Train, 350),
        (riglab::backend::Split::Train, 7),
    ] {
        let (lg, ag) = block_on(g.evaluate(split, n));
        let (lc, ac) = block_on(cpu.evaluate(split, n));
        assert!(
            ((lg - lc) / lc).abs() < 1e-5,
            "{split:?} {n}: loss {lg} vs {lc}"
        );
        assert!(
            (ag - ac).abs() <= 1.0 / n as f64,
            "{split:?} {n}: accuracy {ag} vs {ac}"
        );
    }

    let layers = cpu.net.params.len();
    let before: Vec<Vec<f32>> = (0..layers)
        .map(|l| block_on(g.read(l, Tensor::Weights)))
        .collect();
    let before_eval = block_on(g.evaluate(riglab::backend::Split::Test, 300));
    // A point off the training trajectory: scaled weights, shifted biases, other masks.
    let weights: Vec<Vec<f32>> = cpu
        .net
        .params
        .iter()
        .map(|p| p.weights.iter().map(|w| 1.5 * w + 0.01).collect())
        .collect();
    let biases: Vec<Vec<f32>> = cpu
        .net
        .params
        .iter()
        .map(|p| p.bias.iter().map(|b| b - 0.05).collect())
        .collect();
    let masks: Vec<Vec<bool>> = cpu
        .net
        .params
        .iter()
        .map(|p| (0..p.weights.len()).map(|i| i % 3 != 0).collect())
        .collect();
    // One in five weights: the probe's fully connected layers take the sparse path.
    let sparse_masks: Vec<Vec<bool>> = masks
        .iter()
        .map(|m| (0..m.len()).map(|i| i % 5 == 1).collect())
        .collect();
    for (m, n) in [
        (None, 400),
        (Some(masks.as_slice()), 123),
        (Some(sparse_masks.as_slice()), 350),
        (None, 350),
    ] {
        let point = Point {
            weights: weights.clone(),
            biases: biases.clone(),
        };
        let lg = block_on(g.loss_at(&point, m, n));
        let lc = block_on(cpu.loss_at(&point, m, n));
        assert!(
            ((lg - lc) / lc).abs() < 1e-5,
            "loss_at masks {}: {lg} vs {lc}",
            m.map_or(1.0, |m| m[0].iter().filter(|&&on| on).count() as f64
                / m[0].len() as f64)
        );
    }
    // Many points at once (two evaluation batches each: more points than one read-back
    // holds), each as loss_at computes it alone.
    let points: Vec<Point> = (0..40)
        .map(|k| {
            let f = 0.5 + k as f32 / 40.0;
            Point {
                weights: weights
                    .iter()
                    .map(|l| l.iter().map(|w| f * w).collect())
                    .collect(),
                biases: biases.clone(),
            }
        })
        .collect();
    let refs: Vec<&Point> = points.iter().collect();
    let many = block_on(g.losses_at(&refs, Some(&sparse_masks), 350));
    assert_eq!(many.len(), points.len());
    for (k, p) in points.iter().enumerate() {
        let lc = block_on(cpu.loss_at(p, Some(&sparse_masks), 350));
        assert!(
            ((many[k] - lc) / lc).abs() < 1e-5,
            "losses_at point {k}: {} vs {lc}",
            many[k]
        );
    }
    // A landscape plane: the first layer evaluated at the origin and along each direction,
    // combined per point on the GPU (n within one evaluation batch), or point by point (n
    // beyond it); each point as the CPU computes it from the point's parameters.
    let origin = Point {
        weights: weights.clone(),
        biases: biases.clone(),
    };
    let direction = |f: f32| Point {
        weights: weights
            .iter()
            .map(|l| {
                l.iter()
                    .enumerate()
                    .map(|(i, w)| if i % 2 == 0 { f * w } else { -w })
                    .collect()
            })
            .collect(),
        biases: biases
            .iter()
            .map(|l| l.iter().map(|b| f * b + 0.01).collect())
            .collect(),
    };
    let (d1, d2) = (direction(0.3), direction(-0.7));
    let coords = [(0.0, 0.0), (0.5, -0.25), (-1.0, 1.0), (0.2, 0.9)];
    // Each setting twice (the second call reuses the first layer's outputs), then with the
    // directions swapped (it must not).
    let settings = [
        (Some(sparse_masks.as_slice()), 250),
        (None, 250),
        (None, 350),
    ];
    let calls = settings
        .iter()
        .flat_map(|&(m, n)| [(m, n, false), (m, n, false)])
        .chain([(None, 250, false), (None, 250, true)]);
    for (m, n, swapped) in calls {
        let (a, b) = if swapped { (&d2, &d1) } else { (&d1, &d2) };
        let plane = block_on(g.plane_losses((&origin, a, b), &coords, m, n));
        assert_eq!(plane.len(), coords.len());
        for (k, &(x, y)) in coords.iter().enumerate() {
            let p = origin.offset(x, a, y, b);
            let lc = block_on(cpu.loss_at(&p, m, n));
            assert!(
                ((plane[k] - lc) / lc).abs() < 1e-4,
                "plane point {k} (n = {n}, masked {}, swapped {swapped}): {} vs {lc}",
                m.is_some(),
                plane[k]
            );
        }
    }
    let after: Vec<Vec<f32>> = (0..layers)
        .map(|l| block_on(g.read(l, Tensor::Weights)))
        .collect();
    assert_eq!(before, after, "loss_at changed the training weights");
    assert_eq!(
        before_eval,
        block_on(g.evaluate(riglab::backend::Split::Test, 300))
    );
}

#[test]
fn losses_come_back_in_order_without_blocking_even_past_the_ring() {
    let (train, test) = common::mnist(140, 20);
    let c = Config::parse_strict("model=mlp:16&method=dense&batch=20").unwrap();
    let setup = Setup::new(&c).unwrap();
    let Some(mut g) = gpu(&setup, train, test) else {
        return;
    };
    // lr = 0: the loss of step t depends only on its batch, one of 7.
    let o = StepOptions {
        lr: 0.0,
        momentum: 0.0,
        wd: 0.0,
        dense_grad: false,
        sgd: true,
        snfs_decay: None,
        augment: None,
    };
    let mut losses = Vec::new();
    let steps = 1100; // more than the 1024 slots of the ring
    for t in 0..steps {
        let k = (t % 7) as u32;
        let batch: Vec<u32> = (k * 20..k * 20 + 20).collect();
        g.train_step(&batch, &o);
        losses.extend(block_on(g.take_losses(false)));
        assert!(losses.len() <= t + 1);
    }
    let mut tries = 0;
    while losses.len() < steps && tries < 1000 {
        losses.extend(block_on(g.take_losses(false)));
        std::thread::sleep(std::time::Duration::from_millis(1));
        tries += 1;
    }
    losses.extend(block_on(g.take_losses(true)));
    assert_eq!(losses.len(), steps, "a loss for every step");
    for (t, l) in losses.iter().enumerate() {
        assert_eq!(*l, losses[t % 7], "step {t}");
    }
    assert!(block_on(g.take_losses(true)).is_empty());
}

fn run<B: Backend>(t: &mut Trainer<B>) -> Vec<Event> {
    let mut events = Vec::new();
    while !t.done() {
        block_on(t.step(&mut events));
    }
    events
}

fn losses(events: &[Event]) -> Vec<f64> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Step(s) => Some(s.loss),
            _ => None,
        })
        .collect()
}

/// The same run on the GPU backend `g` and on the CPU.
fn twins(
    setup: &Setup,
    g: GpuBackend,
    train: Dataset,
    test: Dataset,
) -> (Trainer<GpuBackend>, Trainer<CpuBackend>) {
    let (n_train, n_test) = (train.len(), test.len());
    let tg = Trainer::new(setup.clone(), g, n_train, n_test);
    let cpu = CpuBackend::new(setup, train, test).unwrap();
    (tg, Trainer::new(setup.clone(), cpu, n_train, n_test))
}

/// Both runs logged `steps` step losses, each within `LOSS_TOLERANCE` of the other's.
fn assert_same_losses(gpu: &[Event], cpu: &[Event], steps: usize) {
    let (lg, lc) = (losses(gpu), losses(cpu));
    assert_eq!((lg.len(), lc.len()), (steps, steps));
    for (t, (a, b)) in lg.iter().zip(&lc).enumerate() {
        assert!(
            (a - b).abs() <= LOSS_TOLERANCE,
            "step {t}: loss {a} (GPU) vs {b} (CPU)"
        );
    }
}

#[test]
fn a_rigl_run_matches_the_cpu() {
    let (train, test) = common::mnist(2000, 500);
    let c = Config::parse_strict(
        "model=mlp:300,100&method=rigl&sparsity=0.9&dt=50&steps=200&batch=64&eval_every=100&seed=5",
    )
    .unwrap();
    let setup = Setup::new(&c).unwrap();
    let Some(g) = gpu(&setup, train.clone(), test.clone()) else {
        return;
    };
    // ERK at 90%: fc1 ~8% dense and fc2 ~23% on the sparse path, and fc3 too (never masked,
    // but small: all its weights in the lists).
    let sparse: Vec<bool> = (0..setup.exp.layers().len())
        .map(|l| g.computes_sparse(l))
        .collect();
    assert_eq!(
        sparse,
        [true, true, true],
        "densities {:?}",
        setup.exp.densities
    );
    let (mut tg, mut tc) = twins(&setup, g, train, test);
    let (eg, ec) = (run(&mut tg), run(&mut tc));
    // On lavapipe the largest difference is ~3e-7: the kernels sum in another order than the
    // CPU, and the difference does not grow over the run.
    assert_same_losses(&eg, &ec, 200);
    // Mask updates: RigL drops the smallest |w| and grows the largest |dense gradient|
    // (RIGL.md). The first drop ranks the initial weights, identical bits on both, so it is
    // identical. Later ranks use values that differ in the last bits, so two weights (or
    // gradients) within ~1e-7 of each other at the cut-off may trade places on another
    // driver: allow at most 1% of the changed indices to differ. On lavapipe every update
    // of this run is identical.
    let (ug, uc) = (mask_updates(&eg), mask_updates(&ec));
    assert_eq!(ug.len(), uc.len(), "number of mask updates");
    assert!(!ug.is_empty());
    assert_eq!(
        ug[0].dropped, uc[0].dropped,
        "the first drop ranks identical weights"
    );
    let differing = |x: &[u32], y: &[u32]| x.iter().filter(|i| y.binary_search(i).is_err()).count();
    for (a, b) in ug.iter().zip(&uc) {
        assert_eq!((a.step, a.layer, a.active), (b.step, b.layer, b.active));
        let changed = b.dropped.len() + b.grown.len();
        let differ = differing(&a.dropped, &b.dropped) + differing(&a.grown, &b.grown);
        assert!(
            differ * 100 <= changed,
            "update at step {} layer {}: {differ} of {changed} changed indices differ",
            a.step,
            a.layer
        );
    }
    // And the evaluations agree.
    let evals = |e: &[Event]| -> Vec<(f64, f64)> {
        e.iter()
            .filter_map(|e| match e {
                Event::Eval(m) => Some((m.test_loss, m.test_accuracy)),
                _ => None,
            })
            .collect()
    };
    for ((lg, ag), (lc, ac)) in evals(&eg).into_iter().zip(evals(&ec)) {
        assert!(
            (lg - lc).abs() <= LOSS_TOLERANCE && (ag - ac).abs() <= 0.002,
            "test loss {lg} vs {lc}, accuracy {ag} vs {ac}"
        );
    }
}

/// Gradual magnitude pruning starts dense (dense products for fc1, which is not small) and
/// crosses the threshold mid-run: fc1 moves to the sparse path at a mask update, and the run
/// still matches the CPU.
#[test]
fn a_pruning_run_moves_to_the_sparse_path_and_matches_the_cpu() {
    let (train, test) = common::mnist(1000, 200);
    let c = Config::parse_strict(
        "model=mlp:64,32&method=prune&dist=uniform&sparsity=0.9&steps=60&prune_start=0.1&prune_end=0.6&prune_every=5&batch=32&eval_every=60&seed=3",
    )
    .unwrap();
    let setup = Setup::new(&c).unwrap();
    let Some(g) = gpu(&setup, train.clone(), test.clone()) else {
        return;
    };
    let layers = setup.exp.layers().len();
    let (mut tg, mut tc) = twins(&setup, g, train, test);
    assert!(!tg.backend.computes_sparse(0), "fc1 dense at first");
    let (eg, ec) = (run(&mut tg), run(&mut tc));
    assert!(
        (0..layers).all(|l| tg.backend.computes_sparse(l)),
        "sparse at 90%"
    );
    assert_same_losses(&eg, &ec, 60);
    for l in 0..layers {
        let (wg, wc) = (
            block_on(tg.backend.read(l, Tensor::Weights)),
            block_on(tc.backend.read(l, Tensor::Weights)),
        );
        assert_close(&format!("layer {l} weights"), &wg, &wc, STEP_TOLERANCE);
    }
}
