//! The worker protocol, driven natively as the page and a worker drive it in the browser: a
//! run handed to a session through `Configure` (checkpoint, watch, data sets encoded into one
//! payload), trained there, its progress read back and followed by the page's copy of the
//! trainer, and its state brought home, gives the numbers of the run that never left; a run
//! restarted from a state report goes on bit for bit; bad messages are refused with a reason.

mod common;

use riglab::backend::{AnyBackend, Backend, block_on};
use riglab::checkpoint::{from_bytes, to_bytes};
use riglab::config::Config;
use riglab::cpu::CpuBackend;
use riglab::data::Dataset;
use riglab::events::mask_updates;
use riglab::gpu::GpuBackend;
use riglab::landscape::compute::PlaneSpec;
use riglab::landscape::trajectory::Trajectory;
use riglab::train::{Event, Trainer};
use riglab::worker::landscape::{Job, command, read, run};
use riglab::worker::protocol::{Command, Message, Piece, Report, Stopped, decode};
use riglab::worker::session::{MAX_IN_FLIGHT, Session, configure, mark, plain, read_command};

const QUERY: &str = "method=rigl&sparsity=0.9&dt=20&steps=120&batch=32&eval_every=40&seed=9";

fn direct(
    config: &Config,
    (train, test): (&Dataset, &Dataset),
    steps: usize,
) -> (Trainer<CpuBackend>, Vec<Event>) {
    let mut t = Trainer::cpu(config, train.clone(), test.clone()).unwrap();
    let mut events = Vec::new();
    while t.step < steps && !t.done() {
        block_on(t.step(&mut events));
    }
    (t, events)
}

/// Through the wire: a message's header and payload as the browser would move them.
fn wire(m: Message) -> Message {
    Message {
        run: m.run,
        header: m.header.clone(),
        payload: m.payload.to_vec(),
    }
}

fn session(
    t: &mut Trainer<CpuBackend>,
    config: &Config,
    data: (&Dataset, &Dataset),
    record_every: Option<usize>,
) -> Session<CpuBackend> {
    let mut events = Vec::new();
    let state = block_on(t.snapshot(config, &mut events));
    let msg = wire(configure(
        &to_bytes(&state).unwrap(),
        t.watch(),
        "mnist",
        Some(data),
        (record_every, false),
    ));
    let (cmd, c) = read_command(&msg).unwrap();
    assert!(matches!(cmd, Command::Configure { .. }));
    let mut c = c.unwrap();
    assert_eq!(c.data, "mnist");
    let sets = c.sets.take().expect("the data sets came along");
    assert!(sets.0.images == data.0.images && sets.1.labels == data.1.labels);
    Session::start(c, sets, CpuBackend::new).unwrap()
}

