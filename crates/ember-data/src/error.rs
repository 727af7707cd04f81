//! The error type of this crate.

use std::path::PathBuf;

/// Everything that can go wrong while reading or assembling image data.
///
/// Variants that come from a file carry an `origin`: the path of the file (or
/// a description such as `"embedded mnist_5k.csv.gz"` for in-memory data), so
/// that the message alone tells the user which input is broken and how.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    /// Ember's cache folder cannot be found.
    #[error("Ember's cache folder is unknown: set EMBER_CACHE (or HOME)")]
    Cache,

    /// A data set that `ember fetch` provides is not in the cache yet.
    #[error(
        "{name} is not in Ember's cache ({} lacks {missing}): run `ember fetch {command}` \
         first, or set `data.dir` to a folder holding its four IDX files",
        dir.display()
    )]
    NotFetched {
        /// The data set, as people name it (`MNIST`).
        name: &'static str,
        /// The `ember fetch` argument that provides it (`mnist`).
        command: &'static str,
        /// The cache folder searched.
        dir: PathBuf,
        /// The first file not found.
        missing: String,
    },

    /// A text data file is malformed.
    #[error("text data {}: {message}", path.display())]
    Text {
        /// The file.
        path: PathBuf,
        /// What is wrong, with the line where one is at fault.
        message: String,
    },

    /// A tokenizer file could not be read or used.
    #[error("tokenizer {}: {message}", path.display())]
    Tokenizer {
        /// The `tokenizer.json`.
        path: PathBuf,
        /// What is wrong with it.
        message: String,
    },

    /// A file could not be opened or read.
    #[error("cannot read {}: {source}", path.display())]
    Io {
        /// The file that could not be read.
        path: PathBuf,
        /// The underlying I/O error.
        #[source]
        source: std::io::Error,
    },

    /// A file could not be written.
    #[error("cannot write {}: {source}", path.display())]
    Write {
        /// The file that could not be written.
        path: PathBuf,
        /// The underlying I/O error.
        #[source]
        source: std::io::Error,
    },

    /// The data starts with the gzip magic number but does not decompress.
    #[error("{origin}: invalid or truncated gzip data: {source}")]
    Gzip {
        /// Where the data came from.
        origin: String,
        /// The decompression error.
        #[source]
        source: std::io::Error,
    },

    /// The data ends before what its header announces (or before the header
    /// itself is complete).
    #[error("{origin}: truncated {what}: expected {expected} bytes, found {found}")]
    Truncated {
        /// Where the data came from.
        origin: String,
        /// Which part was cut short, e.g. `"IDX header"` or `"IDX image data"`.
        what: &'static str,
        /// The number of bytes needed.
        expected: usize,
        /// The number of bytes present.
        found: usize,
    },

    /// The data continues past what its header announces.
    #[error(
        "{origin}: {extra} unexpected trailing bytes after the {expected} bytes announced by the header"
    )]
    TrailingBytes {
        /// Where the data came from.
        origin: String,
        /// The number of bytes the header accounts for.
        expected: usize,
        /// The number of bytes beyond that.
        extra: usize,
    },

    /// The IDX magic number is not the one expected for this kind of file.
    #[error("{origin}: bad magic number 0x{found:08x}, expected 0x{expected:08x} ({what})")]
    BadMagic {
        /// Where the data came from.
        origin: String,
        /// What kind of file was expected, e.g. `"IDX image file"`.
        what: &'static str,
        /// The magic number that was expected.
        expected: u32,
        /// The magic number that was found.
        found: u32,
    },

    /// The IDX header is well-formed but describes impossible dimensions
    /// (a zero-sized image, or a size that overflows).
    #[error("{origin}: bad IDX header: {reason}")]
    BadHeader {
        /// Where the data came from.
        origin: String,
        /// What is wrong with the header.
        reason: String,
    },

    /// An image file and its label file hold different numbers of items.
    #[error(
        "count mismatch: {images_origin} holds {images} images but {labels_origin} holds {labels} labels"
    )]
    CountMismatch {
        /// Where the images came from.
        images_origin: String,
        /// The number of images.
        images: usize,
        /// Where the labels came from.
        labels_origin: String,
        /// The number of labels.
        labels: usize,
    },

    /// A CSV row is malformed (wrong number of fields, a non-integer or
    /// out-of-range value, or a label above 9).
    #[error("{origin}, line {line}: {reason}")]
    BadCsvRow {
        /// Where the data came from.
        origin: String,
        /// The 1-based line number of the bad row.
        line: usize,
        /// What is wrong with the row.
        reason: String,
    },

    /// A label is outside `0..=9`.
    #[error("{origin}: label {label} of item {index} is out of range 0..=9")]
    LabelOutOfRange {
        /// Where the data came from.
        origin: String,
        /// The 0-based index of the offending item.
        index: usize,
        /// The offending label.
        label: u8,
    },

    /// An image has the wrong number of pixels for the declared dimensions.
    #[error("{origin}: item {index} has {found} pixels, expected {expected}")]
    PixelCountMismatch {
        /// Where the data came from.
        origin: String,
        /// The 0-based index of the offending item.
        index: usize,
        /// The number of pixels expected (`rows * cols`).
        expected: usize,
        /// The number of pixels found.
        found: usize,
    },

    /// Image dimensions are zero or overflow.
    #[error("invalid image dimensions {rows}x{cols}")]
    InvalidDimensions {
        /// Number of rows requested.
        rows: usize,
        /// Number of columns requested.
        cols: usize,
    },

    /// The train and test splits of a source have different image sizes.
    #[error(
        "{origin}: train images are {train_rows}x{train_cols} but test images are {test_rows}x{test_cols}"
    )]
    SplitDimensionMismatch {
        /// The dataset directory or source.
        origin: String,
        /// Rows of the train images.
        train_rows: usize,
        /// Columns of the train images.
        train_cols: usize,
        /// Rows of the test images.
        test_rows: usize,
        /// Columns of the test images.
        test_cols: usize,
    },

    /// None of the accepted names of a dataset file exists in its directory.
    #[error(
        "{}: missing dataset file, looked for {}",
        dir.display(),
        candidates.join(" and ")
    )]
    MissingFile {
        /// The directory that was searched.
        dir: PathBuf,
        /// The file names that were tried, in order.
        candidates: Vec<String>,
    },

    /// A class does not have the number of items a fixed split requires.
    #[error("{origin}: class {class} has {found} items, expected {expected}")]
    ClassCount {
        /// Where the data came from.
        origin: String,
        /// The class label.
        class: u8,
        /// The number of items the split needs.
        expected: usize,
        /// The number of items found.
        found: usize,
    },

    /// A batch could not be built from the given items.
    #[error("cannot batch images: {reason}")]
    InvalidBatch {
        /// Why the items cannot form a batch.
        reason: String,
    },
}
