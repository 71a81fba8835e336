//! The training loop against RIGL.md, on real MNIST: update timing, constant sparsity,
//! zero-initialised growth, SNIP, pruning, determinism, and that training learns.

mod common;

use riglab::backend::block_on;
use riglab::config::Config;
use riglab::cpu::CpuBackend;
use riglab::sparse::Method;
use riglab::train::{Event, MaskUpdate, Trainer};

fn config(query: &str) -> Config {
    Config::parse_strict(query).unwrap()
}

/// Runs to the end; returns every event.
fn run(trainer: &mut Trainer<CpuBackend>) -> Vec<Event> {
    let mut events = Vec::new();
    while !trainer.done() {
        block_on(trainer.step(&mut events));
    }
    events
}

fn updates(events: &[Event]) -> Vec<&MaskUpdate> {
    events
        .iter()
        .filter_map(|e| {
            if let Event::MaskUpdate(m) = e {
                Some(m)
            } else {
                None
            }
        })
        .collect()
}

fn losses(events: &[Event]) -> Vec<f64> {
    events
        .iter()
        .filter_map(|e| {
            if let Event::Step(s) = e {
                Some(s.loss)
            } else {
                None
            }
        })
        .collect()
}

#[test]
fn rigl_updates_at_the_scheduled_steps_and_keeps_every_layer_sparsity() {
    let (train, test) = common::mnist(1000, 200);
    // dt = 20, tend = 0.75 of 120 steps -> T_end = 90: updates at 0, 20, 40, 60, 80.
    let c =
        config("method=rigl&dist=erk&sparsity=0.9&dt=20&steps=120&batch=32&eval_every=120&seed=3");
    let mut t = Trainer::cpu(&c, train, test).unwrap();
    let initial: Vec<usize> = t.backend.net.params.iter().map(|p| p.active()).collect();
    let events = run(&mut t);
    let ups = updates(&events);
    let mut steps: Vec<usize> = ups.iter().map(|u| u.step).collect();
    steps.dedup();
    assert_eq!(steps, [0, 20, 40, 60, 80]);
    // ERK at 0.9 keeps fc3 dense: only fc1 and fc2 are updated.
    assert!(ups.iter().all(|u| u.layer < 2));
    for u in &ups {
        assert_eq!(
            u.active, initial[u.layer],
            "active count changed at step {}",
            u.step
        );
        assert_eq!(u.dropped.len(), u.grown.len());
        // RIGL.md: cosine drop fraction alpha/2 (1 + cos(pi t / T_end)).
        let f = 0.15 * (1.0 + (std::f64::consts::PI * u.step as f64 / 90.0).cos());
        assert!((u.drop_fraction - f).abs() < 1e-12);
        // At most floor(f * active) connections change (fewer when some are regrown).
        assert!(u.dropped.len() <= (f * initial[u.layer] as f64) as usize);
    }
    assert!(ups.iter().any(|u| !u.grown.is_empty()));
    for (p, &n) in t.backend.net.params.iter().zip(&initial) {
        assert_eq!(p.mask.iter().filter(|&&m| m).count(), n);
        // Inactive weights are exactly zero.
        assert!(p.weights.iter().zip(&p.mask).all(|(&w, &m)| m || w == 0.0));
    }
}

#[test]
fn grown_connections_start_at_zero_with_zero_momentum() {
    let (train, test) = common::mnist(500, 100);
    // Updates at 0 and 10 (T_end = 15); stop right after the step-10 update.
    let c = config("method=rigl&sparsity=0.95&dt=10&steps=20&tend=0.75&batch=32&eval_every=20");
    let mut t = Trainer::cpu(&c, train, test).unwrap();
    let mut events = Vec::new();
    for _ in 0..=10 {
        events.clear();
        block_on(t.step(&mut events));
    }
    let ups = updates(&events);
    assert!(!ups.is_empty(), "step 10 is an update step");
    for u in ups {
        let p = &t.backend.net.params[u.layer];
        for &g in &u.grown {
            let g = g as usize;
            assert!(p.mask[g]);
            // RIGL.md step 4: on an update step no SGD step follows, so they are still 0.
            assert_eq!((p.weights[g], p.momentum[g]), (0.0, 0.0));
        }
        for &d in &u.dropped {
            assert!(!p.mask[d as usize]);
            assert_eq!(p.weights[d as usize], 0.0);
        }
    }
}