#[test]
fn a_run_trained_through_the_protocol_matches_the_run_that_never_left() {
    let (train, test) = common::mnist(600, 100);
    let config = Config::parse_strict(QUERY).unwrap();
    let (straight, all) = direct(&config, (&train, &test), 120);

    // The page's trainer at step 0 hands the run over and then only follows it.
    let mut shadow = Trainer::cpu(&config, train.clone(), test.clone()).unwrap();
    let mut s = session(&mut shadow, &config, (&train, &test), Some(25));
    let mut got: Vec<Event> = Vec::new();
    let mut points = Vec::new();
    let mut marks = 0;
    let mut weights = None;
    while !s.done() {
        for _ in 0..7 {
            if !s.done() {
                block_on(s.step());
            }
        }
        let msg = wire(block_on(s.progress(true, 1.0)));
        let (report, u) = decode::<Report>(&msg).unwrap();
        let Report::Progress {
            steps,
            points: p,
            marks: m,
            weights: w,
            ..
        } = report
        else {
            panic!("a progress report");
        };
        for st in &steps {
            let updates = mask_updates(&st.events);
            shadow.follow(st.step, &updates);
        }
        for ps in &p {
            points.push((ps.step, point_len(ps, &u)));
        }
        if let Some((before, after)) = m {
            let (b, a) = (before.unpack(&u).unwrap(), after.unpack(&u).unwrap());
            assert_eq!(
                a.step,
                b.step + 1,
                "the marks are the update step's two sides"
            );
            assert_ne!(a.masks, b.masks, "the update changed the masks");
            marks += 1;
        }
        weights = w.map(|w| w.iter().map(|&s| u.floats(s).unwrap()).collect::<Vec<_>>());
        got.extend(steps.into_iter().flat_map(|s| s.events));
    }
    same_events(&got, &all);
    assert_eq!(shadow.step, 120);
    assert_eq!(
        shadow.masks, straight.masks,
        "the follower's masks are the run's"
    );
    for l in 0..straight.layers().len() {
        assert_eq!(shadow.active(l), straight.active(l));
    }
    assert!(
        marks >= 3,
        "mask updates at 20, 40, ... gave marks ({marks})"
    );
    // Points after every evaluation (40, 80, 120), every mask update (at t = 0, 20, ...: 1,
    // 21, ... steps done) and every 25 steps; nothing else.
    let steps: Vec<usize> = points.iter().map(|p| p.0).collect();
    assert_eq!(steps, [1, 21, 25, 40, 41, 50, 61, 75, 80, 81, 100, 120]);
    assert!(points.iter().all(|p| p.1 == points[0].1), "whole points");
    let mut straight_b = straight;
    let want: Vec<Vec<f32>> = (0..2)
        .map(|l| block_on(straight_b.backend.read(l, riglab::backend::Tensor::Weights)))
        .collect();
    assert_eq!(
        weights.unwrap()[..2],
        want[..],
        "the last weights sent are the run's"
    );

    // The state brought home is the straight run's state.
    let msg = wire(block_on(s.state(Some(Stopped::Finished))).unwrap());
    let (report, u) = decode::<Report>(&msg).unwrap();
    let Report::State {
        step,
        state,
        stopped,
        ..
    } = report
    else {
        panic!("a state report");
    };
    assert_eq!((step, stopped), (120, Some(Stopped::Finished)));
    let state = from_bytes(u.bytes(state).unwrap()).unwrap();
    assert_eq!(state.params, block_on(straight_b.backend.read_state()));
    assert_eq!(state.masks, straight_b.masks);
}

/// The events are the same, in order (says where they first differ).
fn same_events(got: &[Event], want: &[Event]) {
    let short = |e: &Event| match e {
        Event::Step(s) => format!("step {} loss {}", s.step, s.loss),
        Event::MaskUpdate(u) => format!("update {} layer {} k {}", u.step, u.layer, u.k),
        Event::Eval(m) => format!("eval {}", m.step),
    };
    if let Some(i) = (0..got.len().max(want.len())).find(|&i| got.get(i) != want.get(i)) {
        panic!(
            "events differ first at {i} of {} / {}: got {:?}, want {:?}",
            got.len(),
            want.len(),
            got.get(i).map(short),
            want.get(i).map(short)
        );
    }
}

/// A point's parameter count (and that it decodes).
fn point_len(
    p: &riglab::worker::protocol::PointSlots,
    u: &riglab::worker::protocol::Unpack,
) -> usize {
    let p = p.unpack(u).unwrap();
    p.weights.iter().chain(&p.biases).map(Vec::len).sum()
}

#[test]
fn a_run_restarted_from_its_last_state_report_goes_on_bit_for_bit() {
    // The path of a run whose worker died: a state report at step 50, a new session from it.
    let (train, test) = common::mnist(600, 100);
    let config = Config::parse_strict(QUERY).unwrap();
    let (mut straight, all) = direct(&config, (&train, &test), 120);

    let mut start = Trainer::cpu(&config, train.clone(), test.clone()).unwrap();
    let mut first = session(&mut start, &config, (&train, &test), None);
    while first.trainer.step < 50 {
        block_on(first.step());
    }
    let mut before = Vec::new();
    let msg = wire(block_on(first.progress(false, 0.0)));
    if let (Report::Progress { steps, .. }, _) = decode::<Report>(&msg).unwrap() {
        before.extend(steps.into_iter().flat_map(|s| s.events));
    }
    let msg = wire(block_on(first.state(None)).unwrap());
    let (Report::State { state, watch, .. }, u) = decode::<Report>(&msg).unwrap() else {
        panic!("a state report");
    };
    let state = from_bytes(u.bytes(state).unwrap()).unwrap();
    drop(first); // the worker dies

    // A worker that holds the data sets already is sent the state alone.
    let m = wire(configure(
        &to_bytes(&state).unwrap(),
        watch,
        "mnist",
        None,
        (None, false),
    ));
    let (_, c) = read_command(&m).unwrap();
    let c = c.unwrap();
    assert!(c.sets.is_none() && c.data == "mnist");
    let mut second = Session::start(c, (train.clone(), test.clone()), CpuBackend::new).unwrap();
    assert_eq!(second.trainer.step, 50);
    while !second.done() {
        block_on(second.step());
    }
    let msg = wire(block_on(second.progress(false, 0.0)));
    if let (Report::Progress { steps, .. }, _) = decode::<Report>(&msg).unwrap() {
        before.extend(steps.into_iter().flat_map(|s| s.events));
    }
    same_events(&before, &all);
    assert_eq!(
        block_on(second.trainer.backend.read_state()),
        block_on(straight.backend.read_state())
    );
}

