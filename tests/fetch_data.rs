//! `ember fetch mnist` / `fashion-mnist`'s download path (`ember::fetch::download_idx_set`)
//! against a loopback mirror: the files arrive under their final names only once their
//! SHA-256 matches; a 404, a wrong checksum and a cut transfer are each a precise error that
//! leaves nothing a later run would take for a complete file, and a cut transfer is continued
//! by the next fetch with a `Range` request.

mod common;

use std::collections::HashMap;
use std::io::Write;

use burn::data::dataset::Dataset;
use common::http::{Hub, Quirk};
use common::names_in;
use ember::data::DatasetSource;
use ember::data::source::IDX_STEMS;
use ember::fetch::idx::{IdxSet, MNIST, Offline, content_sha256};

/// Small IDX files in MNIST's layout: `count` images of 28×28 and their labels, train and
/// test, gzip'd as the mirrors serve them.
fn idx_files(train: u32, test: u32) -> Vec<(String, Vec<u8>, Vec<u8>)> {
    let images = |count: u32, salt: u8| {
        let mut bytes = vec![0, 0, 8, 3];
        for dim in [count, 28, 28] {
            bytes.extend_from_slice(&dim.to_be_bytes());
        }
        // Varied pixels, so that gzip cannot shrink a file below one read buffer.
        let mut x: u32 = 0x1234_5678 ^ u32::from(salt);
        bytes.extend((0..count * 784).map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            (x >> 24) as u8
        }));
        bytes
    };
    let labels = |count: u32| {
        let mut bytes = vec![0, 0, 8, 1];
        bytes.extend_from_slice(&count.to_be_bytes());
        bytes.extend((0..count).map(|i| (i % 10) as u8));
        bytes
    };
    let raw = [
        images(train, 1),
        labels(train),
        images(test, 2),
        labels(test),
    ];
    IDX_STEMS
        .iter()
        .zip(raw)
        .map(|(stem, raw)| {
            let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            gz.write_all(&raw).unwrap();
            (stem.to_string(), raw, gz.finish().unwrap())
        })
        .collect()
}

/// A set whose sums are those of `files`' uncompressed content.
fn set_of(files: &[(String, Vec<u8>, Vec<u8>)]) -> IdxSet {
    let dir = tempfile::tempdir().unwrap();
    let sums: Vec<&'static str> = files
        .iter()
        .map(|(stem, raw, _)| {
            let path = dir.path().join(stem);
            std::fs::write(&path, raw).unwrap();
            &*content_sha256(&path).unwrap().leak()
        })
        .collect();
    IdxSet {
        sha256: sums.try_into().unwrap(),
        mirrors: &[],
        offline: Offline::PypiSdist("none==0"),
        ..MNIST
    }
}

/// The mirror serving `files` under `/mnist/<stem>.gz`.
fn mirror(files: &[(String, Vec<u8>, Vec<u8>)], quirks: HashMap<String, Quirk>) -> (Hub, String) {
    let served = files
        .iter()
        .map(|(stem, _, gz)| (format!("/mnist/{stem}.gz"), gz.clone()))
        .collect();
    let hub = Hub::start(served, quirks);
    let base = format!("{}/mnist/", hub.endpoint);
    (hub, base)
}

#[test]
fn the_four_files_arrive_checked_and_load_as_mnist() {
    let files = idx_files(20, 10);
    let set = set_of(&files);
    let (hub, base) = mirror(&files, HashMap::new());
    let cache = tempfile::tempdir().unwrap();
    let target = cache.path().join("mnist");
    let got = ember::fetch::download_idx_set(&set, &[base], &target).unwrap();
    assert_eq!(got, target);
    let mut want: Vec<String> = IDX_STEMS.iter().map(|s| format!("{s}.gz")).collect();
    want.sort();
    assert_eq!(names_in(&target), want, "final names only, no partial file");
    let splits = DatasetSource::Mnist(target.clone()).load().unwrap();
    assert_eq!((splits.train.len(), splits.test.len()), (20, 10));
    assert_eq!(hub.requests().len(), 4);
    // A complete folder is checked and returned without a request.
    ember::fetch::download_idx_set(&set, &["http://127.0.0.1:9/".into()], &target).unwrap();
    assert_eq!(hub.requests().len(), 4);
}

