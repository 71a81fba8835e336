//! Checkpoints: a run stopped, written to a safetensors file, read back and resumed goes on
//! bit for bit as the run that never stopped (losses, masks, every tensor); checkpoints that
//! do not fit are refused with a reason; random and truncated bytes never panic the reader.

mod common;

use proptest::prelude::*;
use riglab::backend::{Backend, block_on};
use riglab::checkpoint::{from_bytes, to_bytes};
use riglab::config::Config;
use riglab::cpu::CpuBackend;
use riglab::train::{Event, Trainer};

fn run_to(t: &mut Trainer<CpuBackend>, step: usize) -> Vec<Event> {
    let mut events = Vec::new();
    while t.step < step {
        block_on(t.step(&mut events));
    }
    events
}

fn losses(events: &[Event]) -> Vec<u64> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Step(s) => Some(s.loss.to_bits()),
            _ => None,
        })
        .collect()
}

/// 200 straight steps against 100 steps, a checkpoint file, and 100 more from it.
fn resumes_bit_for_bit(query: &str) {
    let (train, test) = common::mnist(1000, 200);
    let config = Config::parse_strict(query).unwrap();
    let mut straight = Trainer::cpu(&config, train.clone(), test.clone()).unwrap();
    let all = run_to(&mut straight, 200);

    let mut first = Trainer::cpu(&config, train.clone(), test.clone()).unwrap();
    let mut before = run_to(&mut first, 100);
    let state = block_on(first.snapshot(&config, &mut before));
    let bytes = to_bytes(&state).unwrap();
    drop(first);
    let read = from_bytes(&bytes).unwrap();
    assert_eq!(read, state, "{query}: the file holds the state exactly");
    let setup = read.setup(&read.config(None).unwrap()).unwrap();
    let cpu = CpuBackend::new(&setup, train.clone(), test.clone()).unwrap();
    let mut resumed = read.resume(setup, cpu, train.len(), test.len()).unwrap();
    assert_eq!(resumed.step, 100);
    let after = run_to(&mut resumed, 200);

    let mut joined = losses(&before);
    joined.extend(losses(&after));
    assert_eq!(joined, losses(&all), "{query}: step losses");
    assert_eq!(resumed.masks, straight.masks, "{query}: masks");
    let (a, b) = (
        block_on(resumed.backend.read_state()),
        block_on(straight.backend.read_state()),
    );
    assert_eq!(a, b, "{query}: weights, biases, momenta, SNFS average");
    assert_eq!(
        resumed.train_flops(),
        straight.train_flops(),
        "{query}: FLOPs"
    );
    // The mask updates after the resume are those of the straight run from step 100 on.
    let updates = |e: &[Event]| -> Vec<(usize, usize, Vec<u32>, Vec<u32>)> {
        e.iter()
            .filter_map(|e| match e {
                Event::MaskUpdate(u) if u.step >= 100 => {
                    Some((u.step, u.layer, u.dropped.clone(), u.grown.clone()))
                }
                _ => None,
            })
            .collect()
    };
    assert_eq!(updates(&after), updates(&all), "{query}: mask updates");
}

#[test]
fn a_resumed_rigl_run_continues_bit_for_bit() {
    // Updates every 30 steps up to T_end = 150: some before the checkpoint, some after.
    resumes_bit_for_bit("method=rigl&sparsity=0.9&dt=30&steps=200&batch=32&eval_every=50&seed=4");
}

#[test]
fn a_resumed_snfs_run_keeps_its_moving_average() {
    resumes_bit_for_bit("method=snfs&sparsity=0.95&dt=30&steps=200&batch=32&eval_every=200");
}

#[test]
fn a_resumed_set_run_on_a_cnn_continues_bit_for_bit() {
    resumes_bit_for_bit(
        "model=cnn:4,8,16&method=set&sparsity=0.8&dt=40&steps=200&batch=16&eval_every=200",
    );
}

