//! The quick-start recipe end to end: dense training, GMP to 90%, and the run directory.

mod common;

use ember::sparsity::prune_count;

#[test]
fn quickstart_prunes_to_exactly_90_percent_and_keeps_accuracy() {
    let dir = tempfile::tempdir().unwrap();
    let recipe = common::recipe("quickstart.toml", &[]).unwrap();
    let report = ember::train::run(&recipe, &common::options(dir.path())).unwrap();

    // report.json holds the contract fields.
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("report.json")).unwrap())
            .unwrap();
    assert_eq!(json["device"], "flex");
    let dense = json["dense"]["accuracy"].as_f64().unwrap();
    let last = json["final"]["accuracy"].as_f64().unwrap();
    let ratio = json["sparsity"]["ratio"].as_f64().unwrap();
    assert!(json["wall_seconds"].as_f64().unwrap() > 0.0);

    // Exactly round(0.9 * n) of the 266,200 weights are zero: the biases are not selected.
    let numel = 784 * 300 + 300 * 100 + 100 * 10;
    assert_eq!(report.sparsity.selected_numel, numel);
    assert_eq!(report.sparsity.selected_zeros, prune_count(0.9, numel));
    assert_eq!(ratio, prune_count(0.9, numel) as f64 / numel as f64);
    let layers = json["layers"].as_array().unwrap();
    assert_eq!(layers.len(), 6);
    let zeros: u64 = layers
        .iter()
        .filter(|l| l["selected"].as_bool().unwrap())
        .map(|l| l["zeros"].as_u64().unwrap())
        .sum();
    assert_eq!(zeros as usize, prune_count(0.9, numel));
    for layer in layers {
        let (numel, zeros) = (
            layer["numel"].as_f64().unwrap(),
            layer["zeros"].as_f64().unwrap(),
        );
        assert_eq!(layer["sparsity"].as_f64().unwrap(), zeros / numel);
        assert!(layer["path"].as_str().unwrap().starts_with("layers."));
    }

    // GMP keeps the dense accuracy (within 1.5 points) on this data.
    assert!(dense > 85.0, "dense accuracy {dense}");
    assert!((dense - last).abs() <= 1.5, "dense {dense} vs final {last}");

    // metrics.csv: a header and one row per epoch of both phases.
    let csv = std::fs::read_to_string(dir.path().join("metrics.csv")).unwrap();
    let rows: Vec<&str> = csv.lines().collect();
    assert_eq!(rows[0], ember::train::EpochRow::CSV_HEADER);
    assert_eq!(rows.len(), 1 + 10 + 12);
    assert!(rows.last().unwrap().starts_with("sparse,12,"));
    assert!(rows.last().unwrap().ends_with(",0.900000"));

    // recipe.toml is the resolved recipe and loads back to the same value.
    let resolved = std::fs::read_to_string(dir.path().join("recipe.toml")).unwrap();
    let again = ember::train::Recipe::from_toml(&resolved, "recipe.toml", &[]).unwrap();
    assert_eq!(again, recipe);
}
