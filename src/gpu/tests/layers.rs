//! Dense, conv, pool, ReLU and flatten kernels against src/cpu.

use super::*;
use crate::cpu::Param;
use crate::cpu::conv::{conv_backward, conv_forward};
use crate::cpu::dense::{dense_backward, dense_forward};
use crate::cpu::pool::*;
use crate::gpu::ops;
use crate::gpu::program::LayerBuffers;
use crate::model::{ConvGeom, PoolGeom};
use crate::sparse::LayerShape;

fn random_param(rng: &mut Pcg64, shape: LayerShape, masked: bool) -> Param {
    let mut p = Param::zeros(shape);
    p.weights = rand_vec(rng, p.weights.len());
    p.bias = rand_vec(rng, p.bias.len());
    if masked {
        let mask = (0..p.weights.len()).map(|_| rng.random_bool(0.4)).collect();
        p.set_mask(mask);
    }
    p
}

/// The layer's parameters on the GPU, as the backend holds them.
fn upload_param(h: &Harness, p: &Param) -> LayerBuffers {
    let l = LayerBuffers::new(&h.alloc(), "layer", &p.weights, p.shape.n_out, &p.mask).unwrap();
    h.ctx
        .queue
        .write_buffer(&l.bias, 0, bytemuck::cast_slice(&p.bias));
    l
}

fn dense_grad_step(dense_grad: bool) -> StepInfo {
    StepInfo {
        dense_grad: u32::from(dense_grad),
        ..StepInfo::default()
    }
}

#[test]
fn dense_forward_and_backward_match_the_cpu() {
    let Some(h) = Harness::new() else { return };
    let (b, a, c) = (h.builder(), h.alloc(), h.common());
    let mut rng = rng(11);
    for (n_in, n_out, batch) in [(37, 53, 13), (130, 70, 65), (784, 10, 3)] {
        for (masked, dense_grad) in [(false, false), (true, false), (true, true)] {
            let what = format!(
                "dense {n_in}x{n_out} batch {batch} masked {masked} dense_grad {dense_grad}"
            );
            let mut p = random_param(&mut rng, LayerShape::dense("fc", n_in, n_out), masked);
            let x = rand_vec(&mut rng, n_in * batch);
            let dy = rand_vec(&mut rng, n_out * batch);
            let mut y = vec![0.0; n_out * batch];
            let mut dx = vec![0.0; n_in * batch];
            dense_forward(&p, &x, &mut y, batch);
            dense_backward(&mut p, &x, &dy, Some(&mut dx), batch, dense_grad);
            if !dense_grad {
                // The CPU leaves inactive entries untouched; the GPU writes them as 0.
                for (g, &on) in p.grad.iter_mut().zip(&p.mask) {
                    *g = if on { *g } else { 0.0 };
                }
            }

            let l = upload_param(&h, &p);
            let (gx, gy, gdy, gdx) = (
                h.upload(&x),
                h.zeros(y.len()),
                h.upload(&dy),
                h.zeros(dx.len()),
            );
            h.set_step(dense_grad_step(dense_grad));
            let dims = (n_in, n_out, batch);
            let mut ds =
                vec![ops::dense_forward(&b, &a, dims, &l.weights, &l.bias, &gx, &gy, &c).unwrap()];
            ds.extend(
                ops::dense_backward(&b, &a, dims, &l.refs(), &gx, &gdy, Some(&gdx), &c).unwrap(),
            );
            h.run(&ds);
            assert_close(&format!("{what}: y"), &h.read(&gy, y.len()), &y);
            assert_close(
                &format!("{what}: dW"),
                &h.read(&l.grad, p.grad.len()),
                &p.grad,
            );
            assert_close(
                &format!("{what}: db"),
                &h.read(&l.bias_grad, n_out),
                &p.bias_grad,
            );
            assert_close(&format!("{what}: dx"), &h.read(&gdx, dx.len()), &dx);
        }
    }
}

