//! One labelled image.

/// A single greyscale image with its class label.
///
/// `pixels` holds `rows * cols` bytes in row-major order (row 0 first), each
/// the raw 0–255 intensity as stored in MNIST. The image dimensions are not
/// stored per item; they belong to the [`ImageDataset`](crate::ImageDataset)
/// that holds it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImageItem {
    /// Row-major pixel intensities, `rows * cols` bytes.
    pub pixels: Vec<u8>,
    /// Class label, `0..=9`.
    pub label: u8,
}
