//! The element-wise functions of the sparse engines, over whole slices so that the compiler
//! vectorizes them for the instruction set `pulp` picks at run time.
//!
//! A call to `libm`'s `erff` or `expf` per element is a scalar call the loop cannot vectorize:
//! the exact GELU took 9% of the sparse BERT engine's time through `erff`. Here `exp` is a
//! range reduction and a polynomial, and `erf` Abramowitz and Stegun's formula 7.1.26 on top
//! of it, both branch-free.

use pulp::{Arch, Simd, WithSimd};

/// `log2(e)`.
const LOG2_E: f32 = std::f32::consts::LOG2_E;
/// `ln 2` split in two (Cody and Waite), so that `x − n·ln 2` loses no bits for `|n| ≤ 150`:
/// the high part has few enough significant bits that `n · LN2_HIGH` is exact.
const LN2_HIGH: f32 = 0.693_145_75;
const LN2_LOW: f32 = 1.428_606_8e-6;
/// Adding and subtracting 1.5·2²³ rounds an `f32` of magnitude below 2²² to the nearest
/// integer (ties to even) with two additions, which vectorize on every instruction set.
const ROUND: f32 = 12_582_912.0;
/// Below this `eˣ` is under half the smallest subnormal: 0.
const EXP_LOW: f32 = -104.0;
/// Above this `eˣ` overflows: infinity.
const EXP_HIGH: f32 = 88.722_84;

/// `eˣ` to about one unit in the last place, for every `f32` (`NaN` stays `NaN`).
#[inline(always)]
pub(crate) fn exp(x: f32) -> f32 {
    let clamped = x.clamp(EXP_LOW, EXP_HIGH);
    // The rounded sum holds n in the low bits of its mantissa (its unit in the last place is
    // 1): reading n from the bits instead of converting the float to an integer keeps the
    // loop vectorized, which Rust's saturating `as i32` does not (it compiled to one scalar
    // conversion per element, and the GELU ran at 2.3 ns an element).
    let rounded = clamped * LOG2_E + ROUND;
    let n_int = rounded.to_bits() as i32 - ROUND.to_bits() as i32;
    let n = rounded - ROUND;
    let r = (clamped - n * LN2_HIGH) - n * LN2_LOW;
    // e^r for |r| ≤ ln(2)/2 by its Taylor series to r⁷: the first term left out is below
    // 2e-9 relative.
    let p = 1.0
        + r * (1.0
            + r * (1.0 / 2.0
                + r * (1.0 / 6.0
                    + r * (1.0 / 24.0
                        + r * (1.0 / 120.0 + r * (1.0 / 720.0 + r * (1.0 / 5040.0)))))));
    // 2ⁿ as two factors, each a normal float for every n in [-150, 128].
    let half = n_int >> 1;
    let scale = |k: i32| f32::from_bits(((k + 127) as u32) << 23);
    let y = p * scale(half) * scale(n_int - half);
    if x > EXP_HIGH {
        f32::INFINITY
    } else if x.is_nan() {
        x
    } else {
        y
    }
}

/// `2·Φ(x) = 1 + erf(x/√2)` and `e^(−x²/2)`, with `erf` from Abramowitz and Stegun 7.1.26
/// (absolute error below 1.5e-7): its exponential is the normal density's too, so GELU's
/// derivative costs no second `exp`.
#[inline(always)]
fn twice_cdf_and_gaussian(x: f32) -> (f32, f32) {
    const P: f32 = 0.327_591_1;
    const A: [f32; 5] = [
        0.254_829_6,
        -0.284_496_74,
        1.421_413_8,
        -1.453_152_1,
        1.061_405_4,
    ];
    let z = (x * std::f32::consts::FRAC_1_SQRT_2).abs();
    let t = 1.0 / (1.0 + P * z);
    let poly = t * (A[0] + t * (A[1] + t * (A[2] + t * (A[3] + t * A[4]))));
    // e^(−z²) = e^(−x²/2).
    let gaussian = exp(-z * z);
    let erf = 1.0 - poly * gaussian;
    (1.0 + erf.copysign(x), gaussian)
}

/// GELU, `x·Φ(x) = x·(1 + erf(x/√2))/2` (the exact one, not the tanh approximation).
#[inline(always)]
pub(crate) fn gelu(x: f32) -> f32 {
    0.5 * x * twice_cdf_and_gaussian(x).0
}

/// GELU and its derivative at `x`: `(x·Φ(x), Φ(x) + x·φ(x))`, the first [`gelu`]'s value to
/// the bit, with `φ(x) = e^(−x²/2)/√(2π)`.
#[inline(always)]
pub(crate) fn gelu_and_slope(x: f32) -> (f32, f32) {
    /// `1/√(2π)`.
    const FRAC_1_SQRT_2PI: f32 = 0.398_942_3;
    let (cdf, gaussian) = twice_cdf_and_gaussian(x);
    (0.5 * x * cdf, 0.5 * cdf + x * gaussian * FRAC_1_SQRT_2PI)
}

/// [`gelu_and_slope`] of every input, into two outputs.
struct WithSlope<'a> {
    values: &'a [f32],
    gelu: &'a mut [f32],
    slope: &'a mut [f32],
}

impl WithSimd for WithSlope<'_> {
    type Output = ();

    #[inline(always)]
    fn with_simd<S: Simd>(self, _simd: S) {
        let outputs = self.gelu.iter_mut().zip(self.slope.iter_mut());
        for (x, (g, s)) in self.values.iter().zip(outputs) {
            (*g, *s) = gelu_and_slope(*x);
        }
    }
}