#[test]
fn conv_forward_and_backward_match_the_cpu() {
    let Some(h) = Harness::new() else { return };
    let (b, a, c) = (h.builder(), h.alloc(), h.common());
    let mut rng = rng(12);
    // The second has batch * H * W = 2352 positions: two K chunks of the weight gradient.
    for (c_in, c_out, hh, ww, batch) in [(3, 5, 7, 9, 3), (16, 8, 14, 14, 12), (1, 4, 5, 3, 2)] {
        for (masked, dense_grad) in [(false, false), (true, false), (true, true)] {
            let what = format!(
                "conv {c_in}->{c_out} {hh}x{ww} batch {batch} masked {masked} dense_grad {dense_grad}"
            );
            let g = ConvGeom {
                c_in,
                c_out,
                h: hh,
                w: ww,
            };
            let mut p = random_param(
                &mut rng,
                LayerShape::conv("conv", c_in, c_out, 3, hh * ww),
                masked,
            );
            let x = rand_vec(&mut rng, c_in * batch * hh * ww);
            let dy = rand_vec(&mut rng, c_out * batch * hh * ww);
            let mut y = vec![0.0; dy.len()];
            let mut dx = vec![0.0; x.len()];
            conv_forward(&p, g, &x, &mut y, batch);
            conv_backward(&mut p, g, &x, &dy, Some(&mut dx), batch, dense_grad);
            if !dense_grad {
                for (g, &on) in p.grad.iter_mut().zip(&p.mask) {
                    *g = if on { *g } else { 0.0 };
                }
            }

            let l = upload_param(&h, &p);
            let (gx, gy, gdy, gdx) = (
                h.upload(&x),
                h.zeros(y.len()),
                h.upload(&dy),
                h.zeros(dx.len()),
            );
            let partials = h.zeros(ops::conv_partials_len(g, batch));
            h.set_step(dense_grad_step(dense_grad));
            let mut ds = vec![
                ops::conv_forward(&b, &a, g, batch, &l.weights, &l.bias, &gx, &gy, &c).unwrap(),
            ];
            let refs = l.refs();
            ds.extend(
                ops::conv_backward(
                    &b,
                    &a,
                    g,
                    batch,
                    &refs,
                    &gx,
                    &gdy,
                    Some(&gdx),
                    &partials,
                    &c,
                )
                .unwrap(),
            );
            h.run(&ds);
            assert_close(&format!("{what}: y"), &h.read(&gy, y.len()), &y);
            assert_close(
                &format!("{what}: dW"),
                &h.read(&l.grad, p.grad.len()),
                &p.grad,
            );
            assert_close(
                &format!("{what}: db"),
                &h.read(&l.bias_grad, c_out),
                &p.bias_grad,
            );
            assert_close(&format!("{what}: dx"), &h.read(&gdx, dx.len()), &dx);
        }
    }
}

#[test]
fn pool_on_odd_sizes_matches_the_cpu() {
    let Some(h) = Harness::new() else { return };
    let (b, a) = (h.builder(), h.alloc());
    let mut rng = rng(13);
    for (planes, hh, ww) in [(6, 7, 9), (5, 4, 4), (3, 3, 5)] {
        let g = PoolGeom {
            planes,
            h: hh,
            w: ww,
        };
        let (oh, ow) = g.out_hw();
        let x = rand_vec(&mut rng, planes * hh * ww);
        let dy = rand_vec(&mut rng, planes * oh * ow);
        let (mut y, mut argmax, mut dx) =
            (vec![0.0; dy.len()], vec![0; dy.len()], vec![0.0; x.len()]);
        pool_forward(g, &x, &mut y, &mut argmax);
        pool_backward(g, &dy, &argmax, &mut dx);

        let (gx, gy, gdy, gdx, garg) = (
            h.upload(&x),
            h.zeros(y.len()),
            h.upload(&dy),
            h.zeros(x.len()),
            h.zeros(y.len()),
        );
        h.run(&[
            ops::pool_forward(&b, &a, g, &gx, &gy, &garg).unwrap(),
            ops::pool_backward(&b, &a, g, &gdy, &garg, &gdx).unwrap(),
        ]);
        let what = format!("pool {planes}x{hh}x{ww}");
        assert_eq!(h.read(&gy, y.len()), y, "{what}: y");
        assert_eq!(h.read_u32(&garg, y.len()), argmax, "{what}: argmax");
        assert_eq!(
            h.read(&gdx, dx.len()),
            dx,
            "{what}: dx (edges dropped by the pool get 0)"
        );
    }
}

