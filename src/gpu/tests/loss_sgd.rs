//! Loss, SGD, SNFS average and batch gathering against src/cpu.

use super::*;
use crate::cpu::Param;
use crate::cpu::loss::softmax_cross_entropy;
use crate::cpu::net::Net;
use crate::cpu::sgd::sgd_step;
use crate::data::{Dataset, ImageShape};
use crate::gpu::ops;
use crate::gpu::program::{self, DataBuffers, LayerBuffers, Workspace};
use crate::gpu::sparse::{self, SparseLists};
use crate::model::ModelSpec;
use crate::sparse::LayerShape;

#[test]
fn softmax_cross_entropy_matches_the_cpu() {
    let Some(h) = Harness::new() else { return };
    let (b, a, c) = (h.builder(), h.alloc(), h.common());
    let mut rng = rng(21);
    // 300 samples: more than the 256 invocations of the loss workgroup.
    for (classes, batch, valid) in [(10, 13, 13), (10, 300, 217), (3, 5, 1)] {
        let logits: Vec<f32> = (0..classes * batch)
            .map(|_| rng.random_range(-4.0..4.0))
            .collect();
        let labels: Vec<u8> = (0..batch)
            .map(|_| rng.random_range(0..classes as u8))
            .collect();
        let mut d = vec![0.0; logits.len()];
        let (sum, _) = softmax_cross_entropy(&logits, &labels, classes, Some(&mut d));
        let sub: Vec<f32> = (0..classes)
            .flat_map(|k| logits[k * batch..k * batch + valid].to_vec())
            .collect();
        let (valid_sum, valid_correct) =
            softmax_cross_entropy(&sub, &labels[..valid], classes, None);

        let labels32: Vec<u32> = labels.iter().map(|&l| u32::from(l)).collect();
        let (gl, glab, gd) = (h.upload(&logits), h.upload_u32(&labels32), h.zeros(d.len()));
        let (ring, sums) = (h.zeros(4), h.zeros(6));
        h.set_step(StepInfo {
            loss_slot: 2,
            valid: valid as u32,
            ..StepInfo::default()
        });
        let dims = (classes, batch);
        let mut passes =
            ops::softmax_cross_entropy(&b, &a, dims, &gl, &glab, Some(&gd), &ring, &c).unwrap();
        passes
            .extend(ops::softmax_cross_entropy(&b, &a, dims, &gl, &glab, None, &sums, &c).unwrap());
        h.run(&passes);
        let what = format!("{classes} classes, batch {batch}");
        let mean = h.read(&ring, 4)[2];
        assert_close(
            &format!("{what}: mean loss"),
            &[mean],
            &[(sum / batch as f64) as f32],
        );
        assert_close(&format!("{what}: dlogits"), &h.read(&gd, d.len()), &d);
        let s = h.read(&sums, 6);
        assert_close(
            &format!("{what}: evaluation loss sum"),
            &s[4..5],
            &[valid_sum as f32],
        );
        assert_eq!(
            s[5], valid_correct as f32,
            "{what}: correct of the first {valid}"
        );
    }
}

