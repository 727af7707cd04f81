//! Where a train/test pair of datasets comes from.

use std::path::{Path, PathBuf};

use crate::idx::{read_idx_images, read_idx_labels};
use crate::{DataError, ImageDataset, ImageItem, data_dir, embedded_mnist_5k};

/// File name stem of the training images in an MNIST-layout directory.
const TRAIN_IMAGES: &str = "train-images-idx3-ubyte";
/// File name stem of the training labels in an MNIST-layout directory.
const TRAIN_LABELS: &str = "train-labels-idx1-ubyte";
/// File name stem of the test images in an MNIST-layout directory.
const TEST_IMAGES: &str = "t10k-images-idx3-ubyte";
/// File name stem of the test labels in an MNIST-layout directory.
const TEST_LABELS: &str = "t10k-labels-idx1-ubyte";

/// A train split and a test split of images of the same size.
#[derive(Clone, Debug)]
pub struct Splits {
    /// Images to train on.
    pub train: ImageDataset,
    /// Held-out images to evaluate on.
    pub test: ImageDataset,
}

/// The origin of a dataset.
#[derive(Clone, Debug, PartialEq)]
pub enum DatasetSource {
    /// The 5000-image MNIST subset built into the crate; see
    /// [`embedded_mnist_5k`].
    Embedded,
    /// A directory with the four MNIST IDX files (`train-images-idx3-ubyte`,
    /// `train-labels-idx1-ubyte`, `t10k-images-idx3-ubyte`,
    /// `t10k-labels-idx1-ubyte`), each raw or with a `.gz` suffix.
    Mnist(PathBuf),
    /// A directory with the four Fashion-MNIST IDX files, named as for
    /// [`DatasetSource::Mnist`]; Debian's `fashion-mnist` package installs
    /// them in [`DatasetSource::FASHION_MNIST_DEBIAN_DIR`].
    FashionMnist(PathBuf),
}

impl DatasetSource {
    /// Where Debian's `fashion-mnist` package installs the Fashion-MNIST
    /// files.
    pub const FASHION_MNIST_DEBIAN_DIR: &'static str = "/usr/share/datasets/fashion-mnist";

    /// Loads the train and test splits.
    ///
    /// For a directory source, each file is looked up under its plain name
    /// first, then with a `.gz` suffix; either may be gzip-compressed or not
    /// (the content decides).
    ///
    /// # Errors
    ///
    /// [`DataError::MissingFile`] listing the names tried when a file is
    /// absent, [`DataError::CountMismatch`] when an image file and its label
    /// file disagree on the count, [`DataError::SplitDimensionMismatch`] when
    /// train and test images differ in size, and any error of the IDX reader
    /// ([`read_idx_images`], [`read_idx_labels`]) naming the bad file.
    pub fn load(&self) -> Result<Splits, DataError> {
        let (dir, name, command) = match self {
            Self::Embedded => return embedded_mnist_5k(),
            Self::Mnist(dir) => (dir, "MNIST", "mnist"),
            Self::FashionMnist(dir) => (dir, "Fashion-MNIST", "fashion-mnist"),
        };
        load_idx_dir(dir).map_err(|error| match error {
            // The cache folder is empty until `ember fetch`: say which command fills it.
            DataError::MissingFile { dir, candidates }
                if data_dir(command).ok() == Some(dir.clone()) =>
            {
                DataError::NotFetched {
                    name,
                    command,
                    dir,
                    missing: candidates.join(" or "),
                }
            }
            other => other,
        })
    }

    /// MNIST from Ember's cache, `<cache>/data/mnist`, where `ember fetch mnist` puts it
    /// (loading says so when it is not there yet).
    ///
    /// # Errors
    /// [`DataError::Cache`] when the cache folder is unknown.
    pub fn mnist_in_cache() -> Result<Self, DataError> {
        Ok(Self::Mnist(data_dir("mnist")?))
    }

    /// Fashion-MNIST from Ember's cache (`<cache>/data/fashion-mnist`, filled by `ember fetch
    /// fashion-mnist`), or else from Debian's [`DatasetSource::FASHION_MNIST_DEBIAN_DIR`]
    /// when that package is installed; loading names the fetch command when neither holds it.
    ///
    /// # Errors
    /// [`DataError::Cache`] when the cache folder is unknown.
    pub fn fashion_mnist_in_cache() -> Result<Self, DataError> {
        let cache = data_dir("fashion-mnist")?;
        let debian = Path::new(Self::FASHION_MNIST_DEBIAN_DIR);
        let complete = |dir: &Path| IDX_STEMS.iter().all(|stem| find_file(dir, stem).is_ok());
        Ok(Self::FashionMnist(
            if !complete(&cache) && complete(debian) {
                debian.to_path_buf()
            } else {
                cache
            },
        ))
    }
}

