//! Loss landscapes and the escape demo on real MNIST (RIGL.md "What the paper found").

mod common;

use riglab::backend::block_on;
use riglab::config::Config;
use riglab::landscape::Point;
use riglab::train::escape::escape;
use riglab::train::landscape_run::{interpolate, plane};
use riglab::train::{Event, Setup, Trainer};

fn trained(query: &str) -> Trainer<riglab::cpu::CpuBackend> {
    let (train, test) = common::mnist(1000, 200);
    let mut t = Trainer::cpu(&Config::parse_strict(query).unwrap(), train, test).unwrap();
    let mut events: Vec<Event> = Vec::new();
    while !t.done() {
        block_on(t.step(&mut events));
    }
    t
}

#[test]
fn interpolation_endpoints_reproduce_the_snapshots_losses_exactly() {
    let config = "method=rigl&sparsity=0.9&steps=60&dt=20&batch=64&eval_every=60";
    let mut t = trained(config);
    let b = t.backend.point();
    let b_masks = t.masks.clone();
    let s = Setup::new(&Config::parse_strict(config).unwrap()).unwrap();
    let a = Point {
        weights: s.weights,
        biases: b.biases.iter().map(|x| vec![0.0; x.len()]).collect(),
    };
    let rows = interpolate(
        &mut t.backend,
        (&a, &s.masks),
        (&b, &b_masks),
        29,
        256,
        |_, _| {},
    );
    assert_eq!(rows.len(), 29);
    let at = |c: f64| rows.iter().find(|r| r.c == c).unwrap();
    let mut loss = |p: &Point, m: &[Vec<bool>]| {
        block_on(t.backend.loss_at(&p.weights, &p.biases, Some(m), 256))
    };
    assert_eq!(at(0.0).mask_a, loss(&a, &s.masks));
    assert_eq!(at(1.0).mask_b, loss(&b, &b_masks));
    // The trained end is better than the initial point in its own subspace.
    assert!(at(1.0).mask_b < 0.5 * at(0.0).mask_a, "{rows:?}");
}

#[test]
fn the_plane_is_centred_on_the_current_loss() {
    let mut t = trained("method=rigl&sparsity=0.9&steps=60&dt=20&batch=64&eval_every=60");
    let center = t.backend.point();
    let masks = t.masks.clone();
    let rows: Vec<usize> = t.layers.iter().map(|l| l.n_out).collect();
    let p = plane(
        &mut t.backend,
        &center,
        &masks,
        &rows,
        5,
        1.0,
        256,
        false,
        7,
        |_, _| {},
    );
    assert_eq!(p.coords, [-1.0, -0.5, 0.0, 0.5, 1.0]);
    assert_eq!(p.losses[2][2], p.center_loss);
    let direct = block_on(
        t.backend
            .loss_at(&center.weights, &center.biases, Some(&masks), 256),
    );
    assert_eq!(p.center_loss, direct);
    // Moving a whole filter-normalised step away raises the loss somewhere on the border.
    let border = [
        p.losses[0][0],
        p.losses[0][4],
        p.losses[4][0],
        p.losses[4][4],
    ];
    assert!(border.iter().any(|&l| l > p.center_loss), "{:?}", p.losses);
}

#[test]
fn the_escape_demo_is_deterministic_and_rigl_gets_lower() {
    let (train, test) = common::mnist(2000, 200);
    let c = Config::parse_strict("method=static&sparsity=0.98&lr=0.1&lr_schedule=constant&steps=300&batch=64&dt=25&eval_every=300").unwrap();
    let a = escape(&c, train.clone(), test.clone(), 200).unwrap();
    let b = escape(&c, train, test, 200).unwrap();
    assert_eq!(a, b, "same seed, same numbers");
    assert_eq!(a.rigl_run.losses.len(), 200);
    assert!(a.rigl_run.mask_updates > 0 && a.static_run.mask_updates == 0);
    // Both continuations start from the same state on the same data: their first losses agree.
    assert_eq!(a.static_run.losses[0].1, a.rigl_run.losses[0].1);
    assert!(
        a.rigl_run.train_loss < a.static_run.train_loss,
        "{}",
        a.summary()
    );
}
