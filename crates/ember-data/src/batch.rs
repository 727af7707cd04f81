//! Turning items into normalised tensors.

use burn::data::dataloader::batcher::Batcher;
use burn::tensor::{Device, Int, Tensor, TensorData};

use crate::{DataError, ImageItem};

/// Mean of the MNIST training pixels after scaling to `[0, 1]`.
///
/// This is the customary MNIST constant; the same value is used for
/// Fashion-MNIST so that every source goes through one normalisation.
pub const MNIST_MEAN: f32 = 0.1307;
/// Standard deviation of the MNIST training pixels after scaling to `[0, 1]`.
pub const MNIST_STD: f32 = 0.3081;

/// Normalises one raw pixel: `(pixel / 255 - MNIST_MEAN) / MNIST_STD`.
///
/// A black pixel (0) maps to about `-0.4242`, a white one (255) to about
/// `2.8215`.
pub fn normalize_pixel(pixel: u8) -> f32 {
    (f32::from(pixel) / 255.0 - MNIST_MEAN) / MNIST_STD
}

/// A batch of images ready for a model.
#[derive(Clone, Debug)]
pub struct ImageBatch {
    /// Images of shape `[B, 1, rows, cols]`, normalised with
    /// [`normalize_pixel`].
    pub images: Tensor<4>,
    /// Class labels of shape `[B]`.
    pub targets: Tensor<1, Int>,
}

/// Batches [`ImageItem`]s into an [`ImageBatch`].
///
/// Pixels are scaled to `[0, 1]` (divided by 255) and then standardised with
/// the MNIST mean ([`MNIST_MEAN`], 0.1307) and standard deviation
/// ([`MNIST_STD`], 0.3081), see [`normalize_pixel`].
///
/// Items carry no dimensions, so images are taken to be square: an item of
/// `n` pixels becomes a `sqrt(n) x sqrt(n)` image (28x28 for MNIST and
/// Fashion-MNIST).
#[derive(Clone, Debug, Default)]
pub struct ImageBatcher;

impl ImageBatcher {
    /// Builds a batch, reporting unbatchable input as an error instead of
    /// panicking.
    ///
    /// # Errors
    ///
    /// [`DataError::InvalidBatch`] if `items` is empty, if the items do not
    /// all have the same number of pixels, or if that number is not a
    /// non-zero perfect square.
    pub fn try_batch(
        &self,
        items: Vec<ImageItem>,
        device: &Device,
    ) -> Result<ImageBatch, DataError> {
        let first = items.first().ok_or_else(|| DataError::InvalidBatch {
            reason: "no items".to_owned(),
        })?;
        let pixel_count = first.pixels.len();
        let side = square_side(pixel_count).ok_or_else(|| DataError::InvalidBatch {
            reason: format!("{pixel_count} pixels per image is not a non-zero square"),
        })?;
        if let Some((index, item)) = items
            .iter()
            .enumerate()
            .find(|(_, item)| item.pixels.len() != pixel_count)
        {
            return Err(DataError::InvalidBatch {
                reason: format!(
                    "item {index} has {} pixels but item 0 has {pixel_count}",
                    item.pixels.len()
                ),
            });
        }

        let batch_size = items.len();
        let mut pixels = Vec::with_capacity(batch_size * pixel_count);
        let mut labels = Vec::with_capacity(batch_size);
        for item in &items {
            pixels.extend(item.pixels.iter().copied().map(normalize_pixel));
            labels.push(i64::from(item.label));
        }
        let images =
            Tensor::<4>::from_data(TensorData::new(pixels, [batch_size, 1, side, side]), device);
        let targets = Tensor::<1, Int>::from_data(TensorData::new(labels, [batch_size]), device);
        Ok(ImageBatch { images, targets })
    }
}