/// The four files of an MNIST-layout directory: training images and labels, test images and
/// labels.
pub const IDX_STEMS: [&str; 4] = [TRAIN_IMAGES, TRAIN_LABELS, TEST_IMAGES, TEST_LABELS];

/// Loads both splits from an MNIST-layout directory.
fn load_idx_dir(dir: &Path) -> Result<Splits, DataError> {
    let train = load_idx_pair(dir, TRAIN_IMAGES, TRAIN_LABELS)?;
    let test = load_idx_pair(dir, TEST_IMAGES, TEST_LABELS)?;
    if (train.rows(), train.cols()) != (test.rows(), test.cols()) {
        return Err(DataError::SplitDimensionMismatch {
            origin: dir.display().to_string(),
            train_rows: train.rows(),
            train_cols: train.cols(),
            test_rows: test.rows(),
            test_cols: test.cols(),
        });
    }
    Ok(Splits { train, test })
}

/// Loads one split from its image file and label file.
fn load_idx_pair(
    dir: &Path,
    images_stem: &str,
    labels_stem: &str,
) -> Result<ImageDataset, DataError> {
    let images_path = find_file(dir, images_stem)?;
    let labels_path = find_file(dir, labels_stem)?;
    let (images, rows, cols) = read_idx_images(&images_path)?;
    let labels = read_idx_labels(&labels_path)?;
    if images.len() != labels.len() {
        return Err(DataError::CountMismatch {
            images_origin: images_path.display().to_string(),
            images: images.len(),
            labels_origin: labels_path.display().to_string(),
            labels: labels.len(),
        });
    }
    let items = images
        .into_iter()
        .zip(labels)
        .map(|(pixels, label)| ImageItem { pixels, label })
        .collect();
    ImageDataset::new(items, rows, cols)
}