#[test]
fn an_update_step_off_the_schedule_updates_every_masked_layer() {
    let (train, test) = common::mnist(500, 100);
    // dt = 100: the schedule's only update is at step 0.
    let c = config("method=rigl&sparsity=0.9&dt=100&steps=20&batch=32&eval_every=20");
    let mut t = Trainer::cpu(&c, train.clone(), test.clone()).unwrap();
    let mut events = Vec::new();
    block_on(t.step(&mut events));
    block_on(t.step(&mut events));
    events.clear();
    assert!(!t.is_update_step(2));
    block_on(t.update_step(&mut events));
    let ups = updates(&events);
    assert_eq!(
        ups.iter().map(|u| (u.step, u.layer)).collect::<Vec<_>>(),
        [(2, 0), (2, 1)]
    );
    assert!(ups.iter().all(|u| !u.dropped.is_empty()));
    assert!(t.last_mask_update_seconds().is_some_and(|s| s >= 0.0));
    // Static has no drop and grow: a plain step.
    let c = config("method=static&sparsity=0.9&dt=100&steps=20&batch=32&eval_every=20");
    let mut t = Trainer::cpu(&c, train, test).unwrap();
    events.clear();
    block_on(t.update_step(&mut events));
    assert!(updates(&events).is_empty());
    assert_eq!(t.last_mask_update_seconds(), None);
}

#[test]
fn same_seed_gives_bit_identical_losses_and_mask_histories() {
    let (train, test) = common::mnist(1000, 200);
    for method in ["rigl", "set", "snfs"] {
        let c = config(&format!(
            "method={method}&sparsity=0.9&dt=25&steps=100&batch=64&eval_every=50&seed=9"
        ));
        let a = run(&mut Trainer::cpu(&c, train.clone(), test.clone()).unwrap());
        let b = run(&mut Trainer::cpu(&c, train.clone(), test.clone()).unwrap());
        assert_eq!(a, b, "{method}: two runs differ");
        let mut other = c.clone();
        other.seed = 10;
        let d = run(&mut Trainer::cpu(&other, train.clone(), test.clone()).unwrap());
        assert_ne!(losses(&a), losses(&d), "{method}: the seed has no effect");
    }
}

#[test]
fn results_do_not_depend_on_the_thread_count() {
    // Layers big enough that a mask update selects layers side by side, splits a layer's
    // pass into chunks and installs the changes on several threads (over 8192 of them).
    let (train, test) = common::mnist(1000, 200);
    let c = config("method=rigl&sparsity=0.9&dt=10&steps=30&batch=32&eval_every=30&seed=4");
    let run_on = |threads| {
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap()
            .install(|| {
                let mut t = Trainer::cpu(&c, train.clone(), test.clone()).unwrap();
                let events = run(&mut t);
                let weights: Vec<Vec<f32>> = t
                    .backend
                    .net
                    .params
                    .iter()
                    .map(|p| p.weights.clone())
                    .collect();
                (events, weights)
            })
    };
    let (one, w1) = run_on(1);
    assert!(
        updates(&one)
            .iter()
            .any(|u| u.dropped.len() + u.grown.len() > 8192)
    );
    for threads in [2, 3] {
        let (other, w) = run_on(threads);
        assert_eq!(one, other, "{threads} threads: other events");
        let same = w1.iter().zip(&w).all(|(a, b)| {
            a.iter()
                .map(|x| x.to_bits())
                .eq(b.iter().map(|x| x.to_bits()))
        });
        assert!(same, "{threads} threads: other weights");
    }
}