#[test]
fn sgd_and_snfs_average_match_the_cpu() {
    let Some(h) = Harness::new() else { return };
    let (b, a, c) = (h.builder(), h.alloc(), h.common());
    let mut rng = rng(22);
    // Through the mask, and over the active list (sgd_step_sparse); the larger layer has more
    // active weights than the sparse kernel has invocations (its grid-stride loop turns).
    for (n_in, n_out, density, over_list) in [
        (41, 23, 0.3, false),
        (41, 23, 0.3, true),
        (300, 100, 0.4, true),
    ] {
        let what = format!("{n_in}x{n_out} density {density} over the list {over_list}");
        let mut p = Param::zeros(LayerShape::dense("fc", n_in, n_out));
        p.weights = rand_vec(&mut rng, p.weights.len());
        p.set_mask(
            (0..p.weights.len())
                .map(|_| rng.random_bool(density))
                .collect(),
        );
        p.momentum = rand_vec(&mut rng, p.weights.len());
        for (m, &on) in p.momentum.iter_mut().zip(&p.mask) {
            *m = if on { *m } else { 0.0 };
        }
        p.grad = rand_vec(&mut rng, p.weights.len());
        p.bias = rand_vec(&mut rng, n_out);
        p.bias_momentum = rand_vec(&mut rng, n_out);
        p.bias_grad = rand_vec(&mut rng, n_out);
        let ema0 = rand_vec(&mut rng, p.weights.len());

        let l = LayerBuffers::new(&a, "fc", &p.weights, n_out, &p.mask).unwrap();
        let lists = SparseLists::new(&a, "fc", (n_in, n_out), &h.ctx.queue, &p.mask).unwrap();
        let q = &h.ctx.queue;
        for (buf, v) in [
            (&l.momentum, &p.momentum),
            (&l.grad, &p.grad),
            (&l.bias, &p.bias),
            (&l.bias_momentum, &p.bias_momentum),
            (&l.bias_grad, &p.bias_grad),
            (&l.ema, &ema0),
        ] {
            q.write_buffer(buf, 0, bytemuck::cast_slice(v));
        }
        let (lr, momentum, wd, decay) = (0.1, 0.9, 5e-4, 0.9);
        h.set_step(StepInfo {
            lr,
            momentum,
            wd,
            snfs_decay: decay,
            ..StepInfo::default()
        });
        let refs = l.sgd_refs();
        let [weights, bias] = ops::sgd_step(&b, &refs, &c).unwrap();
        let weights = if over_list {
            let bufs = (&l.grad, &l.weights, &l.momentum);
            sparse::sgd_step_sparse(&b, &a, &lists, bufs, &c).unwrap()
        } else {
            weights
        };
        h.run(&[ops::snfs_ema(&b, &refs, &c).unwrap(), weights, bias]);

        let ema: Vec<f32> = ema0
            .iter()
            .zip(&p.grad)
            .map(|(&m, &g)| decay * m + (1.0 - decay) * g)
            .collect();
        sgd_step(&mut p, lr, momentum, wd);
        let n = p.weights.len();
        assert_close(&format!("{what}: SNFS average"), &h.read(&l.ema, n), &ema);
        assert_close(
            &format!("{what}: weights"),
            &h.read(&l.weights, n),
            &p.weights,
        );
        assert_close(
            &format!("{what}: momentum"),
            &h.read(&l.momentum, n),
            &p.momentum,
        );
        assert_close(&format!("{what}: bias"), &h.read(&l.bias, n_out), &p.bias);
        assert_close(
            &format!("{what}: bias momentum"),
            &h.read(&l.bias_momentum, n_out),
            &p.bias_momentum,
        );
        // Inactive weights stay exactly 0 (RIGL.md).
        let w = h.read(&l.weights, n);
        assert!(
            w.iter().zip(&p.mask).all(|(&w, &on)| on || w == 0.0),
            "{what}"
        );
    }
}

#[test]
fn load_batch_matches_the_cpu_in_both_layouts() {
    let Some(h) = Harness::new() else { return };
    let (b, a, c) = (h.builder(), h.alloc(), h.common());
    let mut rng = rng(23);
    // 3 x 5 x 7 = 105 bytes per image: images straddle the u32 words they are packed in.
    let shape = ImageShape::new(3, 5, 7);
    let n = 11;
    let images: Vec<u8> = (0..n * shape.len()).map(|_| rng.random()).collect();
    let labels: Vec<u8> = (0..n).map(|i| (i % 10) as u8).collect();
    let data = Dataset::new(shape, 10, images, labels).unwrap();
    let gdata = DataBuffers::new(&a, "test", &data).unwrap();
    for spec in [
        ModelSpec::Mlp { hidden: vec![4] },
        ModelSpec::Cnn {
            c1: 2,
            c2: 2,
            hidden: 4,
        },
    ] {
        let net = Net::new(&spec, shape, 10);
        let batch = 4;
        let mut ws = net.workspace(batch);
        let gws = Workspace::new(&a, &net.graph, batch, false).unwrap();

        let indices = [7u32, 0, 10, 3];
        net.load_batch(&mut ws, &data, &indices);
        let gidx = h.upload_u32(&indices);
        h.run(&[program::gather(&b, &a, &net.graph, &gws, &gdata, Some(&gidx), None, &c).unwrap()]);
        let x = h.read(&gws.acts[0], batch * shape.len());
        assert_eq!(x, ws.acts[0], "{spec}: images by index");
        let labels: Vec<u32> = ws.labels.iter().map(|&l| u32::from(l)).collect();
        assert_eq!(
            h.read_u32(&gws.labels, batch),
            labels,
            "{spec}: labels by index"
        );

        // Evaluation: images base.., padded past the end with the last image.
        net.load_batch(&mut ws, &data, &[9, 10, 10, 10]);
        h.set_step(StepInfo {
            base: 9,
            ..StepInfo::default()
        });
        h.run(&[program::gather(&b, &a, &net.graph, &gws, &gdata, None, None, &c).unwrap()]);
        assert_eq!(
            h.read(&gws.acts[0], batch * shape.len()),
            ws.acts[0],
            "{spec}: images from base"
        );
    }
}