#[test]
fn the_page_s_trainer_takes_the_worker_s_state_in_place_and_goes_on_bit_for_bit() {
    catches_up(QUERY);
    catches_up("model=cnn:4,8,16&method=set&sparsity=0.8&dt=20&steps=120&batch=16&eval_every=40");
}

/// The pause: the page's trainer, which followed the worker's reports for 60 steps, takes
/// the state it sends (`catch_up`, no new backend) and trains on to the straight run's numbers.
fn catches_up(query: &str) {
    let (train, test) = common::mnist(600, 100);
    let config = Config::parse_strict(query).unwrap();
    let (mut straight, all) = direct(&config, (&train, &test), 120);

    let mut page = Trainer::cpu(&config, train.clone(), test.clone()).unwrap();
    let mut s = session(&mut page, &config, (&train, &test), None);
    let mut got = Vec::new();
    while s.trainer.step < 60 {
        block_on(s.step());
        if s.trainer.step.is_multiple_of(9) || s.trainer.step == 60 {
            let msg = wire(block_on(s.progress(false, 0.0)));
            let (Report::Progress { steps, .. }, _) = decode::<Report>(&msg).unwrap() else {
                panic!("a progress report");
            };
            for st in steps {
                let updates = mask_updates(&st.events);
                page.follow(st.step, &updates);
                got.extend(st.events.clone());
            }
        }
    }
    let msg = wire(block_on(s.state(Some(Stopped::Asked))).unwrap());
    let (Report::State { state, watch, .. }, u) = decode::<Report>(&msg).unwrap() else {
        panic!("a state report");
    };
    let state = from_bytes(u.bytes(state).unwrap()).unwrap();
    assert_eq!(
        page.masks, state.masks,
        "the follower's masks are the worker's"
    );
    page.catch_up(&state).unwrap();
    page.set_watch(watch);
    assert_eq!(page.step, 60);
    while !page.done() {
        block_on(page.step(&mut got));
    }
    same_events(&got, &all);
    assert_eq!(
        block_on(page.backend.read_state()),
        block_on(straight.backend.read_state())
    );
    assert_eq!(page.train_flops(), straight.train_flops());
    // A state of another run's masks is refused, and changes nothing.
    let mut other = state.clone();
    other.masks[0][0] = !other.masks[0][0];
    assert!(page.catch_up(&other).is_err());
    assert_eq!(page.step, 120);
}

#[test]
fn a_diverging_run_stops_in_the_worker_where_it_stops_on_the_page() {
    // lr 40: the loss explodes within a few steps. The watch travels with the run, so a run
    // handed over after its first step still compares with that first step's loss.
    let (train, test) = common::mnist(600, 100);
    let config =
        Config::parse_strict("method=dense&sparsity=0&lr=9&momentum=0.99&steps=100&batch=32")
            .unwrap();
    let (straight, all) = direct(&config, (&train, &test), 100);
    let d = straight.diverged().expect("lr=40 diverges").clone();

    let (mut page, _) = direct(&config, (&train, &test), 1);
    let mut s = session(&mut page, &config, (&train, &test), None);
    while !s.done() {
        block_on(s.step());
    }
    assert_eq!(s.trainer.diverged(), Some(&d));
    assert_eq!(s.trainer.step, straight.step);
    let msg = wire(block_on(s.state(Some(Stopped::Finished))).unwrap());
    let (Report::State { watch, .. }, _) = decode::<Report>(&msg).unwrap() else {
        panic!("a state report");
    };
    assert_eq!(watch.diverged, Some(d));
    assert!(!all.is_empty());
}

