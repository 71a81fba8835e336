//! Not tests: per-kernel times for tuning the shaders (a benchmark prints figures and asserts
//! nothing). `cargo test --lib kernel_timings -- --ignored --nocapture --test-threads 1`.

use super::*;
use crate::gpu::ops;
use crate::gpu::program::LayerBuffers;
use std::time::Instant;

#[test]
#[ignore]
fn kernel_timings_dense() {
    let Some(h) = Harness::new() else { return };
    let (b, a, c) = (h.builder(), h.alloc(), h.common());
    let mut rng = rng(1);
    let (n_in, n_out, batch) = (784, 300, 128);
    let w = rand_vec(&mut rng, n_in * n_out);
    let l = LayerBuffers::new(&a, "fc", &w, n_out, &vec![true; w.len()]).unwrap();
    let x = h.upload(&rand_vec(&mut rng, n_in * batch));
    let y = h.zeros(n_out * batch);
    let dy = h.upload(&rand_vec(&mut rng, n_out * batch));
    let dx = h.zeros(n_in * batch);
    let fwd = ops::dense_forward(
        &b,
        &a,
        (n_in, n_out, batch),
        &l.weights,
        &l.bias,
        &x,
        &y,
        &c,
    )
    .unwrap();
    let bwd = ops::dense_backward(
        &b,
        &a,
        (n_in, n_out, batch),
        &l.refs(),
        &x,
        &dy,
        Some(&dx),
        &c,
    )
    .unwrap();
    let sgd = ops::sgd_step(&b, &l.sgd_refs(), &c).unwrap();
    let time = |name: &str, ds: &[&Dispatch]| {
        for _ in 0..2 {
            h.run_refs(ds);
            h.ctx
                .device
                .poll(wgpu::PollType::wait_indefinitely())
                .unwrap();
        }
        let t = Instant::now();
        for _ in 0..10 {
            h.run_refs(ds);
        }
        h.ctx
            .device
            .poll(wgpu::PollType::wait_indefinitely())
            .unwrap();
        eprintln!("{name}: {:.2} ms", t.elapsed().as_secs_f64() * 100.0);
    };
    time("dense_forward 784x300x128", &[&fwd]);
    time("dense_backward_weights", &[&bwd[0]]);
    time("dense_backward_bias", &[&bwd[1]]);
    time("dense_backward_input", &[&bwd[2]]);
    time("sgd weights", &[&sgd[0]]);
    time("sgd bias", &[&sgd[1]]);
}

#[test]
#[ignore]
fn kernel_timings_conv() {
    use crate::cpu::conv::ConvGeom;
    let Some(h) = Harness::new() else { return };
    let (b, a, c) = (h.builder(), h.alloc(), h.common());
    let mut rng = rng(1);
    let batch = 128;
    for g in [
        ConvGeom {
            c_in: 1,
            c_out: 16,
            h: 28,
            w: 28,
        },
        ConvGeom {
            c_in: 16,
            c_out: 32,
            h: 14,
            w: 14,
        },
    ] {
        let w = rand_vec(&mut rng, g.c_out * g.c_in * 9);
        let l = LayerBuffers::new(&a, "conv", &w, g.c_out, &vec![true; w.len()]).unwrap();
        let x = h.upload(&rand_vec(&mut rng, g.c_in * batch * g.h * g.w));
        let y = h.zeros(g.c_out * batch * g.h * g.w);
        let dy = h.upload(&rand_vec(&mut rng, g.c_out * batch * g.h * g.w));
        let dx = h.zeros(g.c_in * batch * g.h * g.w);
        let partials = h.zeros(ops::conv_partials_len(g, batch));
        let fwd = ops::conv_forward(&b, &a, g, batch, &l.weights, &l.bias, &x, &y, &c).unwrap();
        let bwd = ops::conv_backward(
            &b,
            &a,
            g,
            batch,
            &l.refs(),
            &x,
            &dy,
            Some(&dx),
            &partials,
            &c,
        )
        .unwrap();
        let time = |name: &str, ds: &[&Dispatch]| {
            h.run_refs(ds);
            h.ctx
                .device
                .poll(wgpu::PollType::wait_indefinitely())
                .unwrap();
            let t = Instant::now();
            for _ in 0..3 {
                h.run_refs(ds);
            }
            h.ctx
                .device
                .poll(wgpu::PollType::wait_indefinitely())
                .unwrap();
            eprintln!(
                "{name} {g:?}: {:.2} ms",
                t.elapsed().as_secs_f64() * 1000.0 / 3.0
            );
        };
        time("conv_forward", &[&fwd]);
        time("conv_backward_weights", &[&bwd[0]]);
        time("conv_backward_weights_sum", &[&bwd[1]]);
        time("conv_backward_bias", &[&bwd[2]]);
        time("conv_backward_input", &[&bwd[3]]);
    }
}
