//! The sparse products equal the dense product by definition, on random shapes and masks,
//! including empty rows and columns, all-zero and all-dense matrices, and batches that do and
//! do not fill the SIMD blocks.

use ember_kernels::{CsrMatrix, KernelError, NmMatrix, SparseMatrix, dense_matmul_reference};
use proptest::prelude::*;

/// Random weights with roughly `sparsity` exact zeros, plus whole zero rows and columns.
fn matrix() -> impl Strategy<Value = (usize, usize, Vec<f32>)> {
    (1usize..40, 1usize..48, 0.0f64..=1.0, any::<u64>()).prop_map(|(rows, cols, sparsity, seed)| {
        let mut state = seed | 1;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let empty_row = (next() % rows as u64) as usize;
        let empty_col = (next() % cols as u64) as usize;
        let w = (0..rows * cols)
            .map(|i| {
                let keep = (next() % 1000) as f64 >= sparsity * 1000.0;
                let (r, c) = (i / cols, i % cols);
                if !keep || r == empty_row || c == empty_col {
                    0.0
                } else {
                    (next() % 2001) as f32 / 1000.0 - 1.0
                }
            })
            .collect();
        (rows, cols, w)
    })
}

fn input(batch: usize, cols: usize, seed: u64) -> Vec<f32> {
    (0..batch * cols)
        .map(|i| ((i as u64 * 2654435761 + seed) % 1999) as f32 / 999.0 - 1.0)
        .collect()
}

/// `rows × cols` weights from [`input`] with every magnitude below `threshold` set to zero: an
/// unstructured mask of about `threshold` sparsity.
fn unstructured(rows: usize, cols: usize, seed: u64, threshold: f32) -> Vec<f32> {
    input(rows, cols, seed)
        .into_iter()
        .map(|v| if v.abs() < threshold { 0.0 } else { v })
        .collect()
}