#[test]
fn relu_and_flatten_match_the_cpu() {
    let Some(h) = Harness::new() else { return };
    let (b, a, c) = (h.builder(), h.alloc(), h.common());
    let mut rng = rng(14);
    let (ch, batch, hw) = (5, 3, 21);
    let n = ch * batch * hw;
    let x = rand_vec(&mut rng, n);
    let dy = rand_vec(&mut rng, n);
    let (mut y, mut dx, mut f, mut fb) = (vec![0.0; n], vec![0.0; n], vec![0.0; n], vec![0.0; n]);
    relu_forward(&x, &mut y);
    relu_backward(&y, &dy, &mut dx);
    flatten_forward(ch, batch, hw, &x, &mut f);
    flatten_backward(ch, batch, hw, &dy, &mut fb);

    let (gx, gdy) = (h.upload(&x), h.upload(&dy));
    let (gy, gdx, gf, gfb) = (h.zeros(n), h.zeros(n), h.zeros(n), h.zeros(n));
    h.run(&[
        ops::relu_forward(&b, &a, n, &gx, &gy, &c).unwrap(),
        ops::relu_backward(&b, &a, n, &gy, &gdy, &gdx).unwrap(),
        ops::flatten_forward(&b, &a, (ch, batch, hw), &gx, &gf, &c).unwrap(),
        ops::flatten_backward(&b, &a, (ch, batch, hw), &gdy, &gfb, &c).unwrap(),
    ]);
    assert_eq!(h.read(&gy, n), y, "relu forward");
    assert_eq!(h.read(&gdx, n), dx, "relu backward");
    assert_eq!(h.read(&gf, n), f, "flatten forward");
    assert_eq!(h.read(&gfb, n), fb, "flatten backward");
}

#[test]
fn sparse_dense_kernels_match_the_cpu_at_several_densities() {
    use crate::gpu::sparse::{self, SparseLists};
    let Some(h) = Harness::new() else { return };
    let (b, a, c) = (h.builder(), h.alloc(), h.common());
    let mut rng = rng(15);
    // Odd sizes; batches below, at and above a workgroup's 128 samples; a row longer than a
    // workgroup's 128 list entries (n_in 300 at density 0.6).
    for (n_in, n_out, batch) in [(37, 53, 13), (130, 70, 129), (300, 5, 200), (784, 10, 3)] {
        for density in [0.0, 0.05, 0.3, 0.6] {
            let what = format!("sparse dense {n_in}x{n_out} batch {batch} density {density}");
            let mut p = Param::zeros(LayerShape::dense("fc", n_in, n_out));
            p.weights = rand_vec(&mut rng, p.weights.len());
            p.bias = rand_vec(&mut rng, n_out);
            let mask = (0..p.weights.len())
                .map(|_| rng.random_bool(density))
                .collect();
            p.set_mask(mask);
            // A mask with every weight active takes the CPU's GEMM path; none here is full.
            assert!(!p.all_active, "{what}");
            let x = rand_vec(&mut rng, n_in * batch);
            let dy = rand_vec(&mut rng, n_out * batch);
            let mut y = vec![0.0; n_out * batch];
            let mut dx = vec![0.0; n_in * batch];
            dense_forward(&p, &x, &mut y, batch);
            dense_backward(&mut p, &x, &dy, None, batch, true);
            let dense_grad = p.grad.clone();
            dense_backward(&mut p, &x, &dy, Some(&mut dx), batch, false);
            let grad = masked_values(&p.grad, &p.mask);

            let l = upload_param(&h, &p);
            let lists = SparseLists::new(&a, "fc", (n_in, n_out), &h.ctx.queue, &p.mask).unwrap();
            let (gx, gy, gdy, gdx) = (
                h.upload(&x),
                h.zeros(y.len()),
                h.upload(&dy),
                h.zeros(dx.len()),
            );
            let g_all = h.zeros(dense_grad.len());
            let (w, bias) = (&l.weights, &l.bias);
            h.run(&[
                sparse::dense_forward_sparse(&b, &a, &lists, batch, w, bias, &gx, &gy, &c).unwrap(),
                sparse::dense_backward_weights_sparse(
                    &b,
                    &a,
                    &lists,
                    batch,
                    (&gdy, &gx, &l.grad),
                    &c,
                )
                .unwrap(),
                sparse::dense_backward_input_sparse(&b, &a, &lists, batch, (w, &gdy, &gdx), &c)
                    .unwrap(),
                sparse::dense_backward_weights_all(&b, &a, &lists, batch, (&gdy, &gx, &g_all), &c)
                    .unwrap(),
            ]);
            assert_close(&format!("{what}: y"), &h.read(&gy, y.len()), &y);
            // Inactive entries stay as they were (0 here).
            assert_close(&format!("{what}: dW"), &h.read(&l.grad, grad.len()), &grad);
            assert_close(&format!("{what}: dx"), &h.read(&gdx, dx.len()), &dx);
            assert_close(
                &format!("{what}: dense dW"),
                &h.read(&g_all, dense_grad.len()),
                &dense_grad,
            );
        }
    }
}

