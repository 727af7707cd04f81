//! An in-memory dataset of equally sized images.

use burn::data::dataset::{Dataset, DatasetError};
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;

use crate::{DataError, ImageItem};

/// Where items handed to [`ImageDataset::new`] come from, for error messages.
const ORIGIN: &str = "in-memory image dataset";

/// An in-memory, validated collection of [`ImageItem`]s of one size.
///
/// Construction checks that every item has exactly `rows * cols` pixels and a
/// label in `0..=9`, so consumers (the batcher, the models) can rely on it.
#[derive(Clone, Debug)]
pub struct ImageDataset {
    items: Vec<ImageItem>,
    rows: usize,
    cols: usize,
}

impl ImageDataset {
    /// Builds a dataset of `rows x cols` images.
    ///
    /// # Errors
    ///
    /// [`DataError::InvalidDimensions`] if `rows` or `cols` is zero or their
    /// product overflows, [`DataError::PixelCountMismatch`] if an item does
    /// not have `rows * cols` pixels, [`DataError::LabelOutOfRange`] if a label
    /// is above 9.
    pub fn new(items: Vec<ImageItem>, rows: usize, cols: usize) -> Result<Self, DataError> {
        let expected = image_len(rows, cols)?;
        for (index, item) in items.iter().enumerate() {
            if item.pixels.len() != expected {
                return Err(DataError::PixelCountMismatch {
                    origin: ORIGIN.to_owned(),
                    index,
                    expected,
                    found: item.pixels.len(),
                });
            }
            if item.label > 9 {
                return Err(DataError::LabelOutOfRange {
                    origin: ORIGIN.to_owned(),
                    index,
                    label: item.label,
                });
            }
        }
        Ok(Self { items, rows, cols })
    }

    /// Number of pixel rows of every image.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Number of pixel columns of every image.
    pub fn cols(&self) -> usize {
        self.cols
    }

    /// All items, in order.
    pub fn items(&self) -> &[ImageItem] {
        &self.items
    }

    /// Keeps `n` items spread evenly over the data set (all of them if there are fewer): item
    /// `floor(i * len / n)` for `i` in `0..n`. A file sorted by class keeps every class in
    /// proportion, which [`take`](Self::take) would not.
    pub fn evenly_spaced(mut self, n: usize) -> Self {
        let len = self.items.len();
        if n < len {
            self.items = (0..n).map(|i| self.items[i * len / n].clone()).collect();
        }
        self
    }

    /// Splits off a validation set: from each class, `round(fraction · count)` items drawn
    /// with `seed`. Returns `(train, validation)`, each keeping the original order, so the
    /// split is the same on every machine and every class keeps its share in both.
    pub fn split_validation(self, fraction: f64, seed: u64) -> (Self, Self) {
        let mut by_class: Vec<Vec<usize>> = vec![Vec::new(); 10];
        for (index, item) in self.items.iter().enumerate() {
            by_class[item.label as usize].push(index);
        }
        let mut rng = StdRng::seed_from_u64(seed);
        let mut held_out = vec![false; self.items.len()];
        for indices in &mut by_class {
            let take = (fraction.clamp(0.0, 1.0) * indices.len() as f64).round() as usize;
            indices.shuffle(&mut rng);
            for &index in indices.iter().take(take) {
                held_out[index] = true;
            }
        }
        let (mut train, mut valid) = (Vec::new(), Vec::new());
        for (item, out) in self.items.into_iter().zip(held_out) {
            if out {
                valid.push(item);
            } else {
                train.push(item);
            }
        }
        let (rows, cols) = (self.rows, self.cols);
        (
            Self {
                items: train,
                rows,
                cols,
            },
            Self {
                items: valid,
                rows,
                cols,
            },
        )
    }

    /// Keeps only the first `n` items (all of them if there are fewer).
    pub fn take(mut self, n: usize) -> Self {
        self.items.truncate(n);
        self
    }
}

/// `rows * cols`, or an error if either is zero or the product overflows.
pub(crate) fn image_len(rows: usize, cols: usize) -> Result<usize, DataError> {
    rows.checked_mul(cols)
        .filter(|&len| len > 0)
        .ok_or(DataError::InvalidDimensions { rows, cols })
}

impl Dataset<ImageItem> for ImageDataset {
    /// Returns a clone of item `index`.
    ///
    /// # Panics
    ///
    /// Panics if `index >= len()`, as the [`Dataset`] contract requires.
    fn get(&self, index: usize) -> Result<ImageItem, DatasetError> {
        match self.items.get(index) {
            Some(item) => Ok(item.clone()),
            None => panic!(
                "index out of bounds for ImageDataset: {index} >= {}",
                self.items.len()
            ),
        }
    }

