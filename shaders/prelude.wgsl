// The uniform structs several kernel files share, declared once: the host prepends this
// file to every shader module (src/gpu/kernels.rs), so a compiler's line numbers are those
// of the prelude plus the file. Host mirrors: src/gpu/uniforms.rs (same names, same order).

// Per-step values written by the host before each submission (`StepInfo`).
struct StepInfo {
    lr: f32,
    momentum: f32,
    wd: f32,
    snfs_decay: f32,
    dense_grad: u32,
    loss_slot: u32,
    base: u32,
    valid: u32,
}

// An activation kernel's geometry (pool.wgsl, relu.wgsl; `Shape`).
struct Shape {
    // Elements this dispatch writes.
    n: u32,
    // Channels (flatten) or planes = channels * batch (pool).
    c: u32,
    batch: u32,
    h: u32,
    w: u32,
    hw: u32,
    _pad0: u32,
    _pad1: u32,
}