#[test]
fn a_404_names_its_url_and_leaves_no_file_for_it() {
    let files = idx_files(4, 4);
    let set = set_of(&files);
    let mut served = files.clone();
    served.retain(|(stem, ..)| stem != "t10k-labels-idx1-ubyte");
    let (_hub, base) = mirror(&served, HashMap::new());
    let cache = tempfile::tempdir().unwrap();
    let target = cache.path().join("mnist");
    let error = ember::fetch::download_idx_set(&set, std::slice::from_ref(&base), &target)
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("404") && error.contains(&format!("{base}t10k-labels-idx1-ubyte.gz")),
        "{error}"
    );
    assert!(
        !names_in(&target)
            .iter()
            .any(|n| n.starts_with("t10k-labels")),
        "{:?}",
        names_in(&target)
    );
}

#[test]
fn a_wrong_checksum_is_an_error_and_the_download_is_removed() {
    let files = idx_files(4, 4);
    let mut set = set_of(&files);
    set.sha256[1] = "0000000000000000000000000000000000000000000000000000000000000000";
    let (_hub, base) = mirror(&files, HashMap::new());
    let cache = tempfile::tempdir().unwrap();
    let target = cache.path().join("mnist");
    let error = ember::fetch::download_idx_set(&set, &[base], &target)
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("wrong checksum") && error.contains("train-labels-idx1-ubyte.gz"),
        "{error}"
    );
    assert!(
        !names_in(&target)
            .iter()
            .any(|n| n.starts_with("train-labels")),
        "neither the file nor its partial download stays: {:?}",
        names_in(&target)
    );
    // A file damaged in the cache later is found, removed and fetched again.
    let good = set_of(&files);
    let (hub, base) = mirror(&files, HashMap::new());
    ember::fetch::download_idx_set(&good, std::slice::from_ref(&base), &target).unwrap();
    let before = hub.requests().len();
    let damaged = target.join("train-images-idx3-ubyte.gz");
    let mut bytes = std::fs::read(&damaged).unwrap();
    bytes.truncate(bytes.len() / 2);
    std::fs::write(&damaged, bytes).unwrap();
    ember::fetch::download_idx_set(&good, &[base], &target).unwrap();
    assert_eq!(
        hub.requests().len(),
        before + 1,
        "only the damaged file again"
    );
    DatasetSource::Mnist(target).load().unwrap();
}

#[test]
fn a_cut_transfer_is_kept_as_partial_and_continued_with_a_range_request() {
    let files = idx_files(200, 10);
    let set = set_of(&files);
    let path = "/mnist/train-images-idx3-ubyte.gz".to_string();
    let (hub, base) = mirror(&files, HashMap::from([(path.clone(), Quirk::TruncateOnce)]));
    let cache = tempfile::tempdir().unwrap();
    let target = cache.path().join("mnist");
    let error = ember::fetch::download_idx_set(&set, std::slice::from_ref(&base), &target)
        .unwrap_err()
        .to_string();
    assert!(error.contains("truncated download"), "{error}");
    assert_eq!(
        names_in(&target),
        ["train-images-idx3-ubyte.gz.partial"],
        "only the partial file, under a name no reader takes"
    );
    let kept = std::fs::metadata(target.join("train-images-idx3-ubyte.gz.partial"))
        .unwrap()
        .len();
    let whole = files[0].2.len() as u64;
    assert_eq!(kept, whole / 2);
    ember::fetch::download_idx_set(&set, &[base], &target).unwrap();
    let asked: Vec<(String, String)> = hub.requests().into_iter().zip(hub.ranges()).collect();
    assert!(
        asked.contains(&(path, format!("bytes={kept}-"))),
        "the second fetch continues from byte {kept}: {asked:?}"
    );
    DatasetSource::Mnist(target).load().unwrap();
}

#[test]
fn the_published_sums_are_those_of_the_canonical_files() {
    // MNIST's canonical SHA-256 sums, and Fashion-MNIST's from Debian's package: a typo in
    // the table would make every fetch fail its check.
    assert_eq!(
        MNIST.sha256[0],
        "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db"
    );
    let shared = common::root().join("../shared/data/mnist");
    if !shared.is_dir() {
        eprintln!(
            "skipping the check against real files: {} is absent",
            shared.display()
        );
        return;
    }
    for (stem, sum) in IDX_STEMS.iter().zip(MNIST.sha256) {
        let path = [shared.join(stem), shared.join(format!("{stem}.gz"))]
            .into_iter()
            .find(|p| p.is_file())
            .unwrap();
        assert_eq!(content_sha256(&path).unwrap(), sum, "{}", path.display());
    }
}