fn masked_values(v: &[f32], mask: &[bool]) -> Vec<f32> {
    v.iter()
        .zip(mask)
        .map(|(&x, &on)| if on { x } else { 0.0 })
        .collect()
}

#[test]
fn sparse_conv_kernels_match_the_cpu_at_several_densities() {
    use crate::gpu::sparse::{self, SparseLists};
    let Some(h) = Harness::new() else { return };
    let (b, a, c) = (h.builder(), h.alloc(), h.common());
    let mut rng = rng(16);
    // Odd sizes; positions below, at and above a workgroup's 128 and a K chunk's 2048
    // (16 x 14 x 14 = 3136: two chunks); a row longer than the 16 invocations' lists.
    for (c_in, c_out, hh, ww, batch) in [(3, 5, 7, 9, 3), (16, 8, 14, 14, 16), (1, 4, 5, 3, 2)] {
        for density in [0.0, 0.1, 0.3, 0.6] {
            let what =
                format!("sparse conv {c_in}->{c_out} {hh}x{ww} batch {batch} density {density}");
            let g = ConvGeom {
                c_in,
                c_out,
                h: hh,
                w: ww,
            };
            let mut p = Param::zeros(LayerShape::conv("conv", c_in, c_out, 3, hh * ww));
            p.weights = rand_vec(&mut rng, p.weights.len());
            p.bias = rand_vec(&mut rng, c_out);
            let mask = (0..p.weights.len())
                .map(|_| rng.random_bool(density))
                .collect();
            p.set_mask(mask);
            assert!(!p.all_active, "{what}");
            let x = rand_vec(&mut rng, c_in * batch * hh * ww);
            let dy = rand_vec(&mut rng, c_out * batch * hh * ww);
            let mut y = vec![0.0; dy.len()];
            let mut dx = vec![0.0; x.len()];
            conv_forward(&p, g, &x, &mut y, batch);
            conv_backward(&mut p, g, &x, &dy, Some(&mut dx), batch, false);
            let grad = masked_values(&p.grad, &p.mask);

            let l = upload_param(&h, &p);
            let lists = SparseLists::conv(&a, "conv", g, &h.ctx.queue, &p.mask).unwrap();
            let (gx, gy, gdy, gdx) = (
                h.upload(&x),
                h.zeros(y.len()),
                h.upload(&dy),
                h.zeros(dx.len()),
            );
            let partials = h.zeros(ops::conv_partials_len(g, batch));
            let (w, bias) = (&l.weights, &l.bias);
            let geom = (g, batch);
            let [parts, sum] = sparse::conv_backward_weights_sparse(
                &b,
                &a,
                &lists,
                geom,
                (&gdy, &gx, &partials, &l.grad),
                &c,
            )
            .unwrap();
            h.run(&[
                sparse::conv_forward_sparse(&b, &a, &lists, geom, w, bias, &gx, &gy, &c).unwrap(),
                parts,
                sum,
                sparse::conv_backward_input_sparse(&b, &a, &lists, geom, (w, &gdy, &gdx), &c)
                    .unwrap(),
            ]);
            assert_close(&format!("{what}: y"), &h.read(&gy, y.len()), &y);
            // Inactive entries stay as they were (0 here).
            assert_close(&format!("{what}: dW"), &h.read(&l.grad, grad.len()), &grad);
            assert_close(&format!("{what}: dx"), &h.read(&gdx, dx.len()), &dx);
        }
    }
}
