// Gathers a batch of 8-bit images from the data set held on the GPU into the network input,
// scaled to [0, 1] (mirrors Net::load_batch in src/cpu/net.rs): [pixel][batch] for an MLP,
// [C][batch][H][W] for a CNN. Pixels are packed four to a u32, little-endian. With
// `augment`, each sample's image is a shifted crop of its reflection-padded self, maybe
// flipped (mirrors Net::load_batch_augmented and src/data/augment.rs).

struct GatherShape {
    image_len: u32,
    plane: u32,
    batch: u32,
    // 1: [C][batch][H][W]; 0: [pixel][batch].
    planar: u32,
    // 1: images indices[b] (training); 0: images base + b, clamped to count - 1 (evaluation).
    use_indices: u32,
    count: u32,
    // 1: transform each sample's image as transforms[b] says.
    augment: u32,
    width: u32,
}

@group(0) @binding(0) var<uniform> shape: GatherShape;
@group(0) @binding(1) var<storage, read> indices: array<u32>;
@group(0) @binding(2) var<storage, read> images: array<u32>;
@group(0) @binding(3) var<storage, read> labels: array<u32>;
@group(0) @binding(4) var<storage, read_write> x: array<f32>;
@group(0) @binding(5) var<storage, read_write> batch_labels: array<u32>;
@group(0) @binding(6) var<uniform> step_info: StepInfo;
// Per sample: dy + 4 in bits 0-7, dx + 4 in bits 8-15, flip in bit 16 (Transform::pack).
@group(0) @binding(7) var<storage, read> transforms: array<u32>;

// numpy's "reflect" at the edges of [0, n).
fn reflect(i: i32, n: i32) -> i32 {
    var j = abs(i);
    if j >= n {
        j = 2 * (n - 1) - j;
    }
    return clamp(j, 0, n - 1);
}

// Byte `k` of the images buffer.
fn image_byte(k: u32) -> u32 {
    return (images[k / 4u] >> ((k % 4u) * 8u)) & 0xffu;
}

// Invocation (b, q) loads pixels 4q .. 4q + 3 of sample b: two word loads (the four bytes
// may straddle two words) and one image index serve four pixels, and no division runs per
// pixel (an emulated GPU cannot vectorise one). Dispatched as
// (ceil(batch / 32), ceil(image_len / 4)) workgroups.
@compute @workgroup_size(32)
fn load_batch(@builtin(global_invocation_id) gid: vec3<u32>) {
    let b = gid.x;
    let j0 = 4u * gid.y;
    if b >= shape.batch || j0 >= shape.image_len {
        return;
    }
    var image: u32;
    if shape.use_indices != 0u {
        image = indices[b];
    } else {
        image = min(step_info.base + b, shape.count - 1u);
    }
    if j0 == 0u {
        batch_labels[b] = labels[image];
    }
    if shape.augment != 0u {
        load_augmented(b, j0, image);
        return;
    }
    let offset = image * shape.image_len + j0;
    let q = offset / 4u;
    let lo = images[q];
    let hi = images[min(q + 1u, arrayLength(&images) - 1u)];
    // Where pixel j0 + k goes: [pixel][batch], or [C][batch][H][W] (channel c, position p).
    var c = 0u;
    var p = 0u;
    if shape.planar != 0u {
        c = j0 / shape.plane;
        p = j0 - c * shape.plane;
    }
    for (var k = 0u; k < 4u; k++) {
        let j = j0 + k;
        if j >= shape.image_len {
            break;
        }
        let bit = (offset % 4u + k) * 8u;
        let byte = select(hi >> (bit - 32u), lo >> bit, bit < 32u) & 0xffu;
        var t = j * shape.batch + b;
        if shape.planar != 0u {
            t = (c * shape.batch + b) * shape.plane + p;
            p += 1u;
            if p == shape.plane {
                p = 0u;
                c += 1u;
            }
        }
        x[t] = f32(byte) / 255.0;
    }
}

// Pixels j0 .. j0 + 3 of sample b's transformed image, one byte load each.
fn load_augmented(b: u32, j0: u32, image: u32) {
    let t = transforms[b];
    let dy = i32(t & 0xffu) - 4;
    let dx = i32((t >> 8u) & 0xffu) - 4;
    let flip = ((t >> 16u) & 1u) == 1u;
    let w = shape.width;
    let h = shape.plane / w;
    for (var k = 0u; k < 4u; k++) {
        let j = j0 + k;
        if j >= shape.image_len {
            break;
        }
        let c = j / shape.plane;
        let p = j - c * shape.plane;
        let row = p / w;
        var col = p - row * w;
        if flip {
            col = w - 1u - col;
        }
        let sy = u32(reflect(i32(row) + dy, i32(h)));
        let sx = u32(reflect(i32(col) + dx, i32(w)));
        let v = f32(image_byte(image * shape.image_len + c * shape.plane + sy * w + sx)) / 255.0;
        var t_out = j * shape.batch + b;
        if shape.planar != 0u {
            t_out = (c * shape.batch + b) * shape.plane + p;
        }
        x[t_out] = v;
    }
}