impl Batcher<ImageItem, ImageBatch> for ImageBatcher {
    /// Builds a batch of shape `[B, 1, side, side]`.
    ///
    /// # Panics
    ///
    /// Panics with the [`DataError`] message in the cases where
    /// [`ImageBatcher::try_batch`] fails (no items, items of different sizes,
    /// non-square images); items from one [`ImageDataset`](crate::ImageDataset)
    /// of square images never trigger it.
    fn batch(&self, items: Vec<ImageItem>, device: &Device) -> ImageBatch {
        match self.try_batch(items, device) {
            Ok(batch) => batch,
            Err(err) => panic!("{err}"),
        }
    }
}

/// The side of a square of `n` pixels, if `n` is a non-zero perfect square.
fn square_side(n: usize) -> Option<usize> {
    let side = n.isqrt();
    (n > 0 && side * side == n).then_some(side)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(pixels: Vec<u8>, label: u8) -> ImageItem {
        ImageItem { pixels, label }
    }

    #[test]
    fn normalisation_matches_mnist_constants() {
        assert!((normalize_pixel(0) - (-0.1307 / 0.3081)).abs() < 1e-6);
        assert!((normalize_pixel(255) - (0.8693 / 0.3081)).abs() < 1e-5);
    }

    #[test]
    fn batch_has_expected_shapes_and_values() {
        let device = Device::flex();
        let mut first = vec![0u8; 784];
        first[28 * 3 + 5] = 255; // row 3, column 5
        first[783] = 51; // last pixel: 51 / 255 = 0.2
        let items = vec![
            item(first, 7),
            item(vec![128; 784], 2),
            item(vec![0; 784], 9),
        ];

        let batch = ImageBatcher.batch(items, &device);
        assert_eq!(batch.images.dims(), [3, 1, 28, 28]);
        assert_eq!(batch.targets.dims(), [3]);

        let images = batch.images.into_data().convert::<f32>();
        let values = images.as_slice::<f32>().unwrap();
        let white = (1.0 - 0.1307) / 0.3081;
        let black = -0.1307 / 0.3081;
        assert!(
            (values[28 * 3 + 5] - white).abs() < 1e-5,
            "{}",
            values[28 * 3 + 5]
        );
        assert!((values[783] - (0.2 - 0.1307) / 0.3081).abs() < 1e-5);
        assert!((values[0] - black).abs() < 1e-5);
        assert!((values[784] - (128.0 / 255.0 - 0.1307) / 0.3081).abs() < 1e-5);

        let targets = batch.targets.into_data().convert::<i64>();
        assert_eq!(targets.as_slice::<i64>().unwrap(), [7, 2, 9]);
    }

    #[test]
    fn batch_of_embedded_data_has_mnist_shape() {
        let splits = crate::embedded_mnist_5k().unwrap();
        let items = splits.test.items()[..16].to_vec();
        let batch = ImageBatcher.batch(items, &Device::flex());
        assert_eq!(batch.images.dims(), [16, 1, 28, 28]);
        assert_eq!(batch.targets.dims(), [16]);
    }

    #[test]
    fn unbatchable_input_is_an_error() {
        let device = Device::flex();
        let err = ImageBatcher.try_batch(Vec::new(), &device).unwrap_err();
        assert!(matches!(err, DataError::InvalidBatch { .. }), "{err}");
        let err = ImageBatcher
            .try_batch(vec![item(vec![0; 6], 1)], &device)
            .unwrap_err();
        assert!(err.to_string().contains("not a non-zero square"), "{err}");
        let err = ImageBatcher
            .try_batch(vec![item(vec![0; 4], 1), item(vec![0; 9], 1)], &device)
            .unwrap_err();
        assert!(err.to_string().contains("item 1 has 9 pixels"), "{err}");
    }

    #[test]
    fn square_side_recognises_squares() {
        assert_eq!(square_side(784), Some(28));
        assert_eq!(square_side(1), Some(1));
        assert_eq!(square_side(0), None);
        assert_eq!(square_side(785), None);
    }
}
