//! What a product does to its sums before it returns them: a bias, then an activation.
//!
//! Applied to each part of a product on the thread that computed the part, while its sums
//! are still in that core's cache. As passes of their own over the whole output after the
//! product, the bias and the exact GELU of a BERT layer's feed-forward product ran on one
//! core: the GELU alone took 11% of the sparse engine's time at batch 1.

use std::sync::Arc;

use pulp::{Arch, Simd, WithSimd};

use crate::activation::gelu;
use crate::error::{KernelError, check_len};

/// The function an [`Epilogue`] applies to each sum after its bias.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Activation {
    /// The sums as they are.
    #[default]
    Identity,
    /// The exact GELU, `x·Φ(x)` (as [`crate::gelu_in_place`]).
    Gelu,
}

/// What a product does to its sums: adds a bias (one value per row of the weight matrix),
/// then applies an [`Activation`]. The default does neither.
#[derive(Debug, Clone, Default)]
pub struct Epilogue {
    bias: Option<Arc<[f32]>>,
    activation: Activation,
}

impl Epilogue {
    /// Adds `bias` (one value per output unit) to every example's sums.
    pub fn bias(bias: Vec<f32>) -> Self {
        Self {
            bias: Some(bias.into()),
            activation: Activation::Identity,
        }
    }

    /// This epilogue, then `activation`.
    pub fn with_activation(mut self, activation: Activation) -> Self {
        self.activation = activation;
        self
    }

    /// The bias, if any.
    pub fn bias_values(&self) -> Option<&[f32]> {
        self.bias.as_deref()
    }

    /// The activation.
    pub fn activation(&self) -> Activation {
        self.activation
    }

    /// Whether the bias fits a product with `rows` output units.
    pub(crate) fn check(&self, rows: usize) -> Result<(), KernelError> {
        match &self.bias {
            Some(bias) => check_len("the bias", bias.len(), rows),
            None => Ok(()),
        }
    }

    /// Applies this epilogue to rows `first..first + count` of every example in `out`: an
    /// example's sums start every `stride` values, and row `first` sits at `at` within them.
    pub(crate) fn apply(
        &self,
        out: &mut [f32],
        stride: usize,
        at: usize,
        first: usize,
        count: usize,
    ) {
        if self.bias.is_none() && self.activation == Activation::Identity {
            return;
        }
        Arch::new().dispatch(Finish {
            out,
            stride,
            at,
            count,
            bias: self.bias.as_deref().map(|b| &b[first..first + count]),
            activation: self.activation,
        });
    }
}

/// The loops of [`Epilogue::apply`], compiled for the instruction set `pulp` picks.
struct Finish<'a> {
    out: &'a mut [f32],
    stride: usize,
    at: usize,
    count: usize,
    bias: Option<&'a [f32]>,
    activation: Activation,
}

impl WithSimd for Finish<'_> {
    type Output = ();

    #[inline(always)]
    fn with_simd<S: Simd>(self, _simd: S) {
        for example in self.out.chunks_mut(self.stride) {
            let sums = &mut example[self.at..self.at + self.count];
            if let Some(bias) = self.bias {
                for (v, b) in sums.iter_mut().zip(bias) {
                    *v += b;
                }
            }
            if self.activation == Activation::Gelu {
                for v in sums.iter_mut() {
                    *v = gelu(*v);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_epilogue_touches_only_its_rows_and_equals_bias_then_gelu() {
        let (width, rows) = (3, 10);
        let sums: Vec<f32> = (0..width * rows).map(|i| i as f32 * 0.37 - 4.0).collect();
        let bias: Vec<f32> = (0..rows).map(|r| r as f32 * -0.25).collect();
        let epilogue = Epilogue::bias(bias.clone()).with_activation(Activation::Gelu);
        let mut out = sums.clone();
        epilogue.apply(&mut out, rows, 2, 2, 5);
        for (i, (got, before)) in out.iter().zip(&sums).enumerate() {
            let row = i % rows;
            let want = if (2..7).contains(&row) {
                let mut v = [before + bias[row]];
                crate::gelu_in_place(&mut v);
                v[0]
            } else {
                *before
            };
            assert_eq!(got.to_bits(), want.to_bits(), "element {i}");
        }
        assert!(epilogue.check(rows).is_ok());
        assert!(epilogue.check(rows + 1).is_err());
    }
}