#[test]
fn a_non_finite_loss_crosses_the_wire() {
    // JSON has no NaN or infinity: a diverged step's loss, an evaluation's and a
    // landscape's are written as text (`float_text`) and read back as they were.
    use riglab::events::{Divergence, EvalMetrics, StepMetrics};
    use riglab::worker::protocol::StepReport;
    let step = |loss| {
        Event::Step(StepMetrics {
            step: 3,
            loss,
            lr: 0.1,
            train_flops: 1.0,
            train_flops_fraction: 0.5,
        })
    };
    let eval = Event::Eval(EvalMetrics {
        step: 3,
        train_loss: f64::NAN,
        train_accuracy: 0.1,
        test_loss: f64::NEG_INFINITY,
        test_accuracy: 0.1,
    });
    let events = vec![step(f64::INFINITY), step(f64::NAN), eval, step(2.5)];
    let report = Report::Progress {
        steps: vec![StepReport { step: 3, events }],
        points: Vec::new(),
        marks: None,
        weights: None,
        steps_per_s: 1.0,
    };
    let (back, _) = decode::<Report>(&wire(plain(&report))).unwrap();
    // (NaN is not equal to itself: compared through the debug text.)
    assert_eq!(format!("{back:?}"), format!("{report:?}"));
    let watch = riglab::train::Watch {
        first_loss: Some(2.3),
        diverged: Some(Divergence {
            step: 3,
            loss: f64::NAN,
            first_loss: 2.3,
        }),
    };
    let state = Report::State {
        step: 3,
        state: riglab::worker::protocol::Slot { at: 0, len: 0 },
        watch,
        stopped: Some(Stopped::Finished),
    };
    let (back, _) = decode::<Report>(&wire(plain(&state))).unwrap();
    assert_eq!(format!("{back:?}"), format!("{state:?}"));
}

/// Milliseconds since the first call.
fn clock() -> f64 {
    static START: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
    START
        .get_or_init(std::time::Instant::now)
        .elapsed()
        .as_secs_f64()
        * 1000.0
}

#[test]
fn a_step_is_timed_after_the_warm_up_within_its_bounds() {
    use riglab::worker::landscape::{WARM_UP_STEPS, time_steps};
    let (train, test) = common::mnist(600, 100);
    let config = Config::parse_strict(QUERY).unwrap();
    // A clock that moves 4 ms each time it is read, the start at 4. Budget 30 ms: the
    // first step is not checked, the next checks read 8, 12, ..., 32 (28 ms after the start:
    // an 8th step), 36 (over: stop); the end reads 40: 36 ms over 8 steps. With `most` 3 the
    // checks stop at the count without a reading: 8, 12, then the end at 16: 12 ms over 3.
    for (most, steps, ms_per_step) in [(100, 8, 4.5), (3, 3, 4.0), (0, 1, 4.0)] {
        let ticks = std::cell::Cell::new(0.0);
        let fake = || {
            ticks.set(ticks.get() + 4.0);
            ticks.get()
        };
        let (mut t, _) = direct(&config, (&train, &test), 0);
        let (n, ms) = block_on(time_steps(&mut t, (30.0, most), 1e9, &fake)).unwrap();
        assert_eq!((n, ms), (steps, ms_per_step), "most {most}");
        assert_eq!(t.step, WARM_UP_STEPS + steps);
    }
    // A backend whose warm-up ends past `give_up_ms` is not timed further: the first warm-up
    // step reads 8 (4 after the start), the second 12 (8 after it: given up at 6).
    let ticks = std::cell::Cell::new(0.0);
    let fake = || {
        ticks.set(ticks.get() + 4.0);
        ticks.get()
    };
    let (mut t, _) = direct(&config, (&train, &test), 0);
    assert_eq!(
        block_on(time_steps(&mut t, (30.0, 10), 6.0, &fake)),
        Err(8.0)
    );
    assert_eq!(t.step, 2);
    // Through the wire, on a worker's copy of the run: a real time, the run's own steps.
    let (mut page, _) = direct(&config, (&train, &test), 0);
    let mut s = session(&mut page, &config, (&train, &test), None);
    let job = Job::Time {
        budget_ms: 1e9,
        most: 4,
        give_up_ms: None,
    };
    let received = read(&wire(command(&job))).unwrap();
    let piece = block_on(received.run(&mut s.trainer, async |_: &Piece| {}, &clock));
    let Piece::Timed {
        steps: 4,
        ms_per_step,
    } = piece
    else {
        panic!("{piece:?}")
    };
    assert!(ms_per_step > 0.0 && ms_per_step.is_finite());
    assert_eq!(s.trainer.step, WARM_UP_STEPS + 4);
}