fn assert_close(got: &[f32], want: &[f32]) -> Result<(), TestCaseError> {
    prop_assert_eq!(got.len(), want.len());
    for (g, w) in got.iter().zip(want) {
        prop_assert!((g - w).abs() <= 1e-5 * w.abs().max(1.0), "{} vs {}", g, w);
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn csr_equals_the_dense_product((rows, cols, w) in matrix(), batch in 0usize..40, seed in any::<u64>()) {
        let csr = CsrMatrix::from_dense(&w, rows, cols).unwrap();
        prop_assert_eq!(csr.nnz(), w.iter().filter(|v| **v != 0.0).count());
        prop_assert_eq!(csr.to_dense(), w.clone());
        let x = input(batch, cols, seed);
        let want = dense_matmul_reference(&w, rows, cols, &x, batch).unwrap();
        assert_close(&csr.matmul(&x, batch).unwrap(), &want)?;
        let rebuilt = CsrMatrix::from_parts(rows, cols, csr.row_starts().to_vec(), csr.columns().to_vec(), csr.values().to_vec()).unwrap();
        prop_assert_eq!(rebuilt, csr);
    }

    #[test]
    fn n_m_equals_the_dense_product((rows, groups, n, m) in (1usize..30, 1usize..12, 1usize..5, 1usize..9).prop_filter("n <= m", |t| t.2 <= t.3), batch in 0usize..40, seed in any::<u64>()) {
        let cols = groups * m;
        // Keep the n largest |w| of every group (ties to the lower offset), as the N:M
        // pattern does; the rest are exact zeros.
        let w = n_m_weights(rows, cols, n, m, seed ^ 0x5eed);
        let nm = NmMatrix::from_dense(&w, rows, cols, n, m).unwrap();
        prop_assert_eq!(nm.to_dense(), w.clone());
        let x = input(batch, cols, seed);
        let want = dense_matmul_reference(&w, rows, cols, &x, batch).unwrap();
        assert_close(&nm.matmul(&x, batch).unwrap(), &want)?;
        let rebuilt = NmMatrix::from_parts(rows, cols, (n, m), nm.values().to_vec(), nm.offsets().to_vec()).unwrap();
        prop_assert_eq!(rebuilt, nm);
    }
}

/// `got` equals the f64 product of `w` and `x` to the rounding bound of an f32 sum in another
/// order: √n · u · Σ|w·x| (u = 2^-24, n the inputs), twice over, far below one weight's
/// contribution in these tests.
fn assert_rounding_close(
    got: &[f32],
    w: &[f32],
    rows: usize,
    cols: usize,
    x: &[f32],
    batch: usize,
) {
    let want = dense_matmul_reference(w, rows, cols, x, batch).unwrap();
    let abs = |v: &[f32]| v.iter().map(|v| v.abs()).collect::<Vec<_>>();
    let scale = dense_matmul_reference(&abs(w), rows, cols, &abs(x), batch).unwrap();
    assert_eq!(got.len(), want.len());
    let unit = f32::EPSILON / 2.0;
    for ((g, w), s) in got.iter().zip(&want).zip(&scale) {
        let bound = 2.0 * (cols as f32).sqrt() * unit * s;
        assert!(
            (g - w).abs() <= bound,
            "batch {batch}: {g} vs {w} (bound {bound})"
        );
    }
}

#[test]
fn large_products_split_over_threads_give_the_same_result() {
    // Four threads whatever the machine has, so that the split really happens.
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(4)
        .build()
        .unwrap();
    pool.install(|| {
        // Batch > 1 splits a block's rows over the helper threads from 2^17 multiply-adds:
        // 390 rows (not a multiple of the 16-row tiles) at about 50%, in CSR and 2:4; batch
        // 33 and 70 end with a partial block.
        let (rows, cols) = (390, 1536);
        let scattered = unstructured(rows, cols, 7, 0.5);
        let two_four = n_m_weights(rows, cols, 2, 4, 7);
        for w in [scattered, two_four] {
            let matrix = SparseMatrix::from_dense(&w, rows, cols).unwrap();
            for batch in [32, 33, 70] {
                let x = input(batch, cols, 3);
                let got = matrix.matmul(&x, batch).unwrap();
                assert_rounding_close(&got, &w, rows, cols, &x, batch);
            }
        }
        // Batch 1 splits the rows above 2^23 stored weights: 2,900² of them.
        let (rows, cols) = (2900, 2900);
        let w = input(rows, cols, 13);
        let csr = CsrMatrix::from_dense(&w, rows, cols).unwrap();
        assert!(csr.nnz() >= 1 << 23, "{} stored weights", csr.nnz());
        let x = input(1, cols, 4);
        assert_rounding_close(&csr.matmul(&x, 1).unwrap(), &w, rows, cols, &x, 1);
    });
}

#[test]
fn no_columns_give_zero_sums() {
    let csr = CsrMatrix::from_dense(&[], 3, 0).unwrap();
    for batch in [1, 5, 40] {
        assert_eq!(csr.matmul(&[], batch).unwrap(), vec![0.0; 3 * batch]);
        let mut y = vec![f32::NAN; 3 * batch];
        csr.matmul_into(&[], batch, &mut y).unwrap();
        assert_eq!(y, vec![0.0; 3 * batch]);
    }
}

#[test]
fn bad_operands_and_parts_are_errors() {
    let csr = CsrMatrix::from_dense(&[1.0, 0.0, 0.0, 2.0], 2, 2).unwrap();
    assert!(matches!(
        csr.matmul(&[1.0; 3], 2),
        Err(KernelError::Length { .. })
    ));
    assert!(CsrMatrix::from_dense(&[1.0; 3], 2, 2).is_err());
    // Out-of-range column, decreasing starts, unsorted columns, a wrong final start.
    assert!(CsrMatrix::from_parts(1, 2, vec![0, 1], vec![2], vec![1.0]).is_err());
    assert!(CsrMatrix::from_parts(2, 2, vec![0, 1, 0], vec![0], vec![1.0]).is_err());
    assert!(CsrMatrix::from_parts(1, 3, vec![0, 2], vec![2, 1], vec![1.0, 1.0]).is_err());
    assert!(CsrMatrix::from_parts(1, 3, vec![0, 3], vec![0], vec![1.0]).is_err());
    // More than n non-zeros in a group; m not dividing the columns; repeated offsets.
    let err = NmMatrix::from_dense(&[1.0, 1.0, 1.0, 0.0], 1, 4, 2, 4).unwrap_err();
    assert!(err.to_string().contains("more than 2 of 4"), "{err}");
    assert!(NmMatrix::from_dense(&[1.0; 6], 1, 6, 2, 4).is_err());
    assert!(NmMatrix::from_parts(1, 4, (2, 4), vec![1.0, 1.0], vec![1, 1]).is_err());
    assert!(NmMatrix::from_parts(1, 4, (2, 4), vec![1.0, 1.0], vec![1, 4]).is_err());
}

#[test]
fn products_into_a_buffer_overwrite_it_and_check_its_length() {
    let (rows, cols) = (70, 96);
    let w = unstructured(rows, cols, 11, 0.6);
    let csr = CsrMatrix::from_dense(&w, rows, cols).unwrap();
    let nm_w: Vec<f32> = w.chunks(4).flat_map(|g| [g[0], 0.0, 0.0, g[3]]).collect();
    let nm = NmMatrix::from_dense(&nm_w, rows, cols, 2, 4).unwrap();
    for batch in [1, 5, 32, 70] {
        let x = input(batch, cols, 5);
        // A buffer left over from another product: every element must be written.
        let mut y = vec![f32::NAN; batch * rows];
        csr.matmul_into(&x, batch, &mut y).unwrap();
        assert_eq!(y, csr.matmul(&x, batch).unwrap());
        y.fill(f32::NAN);
        nm.matmul_into(&x, batch, &mut y).unwrap();
        assert_eq!(y, nm.matmul(&x, batch).unwrap());
        assert!(matches!(
            csr.matmul_into(&x, batch, &mut vec![0.0; batch * rows + 1]),
            Err(KernelError::Length {
                what: "the output",
                ..
            })
        ));
    }
}

#[test]
fn products_run_inside_rayon_tasks() {
    use rayon::prelude::*;
    // Large enough to split over threads: eight products at once share the helper threads
    // (a part waits in a helper's queue while another product's runs) and each must still
    // get its own sums.
    let (rows, cols) = (384, 1536);
    let w = unstructured(rows, cols, 9, 0.4);
    let csr = CsrMatrix::from_dense(&w, rows, cols).unwrap();
    let x = input(40, cols, 2);
    let want = csr.matmul(&x, 40).unwrap();
    let got: Vec<Vec<f32>> = (0..8)
        .into_par_iter()
        .map(|_| csr.matmul(&x, 40).unwrap())
        .collect();
    assert!(got.iter().all(|y| *y == want));
}

/// `rows × cols` weights keeping the `n` largest magnitudes of every `m` inputs.
fn n_m_weights(rows: usize, cols: usize, n: usize, m: usize, seed: u64) -> Vec<f32> {
    let mut w = input(rows, cols, seed);
    for group in w.chunks_mut(m) {
        let mut order: Vec<usize> = (0..m).collect();
        order.sort_by(|a, b| group[*b].abs().total_cmp(&group[*a].abs()).then(a.cmp(b)));
        for o in &order[n..] {
            group[*o] = 0.0;
        }
    }
    w
}

#[test]
fn the_format_follows_the_mask() {
    let (rows, cols) = (24, 64);
    let scattered = unstructured(rows, cols, 4, 0.5);
    let cases = [
        (n_m_weights(rows, cols, 2, 4, 1), "2:4"),
        (n_m_weights(rows, cols, 1, 4, 2), "1:4"),
        (n_m_weights(rows, cols, 2, 8, 3), "2:8"),
        (n_m_weights(rows, cols, 4, 8, 3), "4:8"),
        // Half zeros, but not in groups; dense; nothing; a width no group divides.
        (scattered, "csr"),
        (input(rows, cols, 5), "csr"),
        (vec![0.0; rows * cols], "csr"),
        (n_m_weights(rows, 6, 2, 6, 6)[..rows * 6].to_vec(), "csr"),
    ];
    for (w, format) in cases {
        let cols = w.len() / rows;
        let matrix = SparseMatrix::from_dense(&w, rows, cols).unwrap();
        assert_eq!(matrix.format(), format);
        assert_eq!(matrix.to_dense(), w);
        assert_eq!((matrix.rows(), matrix.cols()), (rows, cols));
        for batch in [1, 3, 33] {
            let x = input(batch, cols, 8);
            let want = dense_matmul_reference(&w, rows, cols, &x, batch).unwrap();
            let got = matrix.matmul(&x, batch).unwrap();
            for (g, w) in got.iter().zip(&want) {
                assert!(
                    (g - w).abs() <= 1e-5 * w.abs().max(1.0),
                    "{format}: {g} vs {w}"
                );
            }
        }
    }
    // A 2:4 mask with a few extra zeros (weights that trained to exactly 0) stays 2:4.
    let mut w = n_m_weights(rows, cols, 2, 4, 9);
    let mut extra = 0;
    for v in w.iter_mut().filter(|v| **v != 0.0).step_by(25) {
        *v = 0.0;
        extra += 1;
    }
    assert!(extra > 0);
    assert_eq!(
        SparseMatrix::from_dense(&w, rows, cols).unwrap().format(),
        "2:4"
    );
}

/// A product finished by an epilogue equals the product, then the bias, then the GELU, bit
/// for bit, at batch 1, on a block computed whole and on blocks split over the helpers; a
/// bias of the wrong length is an error naming it.
#[test]
fn an_epilogue_equals_bias_and_gelu_after_the_product() {
    use ember_kernels::{Activation, Epilogue};
    for (rows, cols) in [(7, 5), (1152, 384), (384, 1536)] {
        let w = unstructured(rows, cols, 3, 0.8);
        let bias: Vec<f32> = (0..rows).map(|r| (r % 13) as f32 * 0.1 - 0.6).collect();
        let format = SparseMatrix::from_dense(&w, rows, cols).unwrap();
        {
            for batch in [1, 3, 27, 70] {
                let x = input(batch, cols, 11);
                let mut want = format.matmul(&x, batch).unwrap();
                for (i, v) in want.iter_mut().enumerate() {
                    *v += bias[i % rows];
                }
                ember_kernels::gelu_in_place(&mut want);
                let epilogue = Epilogue::bias(bias.clone()).with_activation(Activation::Gelu);
                let got = format.matmul_with(&x, batch, &epilogue).unwrap();
                let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
                assert_eq!(bits(&got), bits(&want), "{rows}x{cols}, batch {batch}");
            }
            let short = Epilogue::bias(vec![0.0; rows - 1]);
            let error = format
                .matmul_with(&input(2, cols, 1), 2, &short)
                .unwrap_err();
            assert!(error.to_string().contains("the bias"), "{error}");
        }
    }
}