#[test]
fn static_never_changes_its_mask_and_set_changes_it() {
    let (train, test) = common::mnist(500, 100);
    let c = config("method=static&sparsity=0.9&dt=10&steps=40&batch=32&eval_every=40");
    let mut t = Trainer::cpu(&c, train.clone(), test.clone()).unwrap();
    let before: Vec<Vec<bool>> = t
        .backend
        .net
        .params
        .iter()
        .map(|p| p.mask.clone())
        .collect();
    assert!(updates(&run(&mut t)).is_empty());
    assert!(
        t.backend
            .net
            .params
            .iter()
            .zip(&before)
            .all(|(p, m)| &p.mask == m)
    );

    let c = config("method=set&sparsity=0.9&dt=10&steps=40&batch=32&eval_every=40");
    let mut t = Trainer::cpu(&c, train, test).unwrap();
    let ups = run(&mut t);
    assert!(updates(&ups).iter().any(|u| !u.grown.is_empty()));
}

#[test]
fn snip_masks_once_at_step_zero_to_the_target_density() {
    let (train, test) = common::mnist(500, 100);
    let c = config("method=snip&dist=uniform&sparsity=0.9&steps=30&batch=32&eval_every=30");
    let mut t = Trainer::cpu(&c, train, test).unwrap();
    let events = run(&mut t);
    let ups = updates(&events);
    assert_eq!(ups.len(), 3);
    assert!(ups.iter().all(|u| u.step == 0 && u.grown.is_empty()));
    for (p, u) in t.backend.net.params.iter().zip(&ups) {
        let n = p.weights.len();
        // Uniform: exactly floor(0.9 N) zeros.
        assert_eq!(u.active, n - (9 * n) / 10);
        assert_eq!(p.active(), u.active);
    }
}

#[test]
fn pruning_follows_the_cubic_schedule_from_dense_to_sparse() {
    let (train, test) = common::mnist(500, 100);
    // 100 steps, prune from t0 = 10 to t1 = 60 every 10 steps, to 0.9 uniform.
    let c = config(
        "method=prune&dist=uniform&sparsity=0.9&steps=100&prune_start=0.1&prune_end=0.6&prune_every=10&batch=32&eval_every=100",
    );
    let mut t = Trainer::cpu(&c, train, test).unwrap();
    assert!(
        t.backend.net.params.iter().all(|p| p.all_active),
        "pruning starts dense"
    );
    let events = run(&mut t);
    let fc1: Vec<&MaskUpdate> = updates(&events)
        .into_iter()
        .filter(|u| u.layer == 0)
        .collect();
    let n = 784 * 300;
    for u in &fc1 {
        // s_t = 0.9 (1 - (1 - (t - 10) / 50)^3); active = N - floor(s_t N).
        let p = (u.step as f64 - 10.0) / 50.0;
        let s = 0.9 * (1.0 - (1.0 - p).powi(3));
        assert!((u.drop_fraction - s).abs() < 1e-12);
        assert!((u.active as f64 - (n as f64 - (s * n as f64).floor())).abs() <= 1.0);
    }
    let steps: Vec<usize> = fc1.iter().map(|u| u.step).collect();
    assert_eq!(steps, [20, 30, 40, 50, 60], "t = 10 prunes nothing (s = 0)");
    assert_eq!(t.backend.net.params[0].active(), n - (9 * n) / 10);
}

#[test]
fn every_method_learns_mnist() {
    let (train, test) = common::mnist(2000, 500);
    for method in Method::ALL {
        let c = config(&format!(
            "method={}&sparsity=0.9&dt=50&steps=300&batch=64&eval_every=300&lr=0.05",
            method.name()
        ));
        let mut t = Trainer::cpu(&c, train.clone(), test.clone()).unwrap();
        let events = run(&mut t);
        let l = losses(&events);
        let first: f64 = l[..20].iter().sum::<f64>() / 20.0;
        let last: f64 = l[l.len() - 20..].iter().sum::<f64>() / 20.0;
        assert!(
            last < 0.5 * first,
            "{}: loss {first:.3} -> {last:.3}",
            method.name()
        );
        let Some(Event::Eval(e)) = events.last() else {
            panic!("no final evaluation")
        };
        assert!(
            e.test_accuracy > 0.8,
            "{}: test accuracy {}",
            method.name(),
            e.test_accuracy
        );
    }
}

#[test]
fn bad_configurations_are_refused_with_a_reason() {
    let (train, test) = common::mnist(100, 20);
    let c = config("batch=128");
    let err = Trainer::cpu(&c, train.clone(), test.clone()).err().unwrap();
    assert!(err.contains("batch=128"), "{err}");
    let c = config("data=cifar10");
    let err = Trainer::cpu(&c, train, test).err().unwrap();
    assert!(err.contains("cifar10"), "{err}");
}