#[test]
fn a_landscape_computed_in_a_worker_is_the_one_computed_here() {
    let (train, test) = common::mnist(600, 100);
    let config = Config::parse_strict(QUERY).unwrap();
    let (mut start, _) = direct(&config, (&train, &test), 0);
    let (mut mid, _) = direct(&config, (&train, &test), 25);
    let (mut here, _) = direct(&config, (&train, &test), 50);
    let a = block_on(mark(&mut start));
    let m = block_on(mark(&mut mid));
    let b = block_on(mark(&mut here));
    let mut s = session(&mut here, &config, (&train, &test), None);
    let path = vec![
        (0, false, &a.point),
        (25, true, &m.point),
        (50, false, &b.point),
    ];
    let paths = [("run".to_string(), path)];
    let short = [("run".to_string(), vec![(0, false, &a.point)])];
    let jobs = [
        Job::Line {
            a: &a,
            b: &b,
            points: 8,
            samples: 64,
        },
        Job::Plane(PlaneSpec {
            grid: 3,
            span: 1.0,
            samples: 64,
            dense_directions: false,
            seed: 7,
        }),
        Job::Map {
            paths: &paths,
            origin: &b.point,
            grid: 4,
            samples: 64,
        },
        Job::Map {
            paths: &short,
            origin: &b.point,
            grid: 4,
            samples: 64,
        },
        Job::Evaluate,
    ];
    let mut lasts = Vec::new();
    for job in &jobs {
        let mut mine = Vec::new();
        let last = block_on(run(
            &mut here,
            job,
            async |p: &Piece| mine.push(p.clone()),
            &clock,
        ));
        let received = read(&wire(command(job))).unwrap();
        let mut theirs = Vec::new();
        let report = |p: &Piece, finished| {
            let m = wire(plain(&Report::Landscape {
                piece: p.clone(),
                finished,
            }));
            let (r, _) = decode::<Report>(&m).unwrap();
            let Report::Landscape { piece, .. } = r else {
                panic!("a landscape report")
            };
            piece
        };
        let there = block_on(received.run(
            &mut s.trainer,
            async |p: &Piece| theirs.push(report(p, false)),
            &clock,
        ));
        assert_eq!(theirs, mine);
        assert_eq!(report(&there, true), last);
        lasts.push(last);
    }
    // What each one is: the whole line, plane and map; a path of one point spans no plane.
    let Piece::Line { rows, total: 8 } = &lasts[0] else {
        panic!("{:?}", lasts[0])
    };
    assert_eq!(rows.len(), 8);
    assert_eq!((rows[0].c, rows[1].c, rows[6].c), (-0.2, 0.0, 1.0));
    // At c = 0 with A's own mask: the loss at A (the start) on the first 64 images; at
    // c = 1 with B's: the loss at B.
    let at_a = block_on(start.backend.loss_at(&a.point, Some(&a.masks), 64));
    assert_eq!(rows[1].mask_a.to_bits(), at_a.to_bits(), "{rows:?}");
    let at_b = block_on(start.backend.loss_at(&b.point, Some(&b.masks), 64));
    assert_eq!(rows[6].mask_b.to_bits(), at_b.to_bits(), "{rows:?}");
    let Piece::Plane { plane, total: 3 } = &lasts[1] else {
        panic!("{:?}", lasts[1])
    };
    assert_eq!((plane.losses.len(), plane.losses[2].len()), (3, 3));
    assert_eq!(
        plane.losses[1][1], plane.center_loss,
        "the middle is the centre"
    );
    let Piece::Map {
        map,
        done: 16,
        total: 16,
    } = &lasts[2]
    else {
        panic!("{:?}", lasts[2])
    };
    assert_eq!((map.losses.len(), map.paths[0].points.len()), (4, 3));
    let Piece::Refused { message } = &lasts[3] else {
        panic!("{:?}", lasts[3])
    };
    assert!(message.contains("does not span a plane"), "{message}");
    // A sparse run's path travels as the values its points have: 90% sparse, so well under
    // half of the full parameter vectors (4 bytes a weight and bias, 4 points).
    let full: usize = [&a.point, &m.point, &b.point, &b.point]
        .iter()
        .map(|p| {
            4 * (p
                .weights
                .iter()
                .chain(&p.biases)
                .map(Vec::len)
                .sum::<usize>())
        })
        .sum();
    let sent = command(&jobs[2]).payload.len();
    assert!(sent < full * 2 / 5, "{sent} bytes of {full}");
    // The evaluation: the trainer's own.
    let Piece::Evaluated { metrics } = &lasts[4] else {
        panic!("{:?}", lasts[4])
    };
    assert_eq!(*metrics, block_on(here.evaluate()));
    assert_eq!(metrics.step, 50);
}