/// The same state gives the same bytes (the metadata's order is fixed), and they read back.
#[test]
fn a_state_always_gives_the_same_file() {
    let bytes = checkpoint_bytes();
    let state = from_bytes(&bytes).unwrap();
    for _ in 0..8 {
        assert!(
            to_bytes(&state).unwrap() == bytes,
            "two files of one state differ"
        );
    }
    assert_eq!(from_bytes(&to_bytes(&state).unwrap()).unwrap(), state);
}

#[test]
fn checkpoints_that_do_not_fit_are_refused_with_a_reason() {
    let (train, test) = common::mnist(300, 100);
    let config = Config::parse_strict("method=rigl&steps=20&batch=32&eval_every=20").unwrap();
    let mut t = Trainer::cpu(&config, train, test).unwrap();
    let mut events = run_to(&mut t, 10);
    let state = block_on(t.snapshot(&config, &mut events));
    let bytes = to_bytes(&state).unwrap();
    // Truncated.
    let e = from_bytes(&bytes[..bytes.len() / 2]).unwrap_err();
    assert!(
        e.contains("damaged") || e.contains("not a safetensors"),
        "{e}"
    );
    // Not safetensors at all.
    let e = from_bytes(b"hello, world: certainly not a checkpoint").unwrap_err();
    assert!(e.contains("not a safetensors checkpoint"), "{e}");
    // Its configuration names another network: the tensors do not fit it.
    let mut other = state.clone();
    other.query = other.query.replace("model=mlp:300,100", "model=mlp:64,32");
    assert_ne!(other.query, state.query);
    let e = other.setup(&other.config(None).unwrap()).unwrap_err();
    assert!(e.contains("mask of fc1"), "{e}");
    // A foreign safetensors file (another program's weights).
    let data = vec![0u8; 16];
    let view =
        safetensors::tensor::TensorView::new(safetensors::Dtype::F32, vec![4], &data).unwrap();
    let foreign = safetensors::serialize([("w", view)], None).unwrap();
    let e = from_bytes(&foreign).unwrap_err();
    assert!(e.contains("not a riglab checkpoint"), "{e}");
    // Other data than it trained on.
    let setup = state.setup(&state.config(None).unwrap()).unwrap();
    let (small, test) = common::mnist(200, 100);
    let cpu = CpuBackend::new(&setup, small.clone(), test.clone()).unwrap();
    let e = state
        .resume(setup, cpu, small.len(), test.len())
        .err()
        .unwrap();
    assert!(e.contains("300 images"), "{e}");
}

proptest! {
    #![proptest_config(common::prop_config(256))]

    /// Arbitrary bytes are refused, never a panic.
    #[test]
    fn random_bytes_are_refused(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        prop_assert!(from_bytes(&bytes).is_err());
    }

    /// Every prefix of a real checkpoint, and a real one with a byte changed, is either
    /// refused or read without a panic.
    #[test]
    fn damaged_checkpoints_never_panic(cut in 0usize..4096, flip in 0usize..4096, bit in 0u8..8) {
        let bytes = checkpoint_bytes();
        let cut = cut * bytes.len() / 4096;
        prop_assert!(from_bytes(&bytes[..cut]).is_err());
        let mut changed = bytes.clone();
        let i = flip * changed.len() / 4096;
        changed[i] ^= 1 << bit;
        let _ = from_bytes(&changed);
    }
}

/// A small real checkpoint (made once).
fn checkpoint_bytes() -> Vec<u8> {
    static BYTES: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
    BYTES
        .get_or_init(|| {
            let (train, test) = common::mnist(100, 50);
            let config =
                Config::parse_strict("model=mlp:8&method=snfs&steps=10&batch=16&eval_every=10")
                    .unwrap();
            let mut t = Trainer::cpu(&config, train, test).unwrap();
            let mut events = run_to(&mut t, 5);
            to_bytes(&block_on(t.snapshot(&config, &mut events))).unwrap()
        })
        .clone()
}
