//! Labelled sentences in memory, and a seeded, stratified split.

use std::io::Write;
use std::path::Path;

use burn::data::dataset::{Dataset, DatasetError};
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;

use crate::DataError;

/// One labelled sentence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TextItem {
    /// The sentence.
    pub text: String,
    /// Its class, `0..classes`.
    pub label: usize,
}

/// Labelled sentences in memory.
#[derive(Debug, Clone, Default)]
pub struct TextDataset {
    items: Vec<TextItem>,
}

impl TextDataset {
    /// A dataset of `items`.
    pub fn new(items: Vec<TextItem>) -> Self {
        Self { items }
    }

    /// The items.
    pub fn items(&self) -> &[TextItem] {
        &self.items
    }

    /// The number of items of each class, indexed by label.
    pub fn class_counts(&self) -> Vec<usize> {
        let classes = self.items.iter().map(|i| i.label + 1).max().unwrap_or(0);
        let mut counts = vec![0; classes];
        for item in &self.items {
            counts[item.label] += 1;
        }
        counts
    }

    /// At most `n` items, each class keeping its share (`round(n · n_c / len)`, evenly spaced
    /// over the class's items), in their original order: a smaller training set for quick
    /// runs that is still balanced like the full one. `n >= len()` keeps everything.
    pub fn stratified_subset(self, n: usize) -> Self {
        let total = self.items.len();
        if n >= total {
            return self;
        }
        let counts = self.class_counts();
        let mut seen = vec![0usize; counts.len()];
        let mut taken = vec![0usize; counts.len()];
        let share: Vec<usize> = counts
            .iter()
            .map(|&c| ((n as f64) * (c as f64) / (total as f64)).round() as usize)
            .collect();
        let items = self
            .items
            .into_iter()
            .filter(|item| {
                let class = item.label;
                let rank = seen[class];
                seen[class] += 1;
                // Item `rank` of its class is kept when it reaches the next of `share` evenly
                // spaced positions `floor(j · n_c / share)`.
                let keep = taken[class] < share[class]
                    && rank == taken[class] * counts[class] / share[class];
                if keep {
                    taken[class] += 1;
                }
                keep
            })
            .collect();
        Self { items }
    }
}

impl Dataset<TextItem> for TextDataset {
    /// # Panics
    /// If `index >= len()`, as burn's `Dataset` contract asks.
    fn get(&self, index: usize) -> Result<TextItem, DatasetError> {
        Ok(self.items[index].clone())
    }

    fn len(&self) -> usize {
        self.items.len()
    }
}

/// Train, validation and test splits. Model selection and early decisions use
/// `validation`; `test` is for final numbers only.
#[derive(Debug, Clone)]
pub struct TextSplits {
    /// Training sentences.
    pub train: TextDataset,
    /// Held-out sentences for model selection.
    pub validation: TextDataset,
    /// Held-out sentences for the final report.
    pub test: TextDataset,
}

impl TextSplits {
    /// Splits `data` per class: each class's items are shuffled with a generator seeded by
    /// `seed`, then the first `round(validation · n_c)` go to validation, the next
    /// `round(test · n_c)` to test and the rest to training, so every split keeps the
    /// class balance. Within a split, items keep the order of `data`. The same data and seed
    /// always give the same splits.
    pub fn stratified(data: TextDataset, validation: f64, test: f64, seed: u64) -> Self {
        let classes = data.class_counts().len();
        let mut by_class: Vec<Vec<usize>> = vec![Vec::new(); classes];
        for (index, item) in data.items.iter().enumerate() {
            by_class[item.label].push(index);
        }
        // 0 = train, 1 = validation, 2 = test.
        let mut split_of = vec![0u8; data.items.len()];
        let mut rng = StdRng::seed_from_u64(seed);
        for members in &mut by_class {
            members.shuffle(&mut rng);
            let n = members.len() as f64;
            let n_validation = (validation * n).round() as usize;
            let n_test = ((test * n).round() as usize).min(members.len() - n_validation);
            for (rank, &index) in members.iter().enumerate() {
                split_of[index] = if rank < n_validation {
                    1
                } else if rank < n_validation + n_test {
                    2
                } else {
                    0
                };
            }
        }
        let mut parts = [Vec::new(), Vec::new(), Vec::new()];
        for (item, split) in data.items.into_iter().zip(split_of) {
            parts[split as usize].push(item);
        }
        let [train, validation, test] = parts.map(TextDataset::new);
        Self {
            train,
            validation,
            test,
        }
    }

