//! Loss landscapes and the escape demo on real MNIST (RIGL.md "What the paper found").

mod common;

use riglab::backend::{Backend, block_on};
use riglab::config::Config;
use riglab::landscape::Point;
use riglab::landscape::compute::{PlaneSpec, line, plane, trajectory_map};
use riglab::landscape::map::{PlaneMap, Projection, gram_row, path_points};
use riglab::landscape::trajectory::{TRAJECTORY_LIMIT, Trajectory};
use riglab::train::escape::escape;
use riglab::train::record::train_recording;
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
    let rows = block_on(line(
        &mut t.backend,
        (&a, &s.masks),
        (&b, &b_masks),
        29,
        256,
        async |_, _| {},
    ));
    assert_eq!(rows.len(), 29);
    let at = |c: f64| rows.iter().find(|r| r.c == c).unwrap();
    let mut loss = |p: &Point, m: &[Vec<bool>]| block_on(t.backend.loss_at(p, Some(m), 256));
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
    let spec = PlaneSpec {
        grid: 5,
        span: 1.0,
        samples: 256,
        dense_directions: false,
        seed: 7,
    };
    let p = block_on(plane(
        &mut t.backend,
        &center,
        &masks,
        spec,
        async |_, _| {},
    ));
    assert_eq!(p.coords, [-1.0, -0.5, 0.0, 0.5, 1.0]);
    assert_eq!(p.losses[2][2], p.center_loss);
    let direct = block_on(t.backend.loss_at(&center, Some(&masks), 256));
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
    let a = escape(&c, train.clone(), test.clone(), 200, Some(5)).unwrap();
    let b = escape(&c, train, test, 200, Some(5)).unwrap();
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
    // Both paths start at the Static solution, the origin of their PCA plane; only RigL's
    // has mask updates (every dt = 25 steps up to T_end = 150).
    let map = a.map.as_ref().unwrap();
    let (s, r) = (&map.paths[0], &map.paths[1]);
    assert_eq!((s.name.as_str(), r.name.as_str()), ("static", "rigl"));
    for p in [s, r] {
        assert_eq!(
            (p.points[0].step, p.points[0].x, p.points[0].y),
            (0, 0.0, 0.0)
        );
        assert_eq!(p.points.last().unwrap().step, 200);
    }
    assert!(s.points.iter().all(|q| !q.mask_update));
    assert_eq!(r.points.iter().filter(|q| q.mask_update).count(), 6);
    assert_eq!(
        (map.xs.len(), map.losses.len(), map.losses[4].len()),
        (5, 5, 5)
    );
}

/// The loss of the grid cell nearest to (x, y).
fn nearest(map: &PlaneMap, x: f64, y: f64) -> f64 {
    let idx = |v: &[f64], t: f64| {
        (0..v.len())
            .min_by(|&a, &b| (v[a] - t).abs().total_cmp(&(v[b] - t).abs()))
            .unwrap()
    };
    map.losses[idx(&map.ys, y)][idx(&map.xs, x)]
}

#[test]
fn the_trajectory_plane_holds_the_path_from_start_to_end() {
    let query = "method=rigl&sparsity=0.9&steps=120&dt=20&batch=64&eval_every=30";
    let config = Config::parse_strict(query).unwrap();
    let (train, test) = common::mnist(1000, 200);
    let start = Setup::new(&config).unwrap().initial_point();
    let mut t = Trainer::cpu(&config, train, test).unwrap();
    let mut trajectory = Trajectory::new(start.clone(), TRAJECTORY_LIMIT, None);
    train_recording(&mut t, &mut trajectory, |_| {});
    // Evaluations at 30, 60, 90, 120; updates at steps 0, 20, ..., 80 (T_end 0.75 * 120 = 90).
    let steps: Vec<(usize, bool)> = trajectory
        .snapshots()
        .iter()
        .map(|s| (s.step, s.mask_update))
        .collect();
    assert_eq!(steps.iter().filter(|s| !s.1).count(), 5, "{steps:?}");
    assert_eq!(steps.iter().filter(|s| s.1).count(), 5, "{steps:?}");
    assert_eq!(trajectory.snapshots()[0].point, start);
    let end = t.backend.point();
    let paths = [("trajectory".to_string(), trajectory.path_to(t.step, &end))];
    let map = block_on(trajectory_map(
        &mut t.backend,
        &paths,
        &end,
        7,
        256,
        async |_| {},
    ))
    .unwrap();
    let path = &map.paths[0].points;
    assert_eq!(path.len(), 10);
    let (first, last) = (path[0], path[path.len() - 1]);
    assert_eq!((last.step, last.x, last.y), (120, 0.0, 0.0));
    assert!(first.x < 0.0, "the start lies left of the end: {first:?}");
    assert!(
        map.explained[0] >= map.explained[1] && map.explained[0] + map.explained[1] <= 1.0 + 1e-12
    );
    // The grid covers every projected point.
    for q in path {
        assert!(map.xs[0] < q.x && q.x < map.xs[6] && map.ys[0] < q.y && q.y < map.ys[6]);
    }
    // Training went downhill on the plane too: low near the end, high near the start.
    assert!(
        nearest(&map, last.x, last.y) < 0.6 * nearest(&map, first.x, first.y),
        "{map:?}"
    );
    // A grid loss is the loss at origin + x d1 + y d2 under the trajectory's support.
    let points = path_points(&paths);
    let rows: Vec<Vec<f64>> = (0..points.len())
        .map(|i| gram_row(&points, &end, i))
        .collect();
    let p = Projection::new(&paths, &end, &rows, 7).unwrap();
    let q = p.grid_point(&end, 2, 5);
    let direct = block_on(t.backend.loss_at(&q, Some(&p.masks), 256));
    assert_eq!(map.losses[2][5], direct);
}
