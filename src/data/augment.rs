//! The official CIFAR-10 input pipeline's augmentation: each training image padded by 4
//! pixels (reflection), a random 32 x 32 crop of it, and a random horizontal flip. Each
//! sample's transform is a hash of (the step's seed, its place in the batch), so both
//! backends, a resumed run and the page all see the same images.

/// Pixels of padding on each side: crops are shifted by -PAD..=PAD in each direction.
pub const PAD: i32 = 4;

/// One sample's transform: the crop's shift and the flip.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Transform {
    pub dy: i32,
    pub dx: i32,
    pub flip: bool,
}

/// The seed of step `step`'s transforms in a run seeded `seed`.
pub fn step_seed(seed: u64, step: usize) -> u64 {
    mix(seed ^ 0x5EED_A06A_u64.rotate_left(32) ^ (step as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15))
}

fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

impl Transform {
    /// Sample `b`'s transform at a step of seed `step_seed`.
    pub fn of(step_seed: u64, b: usize) -> Self {
        let h = mix(step_seed ^ (b as u64 + 1).wrapping_mul(0xD1B5_4A32_D192_ED03));
        let span = (2 * PAD + 1) as u64;
        Self {
            dy: (h % span) as i32 - PAD,
            dx: ((h >> 16) % span) as i32 - PAD,
            flip: (h >> 40) & 1 == 1,
        }
    }

    /// Packed for the GPU (gather.wgsl): dy + PAD in bits 0-7, dx + PAD in 8-15, flip bit 16.
    pub fn pack(self) -> u32 {
        (self.dy + PAD) as u32 | (((self.dx + PAD) as u32) << 8) | (u32::from(self.flip) << 16)
    }

    /// The source pixel of output pixel (y, x) of an h x w plane: flipped, shifted, and
    /// reflected at the edges (numpy's "reflect": the edge pixel is not repeated).
    pub fn source(self, y: usize, x: usize, h: usize, w: usize) -> usize {
        let x = if self.flip { w - 1 - x } else { x };
        let (sy, sx) = (
            reflect(y as i32 + self.dy, h),
            reflect(x as i32 + self.dx, w),
        );
        sy * w + sx
    }
}

fn reflect(i: i32, n: usize) -> usize {
    let n = n as i32;
    let i = if i < 0 { -i } else { i };
    let i = if i >= n { 2 * (n - 1) - i } else { i };
    i.clamp(0, n - 1) as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crops_shift_flip_and_reflect_as_by_hand() {
        // A 4 x 5 plane; pixel value = index.
        let t = Transform {
            dy: 0,
            dx: 0,
            flip: false,
        };
        assert_eq!(t.source(2, 3, 4, 5), 13);
        // Shifted right by 2 and down by 1: output (0, 0) reads input (1, 2).
        let t = Transform {
            dy: 1,
            dx: 2,
            flip: false,
        };
        assert_eq!(t.source(0, 0, 4, 5), 7);
        // Beyond the right edge: x = 4 + 2 = 6 reflects to 2 (8 - 6), row 3 + 1 = 4 to 2.
        assert_eq!(t.source(3, 4, 4, 5), 2 * 5 + 2);
        // Beyond the left and top: -1 reflects to 1, -4 to 4 (width 5: index 4).
        let t = Transform {
            dy: -1,
            dx: -4,
            flip: false,
        };
        assert_eq!(t.source(0, 0, 4, 5), 5 + 4);
        // Flipped: output x reads w - 1 - x before the shift.
        let t = Transform {
            dy: 0,
            dx: 0,
            flip: true,
        };
        assert_eq!(t.source(1, 0, 4, 5), 5 + 4);
        assert_eq!(
            Transform {
                dy: -4,
                dx: 3,
                flip: true
            }
            .pack(),
            (7 << 8) | (1 << 16) // dy + 4 = 0, dx + 4 = 7, flipped
        );
    }

    #[test]
    fn transforms_cover_every_shift_and_both_flips_evenly() {
        let mut counts = [[0usize; 9]; 2];
        let mut flips = 0;
        for step in 0..200 {
            let s = step_seed(3, step);
            for b in 0..64 {
                let t = Transform::of(s, b);
                assert!((-PAD..=PAD).contains(&t.dy) && (-PAD..=PAD).contains(&t.dx));
                counts[0][(t.dy + PAD) as usize] += 1;
                counts[1][(t.dx + PAD) as usize] += 1;
                flips += usize::from(t.flip);
            }
        }
        // 12,800 samples: about 1,422 per shift and 6,400 flips.
        for c in counts.iter().flatten() {
            assert!((1200..1650).contains(c), "{counts:?}");
        }
        assert!((6000..6800).contains(&flips), "{flips}");
        assert_ne!(step_seed(3, 1), step_seed(3, 2));
        assert_eq!(
            Transform::of(step_seed(3, 5), 7),
            Transform::of(step_seed(3, 5), 7)
        );
    }
}