    /// Writes the splits into `dir` as `train.jsonl`, `validation.jsonl` and `test.jsonl`,
    /// one `{"text": ..., "label": ...}` object per line in split order, so that another
    /// toolkit (PyTorch, `transformers`) can be trained and tested on the very sentences an
    /// Ember run uses. Each file appears whole or not at all (written beside, then renamed).
    pub fn write_jsonl(&self, dir: &Path) -> Result<(), DataError> {
        let write_error = |path: &Path, source| DataError::Write {
            path: path.to_path_buf(),
            source,
        };
        std::fs::create_dir_all(dir).map_err(|e| write_error(dir, e))?;
        for (name, split) in [
            ("train", &self.train),
            ("validation", &self.validation),
            ("test", &self.test),
        ] {
            let path = dir.join(format!("{name}.jsonl"));
            let partial = dir.join(format!(".{name}.jsonl.partial"));
            let mut text = String::new();
            for item in split.items() {
                let line = serde_json::json!({ "text": item.text, "label": item.label });
                text.push_str(&line.to_string());
                text.push('\n');
            }
            std::fs::File::create(&partial)
                .and_then(|mut file| file.write_all(text.as_bytes()))
                .and_then(|()| std::fs::rename(&partial, &path))
                .map_err(|e| write_error(&path, e))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod subset_tests {
    use super::*;

    fn items(labels: &[usize]) -> TextDataset {
        TextDataset::new(
            labels
                .iter()
                .enumerate()
                .map(|(i, &label)| TextItem {
                    text: format!("s{i}"),
                    label,
                })
                .collect(),
        )
    }

    #[test]
    fn stratified_subset_keeps_class_shares_and_order() {
        // 30 of class 0 then 70 of class 1, as a sorted file would have them.
        let labels: Vec<usize> = (0..100).map(|i| usize::from(i >= 30)).collect();
        let subset = items(&labels).stratified_subset(20);
        assert_eq!(subset.class_counts(), vec![6, 14]);
        let order: Vec<usize> = subset
            .items()
            .iter()
            .map(|item| item.text[1..].parse().unwrap())
            .collect();
        assert!(order.windows(2).all(|w| w[0] < w[1]), "{order:?}");
        // Evenly spaced: class 0 keeps 0, 5, 10, … and the last kept is near its end.
        assert_eq!(&order[..6], &[0, 5, 10, 15, 20, 25]);
        assert_eq!(items(&labels).stratified_subset(1000).items().len(), 100);
    }

    #[test]
    fn jsonl_splits_read_back_as_the_same_sentences_in_the_same_order() {
        let mut data = items(&[0, 1, 0, 1, 1, 0, 1, 1, 0, 1]);
        // Quotes, a backslash, a newline and non-ASCII survive the round trip.
        data.items[3].text = "say \"no\" \\ twice\nthen café".into();
        let splits = TextSplits::stratified(data, 0.2, 0.2, 3);
        let dir = tempfile::tempdir().unwrap();
        splits.write_jsonl(dir.path()).unwrap();
        for (name, split) in [
            ("train", &splits.train),
            ("validation", &splits.validation),
            ("test", &splits.test),
        ] {
            let text = std::fs::read_to_string(dir.path().join(format!("{name}.jsonl"))).unwrap();
            let read: Vec<TextItem> = text
                .lines()
                .map(|line| {
                    let row: serde_json::Value = serde_json::from_str(line).unwrap();
                    TextItem {
                        text: row["text"].as_str().unwrap().to_string(),
                        label: row["label"].as_u64().unwrap() as usize,
                    }
                })
                .collect();
            assert_eq!(read, split.items(), "{name}");
        }
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert_eq!(names.len(), 3, "no partial file is left: {names:?}");
    }

    #[test]
    fn jsonl_splits_name_the_file_they_cannot_write() {
        let dir = tempfile::tempdir().unwrap();
        let blocked = dir.path().join("file");
        std::fs::write(&blocked, "").unwrap();
        let splits = TextSplits::stratified(items(&[0, 1, 0, 1]), 0.0, 0.0, 1);
        let error = splits.write_jsonl(&blocked).unwrap_err().to_string();
        assert!(
            error.contains("cannot write") && error.contains("file"),
            "{error}"
        );
    }
}