#[test]
fn bad_messages_are_refused_with_a_reason() {
    let bad = Message {
        run: 3,
        header: "{\"command\":\"fly\"}".into(),
        payload: Vec::new(),
    };
    let e = read_command(&bad).err().unwrap();
    assert!(e.contains("does not parse"), "{e}");
    // A configure whose slots point past its payload.
    let (train, test) = common::mnist(100, 20);
    let config = Config::parse_strict(QUERY).unwrap();
    let mut t = Trainer::cpu(&config, train.clone(), test.clone()).unwrap();
    let state = block_on(t.snapshot(&config, &mut Vec::new()));
    let mut m = configure(
        &to_bytes(&state).unwrap(),
        t.watch(),
        "mnist",
        Some((&train, &test)),
        (None, false),
    );
    m.payload.truncate(m.payload.len() / 2);
    let e = read_command(&m).err().unwrap();
    assert!(e.contains("has no bytes"), "{e}");
    // The trajectory's rule is the one the worker applies.
    assert!(Trajectory::may_record(7, &[], Some(7)));
    assert!(!Trajectory::may_record(8, &[], Some(7)));
    assert!(!Trajectory::may_record(8, &[], None));
}

mod fuzz {
    use super::*;
    use proptest::prelude::*;

    /// A valid configure (made once).
    fn configure_message() -> Message {
        static M: std::sync::OnceLock<Message> = std::sync::OnceLock::new();
        M.get_or_init(make_configure).clone()
    }

    fn make_configure() -> Message {
        let (train, test) = common::mnist(40, 10);
        let config = Config::parse_strict("steps=20&batch=8").unwrap();
        let mut t = Trainer::cpu(&config, train.clone(), test.clone()).unwrap();
        let state = block_on(t.snapshot(&config, &mut Vec::new()));
        configure(
            &to_bytes(&state).unwrap(),
            t.watch(),
            "mnist",
            Some((&train, &test)),
            (Some(5), false),
        )
    }

    proptest! {
        /// Any header and payload: a command or a reason, never a panic.
        #[test]
        fn random_messages_never_panic(header in ".{0,200}", payload in proptest::collection::vec(any::<u8>(), 0..300)) {
            let m = Message { run: 1, header, payload };
            let _ = read_command(&m);
            let _ = read(&m);
            let _ = decode::<Report>(&m);
        }

        /// A configure cut short or with flipped bytes (header or payload): a reason or a
        /// command that decodes, never a panic.
        #[test]
        fn damaged_configures_never_panic(cut in 0usize..100_000, flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 0..8), in_header in any::<bool>()) {
            let mut m = configure_message();
            if in_header {
                let mut h = m.header.into_bytes();
                for (i, b) in &flips {
                    if !h.is_empty() {
                        let n = h.len();
                        h[i % n] ^= b;
                    }
                }
                m.header = String::from_utf8_lossy(&h).into_owned();
            } else {
                for (i, b) in &flips {
                    let n = m.payload.len();
                    m.payload[i % n] ^= b;
                }
                m.payload.truncate(m.payload.len().saturating_sub(cut % 4096));
            }
            let _ = read_command(&m);
        }
    }
}

