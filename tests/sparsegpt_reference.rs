//! Ember's SparseGPT against `scripts/sparsegpt_reference.py`, an independent NumPy float64
//! implementation written from the paper: on the same layer and Gram matrix, the same mask
//! and the same reconstructed weights to 1e-4 of the largest, unstructured (two blocks of
//! 128 columns and a partial third), per output row, 2:4 and 4:8.

#[path = "common/python.rs"]
mod python;

use std::process::Command;

use ember::oneshot::solve::{LayerProblem, LayerStatistics, Needs, Solver, SparseGpt, Structure};
use serde_json::json;

/// A layer whose inputs are correlated (what makes reconstruction matter), and one dead input.
fn layer(outputs: usize, inputs: usize, rows: usize) -> (Vec<f32>, Vec<f32>) {
    let mut state = 0x9e37_79b9_7f4a_7c15_u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0
    };
    let weight = (0..outputs * inputs).map(|_| next() as f32).collect();
    let mut x = Vec::with_capacity(rows * inputs);
    for _ in 0..rows {
        let (a, b) = (next(), next());
        for j in 0..inputs {
            let value = if j == 5 {
                0.0
            } else {
                a * ((j % 7) as f64 - 3.0) + b * (j % 3) as f64 + 0.3 * next()
            };
            x.push(value as f32);
        }
    }
    (weight, x)
}

#[test]
fn sparsegpt_matches_the_numpy_reference() {
    let Some(python) = python::python_with(&["numpy"], "sparsegpt_matches_the_numpy_reference")
    else {
        return;
    };
    let (outputs, inputs, rows) = (24, 320, 600);
    let (weight, x) = layer(outputs, inputs, rows);
    let mut statistics = LayerStatistics::new(inputs, Needs::Gram);
    // In two batches, as calibration data arrives.
    statistics.add_rows(&x[..250 * inputs], 250);
    statistics.add_rows(&x[250 * inputs..], rows - 250);
    let solver = SparseGpt::default();
    let dir = tempfile::tempdir().unwrap();
    for (name, sparsity) in [
        ("unstructured", 0.5),
        ("unstructured", 0.7),
        ("per_output", 0.6),
        ("2:4", 0.5),
        ("4:8", 0.5),
    ] {
        let structure = Structure::parse(name).unwrap();
        let problem = LayerProblem {
            path: "layer.weight",
            weight: &weight,
            outputs,
            inputs,
            sparsity,
            structure,
            statistics: &statistics,
        };
        let ours = solver.solve(&problem).unwrap();
        let problem_file = dir.path().join("problem.json");
        let solution_file = dir.path().join("solution.json");
        let description = json!({
            "outputs": outputs,
            "inputs": inputs,
            "weight": weight,
            "gram": statistics.gram().unwrap(),
            "rows": statistics.rows(),
            "sparsity": sparsity,
            "structure": name,
            "block_size": solver.block_size,
            "dampening": solver.dampening,
        });
        std::fs::write(&problem_file, description.to_string()).unwrap();
        let status = Command::new(&python)
            .arg(ember_root().join("scripts/sparsegpt_reference.py"))
            .arg(&problem_file)
            .arg(&solution_file)
            .status()
            .unwrap();
        assert!(status.success(), "the reference failed on {name}");
        let theirs: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&solution_file).unwrap()).unwrap();
        let mask: Vec<bool> = theirs["pruned"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_i64() == Some(1))
            .collect();
        let values: Vec<f64> = theirs["weight"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap())
            .collect();
        let differing = ours
            .pruned
            .iter()
            .zip(&mask)
            .filter(|(a, b)| a != b)
            .count();
        assert_eq!(
            differing, 0,
            "{name} at {sparsity}: masks differ in {differing} places"
        );
        let new = ours.weight.unwrap();
        let largest = values.iter().fold(0f64, |m, v| m.max(v.abs()));
        let gap = new
            .iter()
            .zip(&values)
            .fold(0f64, |m, (a, b)| m.max((f64::from(*a) - b).abs()));
        assert!(
            gap <= 1e-4 * largest,
            "{name} at {sparsity}: weights differ by {gap} (largest {largest})"
        );
        // The weights changed: this is not magnitude pruning with the kept values left alone.
        let moved = new
            .iter()
            .zip(&weight)
            .zip(&ours.pruned)
            .filter(|((a, b), p)| !**p && a != b)
            .count();
        assert!(
            moved > outputs * inputs / 4,
            "{name}: only {moved} kept weights moved"
        );
    }
}

fn ember_root() -> std::path::PathBuf {
    std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}