/// Applies `f` to every element, inlined into the loop that `pulp` compiles for the CPU's
/// best instruction set.
struct Map<'a, F> {
    values: &'a mut [f32],
    f: F,
}

impl<F: Fn(f32) -> f32> WithSimd for Map<'_, F> {
    type Output = ();

    #[inline(always)]
    fn with_simd<S: Simd>(self, _simd: S) {
        for v in self.values.iter_mut() {
            *v = (self.f)(*v);
        }
    }
}

/// `v ← eᵛ` for every element.
pub fn exp_in_place(values: &mut [f32]) {
    Arch::new().dispatch(Map { values, f: exp });
}

/// `v ← GELU(v)` for every element (the exact GELU, through `erf`).
pub fn gelu_in_place(values: &mut [f32]) {
    Arch::new().dispatch(Map { values, f: gelu });
}

/// The exact GELU of every element of `values` into `gelu`, and its derivative
/// `Φ(x) + x·φ(x)` into `slope`: what a training step's backward pass needs, computed in the
/// same vectorized pass. `gelu` holds [`gelu_in_place`]'s values to the bit.
///
/// # Panics
///
/// If the three slices differ in length.
pub fn gelu_with_slope(values: &[f32], gelu: &mut [f32], slope: &mut [f32]) {
    assert!(
        gelu.len() == values.len() && slope.len() == values.len(),
        "gelu_with_slope: {} values, {} GELU outputs, {} slopes",
        values.len(),
        gelu.len(),
        slope.len()
    );
    Arch::new().dispatch(WithSlope {
        values,
        gelu,
        slope,
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Distance in units in the last place.
    fn ulps(a: f32, b: f32) -> u32 {
        if a == b {
            return 0;
        }
        (a.to_bits() as i64 - b.to_bits() as i64).unsigned_abs() as u32
    }

    #[test]
    fn exp_is_within_two_ulps_of_std_and_exact_at_the_edges() {
        let mut worst = 0;
        let mut values: Vec<f32> = (-1_040_000..=887_000).map(|i| i as f32 * 1e-4).collect();
        let want: Vec<f32> = values.iter().map(|x| x.exp()).collect();
        exp_in_place(&mut values);
        for (got, want) in values.iter().zip(&want) {
            if *want >= f32::MIN_POSITIVE {
                worst = worst.max(ulps(*got, *want));
            } else {
                assert!(
                    (got - want).abs() <= f32::MIN_POSITIVE * 1e-6,
                    "{got} vs {want}"
                );
            }
        }
        assert!(worst <= 2, "exp off by {worst} ulps");
        assert_eq!(exp(0.0), 1.0);
        assert_eq!(exp(-200.0), 0.0);
        assert_eq!(exp(f32::NEG_INFINITY), 0.0);
        assert_eq!(exp(89.0), f32::INFINITY);
        assert_eq!(exp(f32::INFINITY), f32::INFINITY);
        assert!(exp(f32::NAN).is_nan());
    }

    /// `erf` in f64 by its Maclaurin series, accurate to 1e-9 for |x| ≤ 4 (terms up to 1e7
    /// cancel); beyond, 1 − |erf| is below 1.6e-8.
    fn erf64(x: f64) -> f64 {
        if x.abs() > 4.0 {
            return x.signum();
        }
        let (mut term, mut sum, mut k) = (x, x, 0.0);
        while term.abs() > 1e-17 {
            k += 1.0;
            term *= -x * x / k;
            sum += term / (2.0 * k + 1.0);
        }
        sum * 2.0 / std::f64::consts::PI.sqrt()
    }

    #[test]
    fn gelu_is_the_exact_gelu_to_a_few_ulps() {
        let mut values: Vec<f32> = (-100_000..=100_000).map(|i| i as f32 * 1e-4).collect();
        let inputs = values.clone();
        gelu_in_place(&mut values);
        let mut worst = 0.0f64;
        for (x, got) in inputs.iter().zip(&values) {
            let x64 = *x as f64;
            let want = 0.5 * x64 * (1.0 + erf64(x64 / std::f64::consts::SQRT_2));
            worst = worst.max((*got as f64 - want).abs() / x64.abs().max(1.0));
        }
        assert!(worst < 4e-7, "GELU off by {worst}");
        assert_eq!(gelu(0.0), 0.0);
        assert_eq!(gelu(-30.0), 0.0);
        assert_eq!(gelu(30.0), 30.0);
    }

    #[test]
    fn the_slope_is_the_gelus_derivative_and_the_values_are_gelus() {
        let inputs: Vec<f32> = (-100_000..=100_000).map(|i| i as f32 * 1e-4).collect();
        let (mut values, mut slopes) = (vec![0.0; inputs.len()], vec![0.0; inputs.len()]);
        gelu_with_slope(&inputs, &mut values, &mut slopes);
        let mut reference = inputs.clone();
        gelu_in_place(&mut reference);
        assert_eq!(values, reference, "the same GELU to the bit");
        // The derivative of the exact GELU in f64: Φ(x) + x·φ(x).
        let mut worst = 0.0f64;
        for (x, got) in inputs.iter().zip(&slopes) {
            let x = *x as f64;
            let cdf = 0.5 * (1.0 + erf64(x / std::f64::consts::SQRT_2));
            let density = (-x * x / 2.0).exp() / (2.0 * std::f64::consts::PI).sqrt();
            worst = worst.max((*got as f64 - (cdf + x * density)).abs());
        }
        assert!(worst < 1e-6, "slope off by {worst}");
        assert_eq!(gelu_and_slope(0.0), (0.0, 0.5));
        assert_eq!(gelu_and_slope(-30.0), (0.0, 0.0));
        assert_eq!(gelu_and_slope(30.0), (30.0, 1.0));
    }
}