/// Returns `dir/stem` if it exists, else `dir/stem.gz` if that exists.
fn find_file(dir: &Path, stem: &str) -> Result<PathBuf, DataError> {
    let candidates = [stem.to_owned(), format!("{stem}.gz")];
    let paths: Vec<PathBuf> = candidates.iter().map(|name| dir.join(name)).collect();
    if let Some(path) = paths.iter().find(|path| path.is_file()) {
        return Ok(path.clone());
    }
    // Present but not a file (a directory, say): say so rather than "missing".
    if let Some(path) = paths.iter().find(|path| path.exists()) {
        return Err(DataError::Io {
            path: path.clone(),
            source: std::io::Error::other("it is not a regular file (a directory?)"),
        });
    }
    Err(DataError::MissingFile {
        dir: dir.to_path_buf(),
        candidates: candidates.to_vec(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_directory_in_place_of_a_data_file_is_named_as_such() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("train-images-idx3-ubyte")).unwrap();
        let err = find_file(dir.path(), "train-images-idx3-ubyte").unwrap_err();
        let message = err.to_string();
        assert!(
            message.contains("train-images-idx3-ubyte") && message.contains("not a regular file"),
            "{message}"
        );
    }
    use burn::data::dataset::Dataset;
    use flate2::{Compression, write::GzEncoder};
    use std::io::Write;

    /// The directory holding full MNIST for the optional test: `shared/` beside the clone.
    fn shared_mnist_dir() -> std::path::PathBuf {
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/mnist")
    }

    fn images_idx(count: u32, rows: u32, cols: u32) -> Vec<u8> {
        let mut bytes = vec![0, 0, 8, 3];
        for dim in [count, rows, cols] {
            bytes.extend_from_slice(&dim.to_be_bytes());
        }
        let len = (count * rows * cols) as usize;
        bytes.extend((0..len).map(|i| (i % 251) as u8));
        bytes
    }

    fn labels_idx(count: u32) -> Vec<u8> {
        let mut bytes = vec![0, 0, 8, 1];
        bytes.extend_from_slice(&count.to_be_bytes());
        bytes.extend((0..count).map(|i| (i % 10) as u8));
        bytes
    }

    fn gz(data: &[u8]) -> Vec<u8> {
        let mut enc = GzEncoder::new(Vec::new(), Compression::fast());
        enc.write_all(data).unwrap();
        enc.finish().unwrap()
    }

    /// Writes a small Fashion-MNIST-style directory: train files gzip'd with
    /// `.gz` names, test files raw with plain names.
    fn write_dir(dir: &Path, train: u32, test_images: u32, test_labels: u32) {
        let write = |name: &str, bytes: Vec<u8>| std::fs::write(dir.join(name), bytes).unwrap();
        write("train-images-idx3-ubyte.gz", gz(&images_idx(train, 28, 28)));
        write("train-labels-idx1-ubyte.gz", gz(&labels_idx(train)));
        write("t10k-images-idx3-ubyte", images_idx(test_images, 28, 28));
        write("t10k-labels-idx1-ubyte", labels_idx(test_labels));
    }

    #[test]
    fn loads_a_fashion_mnist_directory() {
        let dir = tempfile::tempdir().unwrap();
        write_dir(dir.path(), 12, 5, 5);
        let splits = DatasetSource::FashionMnist(dir.path().to_path_buf())
            .load()
            .unwrap();
        assert_eq!(splits.train.len(), 12);
        assert_eq!(splits.test.len(), 5);
        assert_eq!((splits.train.rows(), splits.train.cols()), (28, 28));
        let item = splits.train.get(3).unwrap();
        assert_eq!(item.label, 3);
        assert_eq!(item.pixels[0], ((3 * 784) % 251) as u8);
    }

    #[test]
    fn count_mismatch_names_both_files() {
        let dir = tempfile::tempdir().unwrap();
        write_dir(dir.path(), 4, 5, 6);
        let err = DatasetSource::Mnist(dir.path().to_path_buf())
            .load()
            .unwrap_err();
        assert!(
            matches!(
                err,
                DataError::CountMismatch {
                    images: 5,
                    labels: 6,
                    ..
                }
            ),
            "{err}"
        );
        let msg = err.to_string();
        assert!(msg.contains("t10k-images-idx3-ubyte"), "{msg}");
        assert!(msg.contains("t10k-labels-idx1-ubyte"), "{msg}");
    }

    #[test]
    fn missing_file_lists_the_names_tried() {
        let dir = tempfile::tempdir().unwrap();
        write_dir(dir.path(), 2, 2, 2);
        std::fs::remove_file(dir.path().join("t10k-labels-idx1-ubyte")).unwrap();
        let err = DatasetSource::Mnist(dir.path().to_path_buf())
            .load()
            .unwrap_err();
        assert!(matches!(err, DataError::MissingFile { .. }), "{err}");
        let msg = err.to_string();
        assert!(
            msg.contains("t10k-labels-idx1-ubyte and t10k-labels-idx1-ubyte.gz"),
            "{msg}"
        );
    }

    #[test]
    fn split_dimension_mismatch_is_reported() {
        let dir = tempfile::tempdir().unwrap();
        write_dir(dir.path(), 2, 2, 2);
        std::fs::write(
            dir.path().join("t10k-images-idx3-ubyte"),
            images_idx(2, 32, 32),
        )
        .unwrap();
        let err = DatasetSource::Mnist(dir.path().to_path_buf())
            .load()
            .unwrap_err();
        assert!(
            matches!(err, DataError::SplitDimensionMismatch { .. }),
            "{err}"
        );
    }

    #[test]
    fn corrupt_file_error_names_the_file() {
        let dir = tempfile::tempdir().unwrap();
        write_dir(dir.path(), 2, 2, 2);
        let bytes = images_idx(2, 28, 28);
        std::fs::write(dir.path().join("t10k-images-idx3-ubyte"), &bytes[..100]).unwrap();
        let err = DatasetSource::Mnist(dir.path().to_path_buf())
            .load()
            .unwrap_err();
        assert!(matches!(err, DataError::Truncated { .. }), "{err}");
        assert!(err.to_string().contains("t10k-images-idx3-ubyte"), "{err}");
    }

    #[test]
    fn embedded_source_loads() {
        let splits = DatasetSource::Embedded.load().unwrap();
        assert_eq!((splits.train.len(), splits.test.len()), (4500, 500));
    }

    #[test]
    fn loads_full_mnist_when_present() {
        let dir = shared_mnist_dir();
        if !dir.is_dir() {
            eprintln!("skipping: {} not found", dir.display());
            return;
        }
        let splits = DatasetSource::Mnist(dir.to_path_buf()).load().unwrap();
        assert_eq!(splits.train.len(), 60_000);
        assert_eq!(splits.test.len(), 10_000);
        assert_eq!((splits.train.rows(), splits.train.cols()), (28, 28));
        // Well-known first labels of the MNIST training and test sets.
        let labels =
            |ds: &ImageDataset| ds.items()[..5].iter().map(|i| i.label).collect::<Vec<_>>();
        assert_eq!(labels(&splits.train), [5, 0, 4, 1, 9]);
        assert_eq!(labels(&splits.test), [7, 2, 1, 0, 4]);
    }
}
