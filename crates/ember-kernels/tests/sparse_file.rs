//! The sparse file: bit-identical round trips at every sparsity, the size it promises, and
//! errors (never panics or huge allocations) for damaged files.

use std::collections::BTreeMap;

use ember_kernels::{NamedTensor, read_sparse_file, write_sparse_file};
use proptest::prelude::*;

fn tensors() -> impl Strategy<Value = Vec<NamedTensor>> {
    let tensor = (
        proptest::collection::vec(0usize..9, 0..3),
        0.0f64..=1.0,
        any::<u64>(),
    )
        .prop_map(|(shape, sparsity, seed)| {
            let n: usize = shape.iter().product();
            let mut state = seed | 1;
            let values = (0..n)
                .map(|_| {
                    state ^= state << 13;
                    state ^= state >> 7;
                    state ^= state << 17;
                    if (state % 1000) as f64 / 1000.0 < sparsity {
                        0.0
                    } else {
                        // Any bit pattern but +0.0: NaNs, infinities and -0.0 included.
                        f32::from_bits((state >> 32) as u32)
                    }
                })
                .collect();
            (shape, values)
        });
    proptest::collection::vec(tensor, 0..5).prop_map(|ts| {
        ts.into_iter()
            .enumerate()
            .map(|(i, (shape, values))| NamedTensor {
                name: format!("layers.{i}.weight"),
                shape,
                values,
            })
            .collect()
    })
}

fn bits(ts: &[NamedTensor]) -> Vec<(String, Vec<usize>, Vec<u32>)> {
    ts.iter()
        .map(|t| {
            (
                t.name.clone(),
                t.shape.clone(),
                t.values.iter().map(|v| v.to_bits()).collect(),
            )
        })
        .collect()
}

proptest! {
    #[test]
    fn round_trips_are_bit_identical(ts in tensors()) {
        let metadata = BTreeMap::from([("producer".to_string(), "test".to_string())]);
        let bytes = write_sparse_file(&ts, &metadata).unwrap();
        let (back, meta) = read_sparse_file(&bytes).unwrap();
        prop_assert_eq!(bits(&back), bits(&ts));
        prop_assert_eq!(meta, metadata);
    }

    #[test]
    fn damaged_files_are_errors_not_panics(ts in tensors(), cut in 0.0f64..1.0, flip in any::<(usize, u8)>()) {
        let bytes = write_sparse_file(&ts, &BTreeMap::new()).unwrap();
        let cut = (cut * bytes.len() as f64) as usize;
        prop_assert!(read_sparse_file(&bytes[..cut]).is_err());
        let mut flipped = bytes.clone();
        let at = flip.0 % flipped.len();
        flipped[at] ^= flip.1.max(1);
        // Any answer but a panic: a flipped value byte still reads.
        let _ = read_sparse_file(&flipped);
    }
}

#[test]
fn at_90_percent_the_file_is_under_a_fifth_of_the_dense_bytes() {
    let n = 300 * 784;
    let values: Vec<f32> = (0..n)
        .map(|i| if i % 10 == 0 { 1.0 + i as f32 } else { 0.0 })
        .collect();
    let t = NamedTensor {
        name: "w".into(),
        shape: vec![300, 784],
        values,
    };
    let bytes = write_sparse_file(&[t], &BTreeMap::new()).unwrap();
    let ratio = bytes.len() as f64 / (4 * n) as f64;
    assert!(ratio < 0.2, "{ratio}");
    assert!(
        ratio > 0.12,
        "{ratio}: the mask and the values are all there"
    );
}

#[test]
fn headers_claiming_huge_sizes_are_refused_before_allocating() {
    let mut bytes = b"EMBERSPT".to_vec();
    bytes.extend_from_slice(&1u32.to_le_bytes());
    bytes.extend_from_slice(&(1u64 << 40).to_le_bytes());
    let err = read_sparse_file(&bytes).unwrap_err().to_string();
    assert!(err.contains("header claims"), "{err}");

    let header = br#"{"metadata":{},"tensors":[{"name":"w","shape":[1000000,1000000],"encoding":"dense","stored":1000000000000,"offset":0,"bytes":4000000000000}]}"#;
    let mut bytes = b"EMBERSPT".to_vec();
    bytes.extend_from_slice(&1u32.to_le_bytes());
    bytes.extend_from_slice(&(header.len() as u64).to_le_bytes());
    bytes.extend_from_slice(header);
    let err = read_sparse_file(&bytes).unwrap_err().to_string();
    assert!(
        err.contains("tensor `w`") && err.contains("outside"),
        "{err}"
    );

    let err = read_sparse_file(b"PK\x03\x04 not ours at all")
        .unwrap_err()
        .to_string();
    assert!(err.contains("magic"), "{err}");
}

#[test]
fn tensors_with_no_zeros_and_all_zeros_round_trip() {
    let dense = NamedTensor {
        name: "dense".into(),
        shape: vec![3, 5],
        values: (1..=15).map(|i| i as f32 * -0.5).collect(),
    };
    let empty = NamedTensor {
        name: "pruned".into(),
        shape: vec![4, 9],
        values: vec![0.0; 36],
    };
    let bytes = write_sparse_file(&[dense.clone(), empty.clone()], &BTreeMap::new()).unwrap();
    let (back, _) = read_sparse_file(&bytes).unwrap();
    assert_eq!(back, vec![dense, empty]);
    // The all-zero tensor costs its mask only: 5 bytes for 36 elements.
    assert!(bytes.len() < 20 + 400 + 15 * 4 + 5 + 1, "{}", bytes.len());
}
