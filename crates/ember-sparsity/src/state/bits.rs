//! Masks on disk as bits: a checkpoint stores every boolean tensor (keep-masks, freeze sets)
//! as one bit per element, so that a pruned checkpoint is no larger than the dense weights
//! plus an eighth of a byte per masked element, instead of a whole byte.
//!
//! The layout is little-endian bit order: element `i` is bit `i % 8` of byte `i / 8`, and the
//! unused high bits of the last byte are zero. The packed tensor is stored as `u8` with shape
//! `[ceil(n / 8)]` under the mask's own path; the element count `n` comes from the module the
//! checkpoint is loaded into, so a packed mask whose length disagrees is refused as a shape
//! mismatch naming the tensor. Checkpoints written before packing (one `bool` per element)
//! still load: a boolean tensor is passed through unchanged.

use std::collections::HashMap;
use std::sync::Arc;

use burn::store::bridge;
use burn::store::burn_pack::Tensor as PackTensor;
use burn::store::{ModuleAdapter, ModuleContext};
use burn::tensor::{BoolStore, DType, Shape, TensorData};

/// The number of bytes that hold `n` bits.
pub fn packed_len(n: usize) -> usize {
    n.div_ceil(8)
}

/// Packs `flags` into bytes, element `i` at bit `i % 8` of byte `i / 8`.
pub fn pack_bits(flags: impl IntoIterator<Item = bool>) -> Vec<u8> {
    let mut bytes = Vec::new();
    for (i, flag) in flags.into_iter().enumerate() {
        if i % 8 == 0 {
            bytes.push(0u8);
        }
        if flag {
            *bytes.last_mut().expect("pushed above") |= 1 << (i % 8);
        }
    }
    bytes
}

/// The first `n` flags of `bytes` packed by [`pack_bits`] (missing bytes read as `false`).
pub fn unpack_bits(bytes: &[u8], n: usize) -> Vec<bool> {
    (0..n)
        .map(|i| bytes.get(i / 8).is_some_and(|b| b >> (i % 8) & 1 == 1))
        .collect()
}

/// The adapter that writes boolean tensors as packed bits.
#[derive(Debug, Clone, Copy, Default)]
pub struct PackMasks;

impl ModuleAdapter for PackMasks {
    fn adapt(&self, tensor: PackTensor, _ctx: ModuleContext<'_>) -> PackTensor {
        if !tensor.dtype.is_bool() {
            return tensor;
        }
        let n = tensor.shape.num_elements();
        let name = tensor.name.clone();
        bridge::map_data(
            tensor,
            name,
            DType::U8,
            Shape::new([packed_len(n)]),
            move |data| {
                let bytes = pack_bits(data.iter::<bool>());
                TensorData::new(bytes, [packed_len(n)])
            },
        )
    }

    fn clone_box(&self) -> Box<dyn ModuleAdapter> {
        Box::new(*self)
    }
}

/// The adapter that reads masks written by [`PackMasks`] back into boolean tensors of the
/// shapes the target module declares.
#[derive(Debug, Clone)]
pub struct UnpackMasks {
    /// Boolean tensor path in the target module → its shape.
    shapes: Arc<HashMap<String, Shape>>,
}

impl UnpackMasks {
    /// An adapter for a module whose boolean tensors have these paths and shapes.
    pub fn new(shapes: HashMap<String, Shape>) -> Self {
        Self {
            shapes: Arc::new(shapes),
        }
    }
}

impl ModuleAdapter for UnpackMasks {
    fn adapt(&self, tensor: PackTensor, _ctx: ModuleContext<'_>) -> PackTensor {
        let Some(shape) = self.shapes.get(&tensor.name) else {
            return tensor;
        };
        let n = shape.num_elements();
        // Anything but a packed mask of the right length (an old one-bool-per-element mask,
        // or a damaged file) goes on unchanged, for the store to accept or to refuse by name.
        let packed = tensor.dtype == DType::U8 && tensor.shape.as_slice() == [packed_len(n)];
        if !packed {
            return tensor;
        }
        let name = tensor.name.clone();
        let dims = shape.to_vec();
        bridge::map_data(
            tensor,
            name,
            DType::Bool(BoolStore::Native),
            shape.clone(),
            move |data| {
                let bytes: Vec<u8> = data.iter::<u8>().collect();
                TensorData::new(unpack_bits(&bytes, n), dims.clone())
            },
        )
    }

    fn clone_box(&self) -> Box<dyn ModuleAdapter> {
        Box::new(self.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn unpacking_gives_back_the_flags(flags in proptest::collection::vec(any::<bool>(), 0..200)) {
            let bytes = pack_bits(flags.iter().copied());
            prop_assert_eq!(bytes.len(), packed_len(flags.len()));
            prop_assert_eq!(unpack_bits(&bytes, flags.len()), flags.clone());
            // The spare bits of the last byte are zero, so equal masks give equal files.
            if flags.len() % 8 != 0 {
                let last = *bytes.last().unwrap();
                prop_assert_eq!(last >> (flags.len() % 8), 0);
            }
        }
    }

    #[test]
    fn element_i_is_bit_i_mod_8_of_byte_i_div_8() {
        let mut flags = vec![false; 11];
        flags[0] = true;
        flags[9] = true;
        assert_eq!(pack_bits(flags), vec![0b0000_0001, 0b0000_0010]);
    }
}
