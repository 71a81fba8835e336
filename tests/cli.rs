//! The `riglab` binary as a user runs it.

mod common;

use std::process::Output;

use common::riglab;

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn plan_json_matches_the_erk_solve() {
    let o = riglab(&["plan", "method=rigl&dist=erk&sparsity=0.9", "--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    let layers = v["layers"].as_array().unwrap();
    assert_eq!(layers.len(), 3);
    assert_eq!(layers[0]["shape"], serde_json::json!([300, 784]));
    // ERK at 0.9 on LeNet-300-100 makes fc3 dense; the total matches uniform's 26,620
    // active weights up to rounding.
    assert_eq!(layers[2]["density"], 1.0);
    let active = v["totals"]["active"].as_u64().unwrap();
    assert!((26_619..=26_622).contains(&active), "{active}");
    assert_eq!(v["totals"]["params"], 266_200);
    assert_eq!(v["totals"]["flops_fwd_dense"], 532_400.0);
    let frac = v["totals"]["flops_train_fraction"].as_f64().unwrap();
    assert!((0.09..0.11).contains(&frac), "{frac}");
}

#[test]
fn plan_accepts_a_whole_share_url() {
    let o = riglab(&[
        "plan",
        "http://127.0.0.1:8080/?method=static&sparsity=0.5&dist=uniform",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("method=static"));
    assert!(stdout(&o).contains("0.5000"));
}

#[test]
fn bad_queries_are_refused_with_every_problem_named() {
    let o = riglab(&["plan", "sparsity=1.2&method=magic&foo=1"]);
    assert_eq!(o.status.code(), Some(2));
    let e = stderr(&o);
    assert!(e.contains("sparsity=1.2 is outside [0, 0.999]"), "{e}");
    assert!(e.contains("method=magic"), "{e}");
    assert!(e.contains("unknown parameter 'foo'"), "{e}");
}

#[test]
fn train_prints_json_lines_and_a_summary() {
    let dir = small_mnist();
    let out = dir.path().to_str().unwrap();
    let o = riglab(&[
        "train",
        "method=rigl&steps=40&dt=10&batch=32&eval_every=20",
        "--json",
        "--data-dir",
        out,
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let lines: Vec<serde_json::Value> = stdout(&o)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let count = |t: &str| lines.iter().filter(|l| l["type"] == t).count();
    assert_eq!(count("step"), 40);
    assert_eq!(count("eval"), 2);
    // Updates at 0, 10, 20 (T_end = 30) for fc1 and fc2 (ERK keeps fc3 dense).
    assert_eq!(count("mask_update"), 6);
    let summary = lines.last().unwrap();
    assert_eq!(summary["type"], "summary");
    assert!(summary["test_accuracy"].as_f64().unwrap() > 0.3);
    assert!(summary["steps_per_s"].as_f64().unwrap() > 0.0);

    // A set that was not prepared is named, with the fix.
    let o = riglab(&["train", "data=fashion", "--data-dir", out]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("riglab data --sets fashion"),
        "{}",
        stderr(&o)
    );
}

/// A folder holding a 500/100-image MNIST set prepared by `riglab data`.
fn small_mnist() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().to_str().unwrap();
    let o = riglab(&[
        "data", "--sets", "mnist", "--train", "500", "--test", "100", "--out", out,
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    dir
}

#[test]
fn train_on_the_gpu_backend_matches_the_cpu_run() {
    if std::env::var("RIGLAB_SKIP_GPU").is_ok_and(|v| v == "1") {
        eprintln!("skipping the GPU training run (RIGLAB_SKIP_GPU=1)");
        return;
    }
    let dir = small_mnist();
    let out = dir.path().to_str().unwrap();
    let summary = |backend: &str| {
        let o = riglab(&[
            "train",
            "method=rigl&steps=40&dt=10&batch=32&eval_every=20",
            "--json",
            "--backend",
            backend,
            "--data-dir",
            out,
        ]);
        assert!(
            o.status.success(),
            "{backend}: {} (the GPU backend needs a Vulkan driver: apt-get install \
             mesa-vulkan-drivers, or set RIGLAB_SKIP_GPU=1)",
            stderr(&o)
        );
        let lines: Vec<serde_json::Value> = stdout(&o)
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        let count = |t: &str| lines.iter().filter(|l| l["type"] == t).count();
        assert_eq!(
            (count("step"), count("eval"), count("mask_update")),
            (40, 2, 6)
        );
        lines.last().unwrap().clone()
    };
    let (gpu, cpu) = (summary("gpu"), summary("cpu"));
    let loss = |s: &serde_json::Value| s["test_loss"].as_f64().unwrap();
    assert!((loss(&gpu) - loss(&cpu)).abs() < 1e-3, "{gpu} vs {cpu}");
}

#[test]
fn landscape_on_the_trajectory_plane_writes_the_grid_and_the_path() {
    let json = tempfile::NamedTempFile::new().unwrap();
    let o = riglab(&[
        "landscape",
        "steps=60&dt=20&eval_every=20&batch=64",
        "--plane",
        "pca",
        "--grid",
        "5",
        "--samples",
        "128",
        "--json",
        json.path().to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let csv = stdout(&o);
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines[0], "kind,step,x,y,loss,mask_update");
    assert!(lines[1].starts_with("explained,,"));
    assert_eq!(lines.iter().filter(|l| l.starts_with("grid,")).count(), 25);
    // The start, evaluations at 20, 40, 60 and mask updates at 0, 20, 40 (T_end 45).
    let path: Vec<&str> = lines
        .iter()
        .filter(|l| l.starts_with("trajectory,"))
        .copied()
        .collect();
    assert_eq!(path.len(), 7, "{csv}");
    assert_eq!(path[6], "trajectory,60,0.000000,0.000000,,0");
    assert_eq!(path.iter().filter(|l| l.ends_with(",1")).count(), 3);
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(json.path()).unwrap()).unwrap();
    assert_eq!(v["losses"].as_array().unwrap().len(), 5);
    assert_eq!(v["paths"][0]["points"].as_array().unwrap().len(), 7);
    // --json goes only with the PCA plane.
    let o = riglab(&["landscape", "steps=20", "--json", "x.json"]);
    assert_eq!(o.status.code(), Some(2));
}

/// `riglab landscape --backend gpu` trains and evaluates the landscape on the GPU (lavapipe
/// in CI): the line, the random plane and the trajectory plane agree with the CPU's.
#[test]
fn landscapes_on_the_gpu_backend_match_the_cpu() {
    if std::env::var("RIGLAB_SKIP_GPU").is_ok_and(|v| v == "1") {
        eprintln!("skipping the GPU landscapes (RIGLAB_SKIP_GPU=1)");
        return;
    }
    let dir = small_mnist();
    let out = dir.path().to_str().unwrap();
    let csv = |mode: &[&str], backend: &str| {
        let mut args = vec![
            "landscape",
            "method=rigl&steps=40&dt=10&batch=32&eval_every=20",
            "--samples",
            "200",
            "--grid",
            "5",
            "--points",
            "7",
            "--backend",
            backend,
            "--data-dir",
            out,
        ];
        args.extend_from_slice(mode);
        let o = riglab(&args);
        assert!(o.status.success(), "{mode:?} on {backend}: {}", stderr(&o));
        stdout(&o)
    };
    // Every number of the CSVs, row by row: the same rows, losses within 1e-3.
    let numbers = |s: &str| -> Vec<Vec<String>> {
        s.lines()
            .map(|l| l.split(',').map(str::to_string).collect())
            .collect()
    };
    for mode in [
        &["--mode", "interp"][..],
        &["--mode", "plane"],
        &["--plane", "pca"],
    ] {
        let (g, c) = (numbers(&csv(mode, "gpu")), numbers(&csv(mode, "cpu")));
        assert_eq!(g.len(), c.len(), "{mode:?}: rows");
        assert!(g.len() > 5, "{mode:?}: {g:?}");
        for (rg, rc) in g.iter().zip(&c) {
            assert_eq!(rg.len(), rc.len(), "{mode:?}");
            for (a, b) in rg.iter().zip(rc) {
                match (a.parse::<f64>(), b.parse::<f64>()) {
                    (Ok(x), Ok(y)) => assert!(
                        (x - y).abs() <= 1e-3 * y.abs().max(1.0),
                        "{mode:?}: {rg:?} (GPU) vs {rc:?} (CPU)"
                    ),
                    _ => assert_eq!(a, b, "{mode:?}"),
                }
            }
        }
    }
}

/// A grid trained in shards and merged prints the same table as the whole grid trained at
/// once (`compare` with two models and Big-Sparse matching, and `sweep`).
#[test]
fn a_grid_in_shards_merges_into_the_table_of_the_whole_grid() {
    let dir = small_mnist();
    let data = dir.path().to_str().unwrap();
    let base = "steps=30&batch=32&eval_every=30&dt=10";
    let grids: [Vec<&str>; 2] = [
        vec![
            "compare",
            base,
            "--models",
            "mlp:20,mlp:40",
            "--match-params",
            "mlp:20",
            "--methods",
            "static,rigl",
            "--seeds",
            "2",
        ],
        vec![
            "sweep", base, "--dt", "5,10", "--alpha", "0.1,0.5", "--seeds", "2",
        ],
    ];
    for grid in grids {
        let run = |extra: &[&str]| {
            let mut args = grid.clone();
            args.extend_from_slice(&["--data-dir", data]);
            args.extend_from_slice(extra);
            let o = riglab(&args);
            assert!(o.status.success(), "{args:?}: {}", stderr(&o));
            stdout(&o)
        };
        let whole = run(&[]);
        let mut parts = Vec::new();
        for i in 1..=3 {
            let csv = dir.path().join(format!("{}-{i}.csv", grid[0]));
            let csv = csv.to_str().unwrap().to_string();
            run(&["--shard", &format!("{i}/3"), "--csv", &csv]);
            parts.push(csv);
        }
        // In another order than the shards ran.
        parts.reverse();
        let mut args = vec!["merge"];
        args.extend(parts.iter().map(String::as_str));
        let o = riglab(&args);
        assert!(o.status.success(), "{}", stderr(&o));
        assert_eq!(stdout(&o), whole, "{}", grid[0]);
        // A shard alone is a part of the grid, and merge says which runs it lacks.
        let o = riglab(&["merge", &parts[0]]);
        assert!(o.status.success());
        assert!(stderr(&o).contains("runs are missing"), "{}", stderr(&o));
        assert_ne!(stdout(&o), whole);
    }
    // Big-Sparse: mlp:20 has 784*20 + 20*10 = 15,880 weights, mlp:40 31,760: S = 0.5.
    let o = riglab(&[
        "compare",
        "steps=10&batch=32&eval_every=10",
        "--models",
        "mlp:20,mlp:40",
        "--match-params",
        "mlp:20",
        "--methods",
        "rigl",
        "--seeds",
        "1",
        "--data-dir",
        data,
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let t = stdout(&o);
    assert!(t.contains("| mlp:20 | dense | - | 0 |"), "{t}");
    assert!(t.contains("| mlp:40 | rigl | erk | 0.5 |"), "{t}");
    // Files of two different grids do not merge.
    let o = riglab(&[
        "merge",
        dir.path().join("compare-1.csv").to_str().unwrap(),
        dir.path().join("sweep-1.csv").to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("holds another grid"), "{}", stderr(&o));
}

/// `train --checkpoint` writes checkpoints every N steps and at the end; `train --resume`
/// goes on from one to the same numbers as the run that never stopped; a bad file is refused.
#[test]
fn train_resumes_from_its_checkpoints_to_the_same_numbers() {
    let dir = small_mnist();
    let data = dir.path().to_str().unwrap();
    let ck = dir.path().join("ck-{step}.safetensors");
    let query = "method=rigl&steps=60&dt=10&batch=32&eval_every=30";
    let summary = |o: &Output| -> serde_json::Value {
        assert!(o.status.success(), "{}", stderr(o));
        serde_json::from_str(stdout(o).lines().last().unwrap()).unwrap()
    };
    let straight = summary(&riglab(&[
        "train",
        query,
        "--json",
        "--data-dir",
        data,
        "--checkpoint",
        ck.to_str().unwrap(),
        "--checkpoint-every",
        "30",
    ]));
    for step in [30, 60] {
        assert!(dir.path().join(format!("ck-{step}.safetensors")).is_file());
    }
    let at30 = dir.path().join("ck-30.safetensors");
    let resumed = summary(&riglab(&[
        "train",
        "--resume",
        at30.to_str().unwrap(),
        "--json",
        "--data-dir",
        data,
    ]));
    for k in [
        "test_loss",
        "test_accuracy",
        "train_loss",
        "train_flops_fraction",
    ] {
        assert_eq!(resumed[k], straight[k], "{k}");
    }
    // Longer than planned: the schedules follow the new length.
    let longer = riglab(&[
        "train",
        "--resume",
        at30.to_str().unwrap(),
        "--steps",
        "90",
        "--json",
        "--data-dir",
        data,
    ]);
    let steps = stdout(&longer)
        .lines()
        .filter(|l| l.contains("\"type\":\"step\""))
        .count();
    assert_eq!(steps, 60, "steps 30 to 89");
    // A file that is not a checkpoint.
    let bad = dir.path().join("bad.safetensors");
    std::fs::write(&bad, b"not a checkpoint").unwrap();
    let o = riglab(&[
        "train",
        "--resume",
        bad.to_str().unwrap(),
        "--data-dir",
        data,
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("bad.safetensors: not a safetensors checkpoint"),
        "{}",
        stderr(&o)
    );
}

/// A diverging run stops with a message naming the cause and exit code 3; in a grid its row
/// says "diverged" and the grid finishes.
#[test]
fn diverging_runs_stop_with_a_reason_and_grids_go_on() {
    let dir = small_mnist();
    let data = dir.path().to_str().unwrap();
    let bad = "lr=10&momentum=0.99&steps=60&batch=32&eval_every=60";
    let o = riglab(&["train", bad, "--json", "--data-dir", data]);
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    let e = stderr(&o);
    assert!(
        e.contains("diverged at step") && e.contains("try lr=5"),
        "{e}"
    );
    assert!(
        stdout(&o)
            .lines()
            .last()
            .unwrap()
            .contains("\"type\":\"diverged\"")
    );
    let o = riglab(&[
        "compare",
        "steps=60&batch=32&eval_every=60&momentum=0.99&lr=10",
        "--methods",
        "static,rigl",
        "--sparsities",
        "0.9",
        "--seeds",
        "1",
        "--data-dir",
        data,
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let t = stdout(&o);
    assert_eq!(t.matches("(1 of 1: diverged at step").count(), 2, "{t}");
    let o2 = riglab(&[
        "sweep",
        "steps=60&batch=32&eval_every=60&lr=10&momentum=0.99",
        "--dt",
        "20",
        "--alpha",
        "0.3",
        "--seeds",
        "1",
        "--data-dir",
        data,
    ]);
    assert!(o2.status.success(), "{}", stderr(&o2));
    assert!(
        stdout(&o2).contains("(1 of 1: diverged at step"),
        "{}",
        stdout(&o2)
    );
}