    fn len(&self) -> usize {
        self.items.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(len: usize, label: u8) -> ImageItem {
        ImageItem {
            pixels: vec![label; len],
            label,
        }
    }

    #[test]
    fn new_accepts_consistent_items() {
        let ds = ImageDataset::new(vec![item(6, 1), item(6, 9)], 2, 3).unwrap();
        assert_eq!((ds.rows(), ds.cols()), (2, 3));
        assert_eq!(ds.len(), 2);
        assert_eq!(ds.get(1).unwrap(), item(6, 9));
        assert_eq!(ds.items()[0].label, 1);
    }

    #[test]
    fn new_accepts_empty_dataset() {
        let ds = ImageDataset::new(Vec::new(), 28, 28).unwrap();
        assert!(ds.is_empty());
    }

    #[test]
    fn new_rejects_wrong_pixel_count() {
        let err = ImageDataset::new(vec![item(6, 1), item(5, 2)], 2, 3).unwrap_err();
        assert!(
            matches!(
                err,
                DataError::PixelCountMismatch {
                    index: 1,
                    expected: 6,
                    found: 5,
                    ..
                }
            ),
            "{err}"
        );
    }

    #[test]
    fn new_rejects_label_above_nine() {
        let err = ImageDataset::new(vec![item(4, 10)], 2, 2).unwrap_err();
        assert!(
            matches!(
                err,
                DataError::LabelOutOfRange {
                    index: 0,
                    label: 10,
                    ..
                }
            ),
            "{err}"
        );
    }

    #[test]
    fn new_rejects_zero_dimensions() {
        let err = ImageDataset::new(Vec::new(), 0, 28).unwrap_err();
        assert!(matches!(
            err,
            DataError::InvalidDimensions { rows: 0, cols: 28 }
        ));
        let err = ImageDataset::new(Vec::new(), usize::MAX, 2).unwrap_err();
        assert!(matches!(err, DataError::InvalidDimensions { .. }));
    }

    #[test]
    fn evenly_spaced_keeps_every_part() {
        let items: Vec<_> = (0..10).map(|l| item(1, l)).collect();
        let ds = ImageDataset::new(items, 1, 1).unwrap();
        let labels: Vec<u8> = ds
            .clone()
            .evenly_spaced(3)
            .items()
            .iter()
            .map(|i| i.label)
            .collect();
        assert_eq!(labels, [0, 3, 6]);
        let labels: Vec<u8> = ds
            .clone()
            .evenly_spaced(5)
            .items()
            .iter()
            .map(|i| i.label)
            .collect();
        assert_eq!(labels, [0, 2, 4, 6, 8]);
        assert_eq!(ds.evenly_spaced(20).len(), 10);
    }

    #[test]
    fn take_keeps_the_first_items() {
        let items: Vec<_> = (0..5).map(|l| item(1, l)).collect();
        let ds = ImageDataset::new(items, 1, 1).unwrap();
        let labels: Vec<u8> = ds.clone().take(3).items().iter().map(|i| i.label).collect();
        assert_eq!(labels, [0, 1, 2]);
        assert_eq!(ds.take(10).len(), 5);
    }

    #[test]
    #[should_panic(expected = "index out of bounds")]
    fn get_out_of_bounds_panics_per_dataset_contract() {
        let ds = ImageDataset::new(vec![item(1, 0)], 1, 1).unwrap();
        let _ = ds.get(1);
    }
}

#[cfg(test)]
mod split_tests {
    use super::*;

    fn items(per_class: usize) -> ImageDataset {
        let items = (0..10 * per_class)
            .map(|i| ImageItem {
                pixels: vec![(i % 251) as u8; 4],
                label: (i % 10) as u8,
            })
            .collect();
        ImageDataset::new(items, 2, 2).unwrap()
    }

    #[test]
    fn the_validation_split_is_stratified_disjoint_seeded_and_complete() {
        let all = items(30);
        let (train, valid) = all.clone().split_validation(0.1, 7);
        assert_eq!((train.len(), valid.len()), (270, 30));
        for class in 0..10u8 {
            let count = valid.items().iter().filter(|i| i.label == class).count();
            assert_eq!(count, 3, "class {class}");
        }
        // Same seed, same split; another seed, another one.
        let (_, again) = all.clone().split_validation(0.1, 7);
        assert_eq!(again.items(), valid.items());
        let (_, other) = all.clone().split_validation(0.1, 8);
        assert_ne!(other.items(), valid.items());
        // Nothing lost, nothing twice: pixels encode the original index here.
        let mut seen: Vec<Vec<u8>> = train
            .items()
            .iter()
            .chain(valid.items())
            .map(|i| [i.pixels.clone(), vec![i.label]].concat())
            .collect();
        seen.sort();
        let mut want: Vec<Vec<u8>> = all
            .items()
            .iter()
            .map(|i| [i.pixels.clone(), vec![i.label]].concat())
            .collect();
        want.sort();
        assert_eq!(seen, want);
        let (train, valid) = all.split_validation(0.0, 7);
        assert_eq!((train.len(), valid.len()), (300, 0));
    }
}
