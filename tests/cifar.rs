//! The CIFAR-10 CNN under RigL at the defaults: once its loss falls, it stays down (at lr 0.1
//! without augmentation and with a sparse first convolution, RigL's early mask updates used to
//! send it back to chance: docs/results.md). Needs the CIFAR-10 subset in www/data, which
//! `./x data` prepares from ../shared/data; without it the test says so and passes.

use std::path::Path;

use riglab::backend::block_on;
use riglab::config::Config;
use riglab::prepare::load_prepared;
use riglab::train::{Event, Trainer};

#[test]
fn rigl_on_the_cifar_cnn_does_not_fall_back_to_chance() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("www/data");
    let Ok((train, test)) = load_prepared(&dir, "cifar10") else {
        eprintln!(
            "skipping: no CIFAR-10 subset in www/data (./x data prepares it from ../shared/data)"
        );
        return;
    };
    // The defaults for a new user's CIFAR link (2,000 steps of schedule), the first 500 steps.
    let query =
        "data=cifar10&model=cnn:16,32,128&method=rigl&sparsity=0.95&steps=2000&eval_every=2000";
    let mut t = Trainer::cpu(&Config::parse_strict(query).unwrap(), train, test).unwrap();
    let mut losses = Vec::new();
    let mut events = Vec::new();
    while t.step < 500 {
        block_on(t.step(&mut events));
        losses.extend(events.drain(..).filter_map(|e| match e {
            Event::Step(s) => Some(s.loss),
            _ => None,
        }));
    }
    let windows: Vec<f64> = losses
        .chunks(50)
        .map(|w| w.iter().sum::<f64>() / w.len() as f64)
        .collect();
    // Chance is ln 10 = 2.30. It falls within 500 steps ...
    let fell = windows
        .iter()
        .position(|&w| w < 2.05)
        .unwrap_or_else(|| panic!("the loss never fell below 2.05: {windows:.2?}"));
    // ... never returns near chance after that (mask updates at 100, 200, 300, 400) ...
    assert!(
        windows[fell..].iter().all(|&w| w < 2.2),
        "the loss went back towards chance after step {}: {windows:.2?}",
        50 * fell
    );
    // ... and keeps falling.
    assert!(windows[windows.len() - 1] < 2.0, "{windows:.2?}");
}