#[test]
fn the_trainer_says_in_advance_which_steps_may_change_masks() {
    // The page reads the parameters just before such a step (the line view's "before the
    // last mask update"); every mask update must come from a step announced so.
    let (train, test) = common::mnist(500, 100);
    for (query, want) in [
        (
            "method=rigl&dt=20&steps=120&batch=32&eval_every=120",
            vec![0, 20, 40, 60, 80],
        ),
        (
            "method=set&dt=20&steps=60&batch=32&eval_every=60&first_update=dt",
            vec![20, 40],
        ),
        ("method=snip&steps=10&batch=32&eval_every=10", vec![0]),
        (
            "method=prune&steps=100&prune_start=0.1&prune_end=0.6&prune_every=10&batch=32&eval_every=100",
            vec![10, 20, 30, 40, 50, 60],
        ),
        ("method=static&steps=30&batch=32&eval_every=30", vec![]),
    ] {
        let mut t = Trainer::cpu(&config(query), train.clone(), test.clone()).unwrap();
        let mut announced = Vec::new();
        let mut events = Vec::new();
        while !t.done() {
            let step = t.step;
            if t.may_change_masks_at(step) {
                announced.push(step);
            }
            block_on(t.step(&mut events));
            for u in updates(&events) {
                assert!(announced.contains(&u.step), "{query}: update at {}", u.step);
            }
            events.clear();
        }
        assert_eq!(announced, want, "{query}");
    }
}

#[test]
fn augmented_images_are_crops_and_flips_of_the_padded_image() {
    use riglab::cpu::Net;
    use riglab::data::augment::Transform;
    let (train, _) = common::mnist(100, 100);
    for model in ["cnn:4,8,16", "mlp:16"] {
        let net = Net::new(
            &riglab::model::ModelSpec::parse(model).unwrap(),
            train.shape,
            10,
        );
        let mut plain = net.workspace(2);
        let mut aug = net.workspace(2);
        net.load_batch(&mut plain, &train, &[3, 7]);
        let identity = Transform {
            dy: 0,
            dx: 0,
            flip: false,
        };
        net.load_batch_augmented(&mut aug, &train, &[3, 7], &[identity, identity]);
        assert_eq!(plain.acts[0], aug.acts[0], "{model}: no shift, no flip");
        // Sample 1 flipped and shifted down by 2: its pixel (y, x) is the image's
        // (y + 2, 27 - x), reflected at the bottom edge.
        let t = Transform {
            dy: 2,
            dx: 0,
            flip: true,
        };
        net.load_batch_augmented(&mut aug, &train, &[3, 7], &[identity, t]);
        let img = train.image(7);
        let at = |y: usize, x: usize| {
            let p = y * 28 + x;
            if model.starts_with("cnn") {
                aug.acts[0][28 * 28 + p]
            } else {
                aug.acts[0][p * 2 + 1]
            }
        };
        assert_eq!(at(0, 0), f32::from(img[2 * 28 + 27]) / 255.0);
        assert_eq!(at(10, 5), f32::from(img[12 * 28 + 22]) / 255.0);
        // Row 26 + 2 = 28 reflects to 26, row 27 + 2 = 29 to 25.
        assert_eq!(at(27, 0), f32::from(img[25 * 28 + 27]) / 255.0);
        assert_eq!(aug.labels, [train.labels[3], train.labels[7]]);
    }
}

#[test]
fn augmented_training_is_deterministic_and_sees_other_images() {
    let (train, test) = common::mnist(500, 100);
    let run = |q: &str| {
        let mut t = Trainer::cpu(&config(q), train.clone(), test.clone()).unwrap();
        losses(&run(&mut t))
    };
    let q = "model=cnn:4,8,16&method=rigl&steps=20&batch=16&eval_every=20&dt=10";
    let (a, b) = (
        run(&format!("{q}&augment=1")),
        run(&format!("{q}&augment=1")),
    );
    assert_eq!(a, b, "the same seed, the same transforms");
    assert_ne!(a, run(q), "augmented images give other losses");
}