/// A run on WebGPU through the protocol (`gpu: true`; Mesa lavapipe here): the session keeps
/// the GPU at most `MAX_IN_FLIGHT` steps ahead of its losses, its reports carry every step's
/// loss once and in order, the final state is the GPU's own, and a configure written without
/// the `gpu` field (an older page) means the CPU.
#[test]
fn a_run_on_the_gpu_in_a_worker_reports_every_loss_once_and_its_state() {
    let Some(ctx) = riglab::gpu::context_for_tests() else {
        return;
    };
    let (train, test) = common::mnist(300, 60);
    let config = Config::parse_strict(QUERY).unwrap();
    let mut page = Trainer::cpu(&config, train.clone(), test.clone()).unwrap();
    let state = block_on(page.snapshot(&config, &mut Vec::new()));
    let bytes = to_bytes(&state).unwrap();
    let msg = wire(configure(
        &bytes,
        page.watch(),
        "mnist",
        Some((&train, &test)),
        (None, true),
    ));
    let (cmd, c) = read_command(&msg).unwrap();
    assert!(matches!(cmd, Command::Configure { gpu: true, .. }));
    let mut c = c.unwrap();
    assert!(c.gpu);
    let sets = c.sets.take().unwrap();
    let mut s = Session::start(c, sets, |setup, tr, te| {
        GpuBackend::with_context(ctx.clone(), setup, tr, te)
            .map(AnyBackend::from)
            .map_err(|e| e.to_string())
    })
    .unwrap();
    assert!(s.trainer.backend.is_gpu());
    let mut steps_seen = Vec::new();
    let mut collect = |msg: Message| {
        if let (Report::Progress { steps, .. }, _) = decode::<Report>(&wire(msg)).unwrap() {
            for st in steps {
                for e in st.events {
                    if let Event::Step(m) = e {
                        assert!(m.loss.is_finite());
                        steps_seen.push(m.step);
                    }
                }
            }
        }
    };
    let mut most_in_flight = 0;
    while !s.done() {
        for _ in 0..10 {
            if !s.done() {
                block_on(s.step());
                most_in_flight = most_in_flight.max(s.trainer.in_flight());
            }
        }
        collect(block_on(s.progress(false, 0.0)));
    }
    assert!(
        most_in_flight <= MAX_IN_FLIGHT,
        "{most_in_flight} steps in flight"
    );
    let report = wire(block_on(s.state(Some(Stopped::Finished))).unwrap());
    // (The state waits for the last losses; they come with the next progress report.)
    collect(block_on(s.progress(false, 0.0)));
    assert_eq!(steps_seen, (0..120).collect::<Vec<_>>());
    let (Report::State { step, state, .. }, u) = decode::<Report>(&report).unwrap() else {
        panic!("a state report");
    };
    assert_eq!(step, 120);
    let state = from_bytes(u.bytes(state).unwrap()).unwrap();
    assert_eq!(state.params, block_on(s.trainer.backend.read_state()));
    assert_eq!(state.masks, s.trainer.masks);

    // Without the field: the CPU.
    let mut old = configure(&bytes, page.watch(), "mnist", None, (None, false));
    let header = old.header.replace(",\"gpu\":false", "");
    assert_ne!(header, old.header, "{}", old.header);
    old.header = header;
    let (cmd, c) = read_command(&old).unwrap();
    assert!(matches!(cmd, Command::Configure { gpu: false, .. }) && !c.unwrap().gpu);
}

/// A timing that gives up: a warm-up step past `give_up_ms` ends it with the reason.
#[test]
fn a_timing_in_a_worker_gives_up_after_a_slow_warm_up() {
    let (train, test) = common::mnist(100, 20);
    let config = Config::parse_strict(QUERY).unwrap();
    let (mut page, _) = direct(&config, (&train, &test), 0);
    let mut s = session(&mut page, &config, (&train, &test), None);
    let job = Job::Time {
        budget_ms: 1e9,
        most: 4,
        give_up_ms: Some(2500.0),
    };
    let ticks = std::cell::Cell::new(0.0);
    let fake = || {
        ticks.set(ticks.get() + 1500.0);
        ticks.get()
    };
    let received = read(&wire(command(&job))).unwrap();
    let piece = block_on(received.run(&mut s.trainer, async |_: &Piece| {}, &fake));
    let Piece::Refused { message } = piece else {
        panic!("{piece:?}")
    };
    assert!(
        message.contains("warm-up took") && message.contains("not timed further"),
        "{message}"
    );
}
