//! Readers for the IDX format of MNIST and Fashion-MNIST.
//!
//! An IDX file is a big-endian header followed by raw unsigned bytes:
//!
//! * image files: magic `0x00000803`, then `count`, `rows`, `cols` as `u32`,
//!   then `count * rows * cols` pixel bytes, image after image, row-major;
//! * label files: magic `0x00000801`, then `count` as `u32`, then `count`
//!   label bytes.
//!
//! Files may be stored raw or gzip-compressed; gzip is recognised by its
//! `0x1f 0x8b` magic number, never by the file name.

use std::path::Path;

use crate::DataError;
use crate::gzip::maybe_gunzip;

/// Magic number of an IDX file of unsigned bytes with three dimensions.
const IMAGES_MAGIC: u32 = 0x0000_0803;
/// Magic number of an IDX file of unsigned bytes with one dimension.
const LABELS_MAGIC: u32 = 0x0000_0801;
/// Header length of an IDX image file: magic + 3 dimensions.
const IMAGES_HEADER_LEN: usize = 16;
/// Header length of an IDX label file: magic + 1 dimension.
const LABELS_HEADER_LEN: usize = 8;

/// Reads an IDX image file (raw or gzip) from disk.
///
/// Returns the images (each `rows * cols` bytes, row-major), `rows` and
/// `cols`.
///
/// # Errors
///
/// [`DataError::Io`] if the file cannot be read, and every error of
/// [`parse_idx_images`], with the path as origin.
pub fn read_idx_images(path: &Path) -> Result<(Vec<Vec<u8>>, usize, usize), DataError> {
    let bytes = read_file(path)?;
    parse_idx_images(&bytes, &path.display().to_string())
}

/// Reads an IDX label file (raw or gzip) from disk.
///
/// # Errors
///
/// [`DataError::Io`] if the file cannot be read, and every error of
/// [`parse_idx_labels`], with the path as origin.
pub fn read_idx_labels(path: &Path) -> Result<Vec<u8>, DataError> {
    let bytes = read_file(path)?;
    parse_idx_labels(&bytes, &path.display().to_string())
}

/// Parses the bytes of an IDX image file, raw or gzip-compressed.
///
/// Returns the images (each `rows * cols` bytes, row-major), `rows` and
/// `cols`. `origin` names the data in error messages (usually its path).
///
/// # Errors
///
/// * [`DataError::Gzip`] if gzip data does not decompress;
/// * [`DataError::BadMagic`] if the magic number is not `0x00000803`;
/// * [`DataError::BadHeader`] if `rows` or `cols` is zero or the sizes
///   overflow;
/// * [`DataError::Truncated`] if the header or the pixel data is cut short;
/// * [`DataError::TrailingBytes`] if bytes follow the announced pixel data.
pub fn parse_idx_images(
    bytes: &[u8],
    origin: &str,
) -> Result<(Vec<Vec<u8>>, usize, usize), DataError> {
    let bytes = maybe_gunzip(bytes, origin)?;
    let [count, rows, cols] = read_header(&bytes, origin, IMAGES_MAGIC, "IDX image file")?;
    if rows == 0 || cols == 0 {
        return Err(DataError::BadHeader {
            origin: origin.to_owned(),
            reason: format!("image size {rows}x{cols} is empty"),
        });
    }
    let image_len = rows
        .checked_mul(cols)
        .ok_or_else(|| too_large(origin, "image size"))?;
    let data_len = count
        .checked_mul(image_len)
        .ok_or_else(|| too_large(origin, "image data size"))?;
    let data = body(
        &bytes,
        origin,
        IMAGES_HEADER_LEN,
        data_len,
        "IDX image data",
    )?;
    let images = data.chunks_exact(image_len).map(<[u8]>::to_vec).collect();
    Ok((images, rows, cols))
}

/// Parses the bytes of an IDX label file, raw or gzip-compressed.
///
/// `origin` names the data in error messages (usually its path).
///
/// # Errors
///
/// * [`DataError::Gzip`] if gzip data does not decompress;
/// * [`DataError::BadMagic`] if the magic number is not `0x00000801`;
/// * [`DataError::Truncated`] if the header or the labels are cut short;
/// * [`DataError::TrailingBytes`] if bytes follow the announced labels;
/// * [`DataError::LabelOutOfRange`] if a label is above 9.
pub fn parse_idx_labels(bytes: &[u8], origin: &str) -> Result<Vec<u8>, DataError> {
    let bytes = maybe_gunzip(bytes, origin)?;
    let [count] = read_header(&bytes, origin, LABELS_MAGIC, "IDX label file")?;
    let labels = body(&bytes, origin, LABELS_HEADER_LEN, count, "IDX label data")?;
    if let Some((index, &label)) = labels.iter().enumerate().find(|&(_, &l)| l > 9) {
        return Err(DataError::LabelOutOfRange {
            origin: origin.to_owned(),
            index,
            label,
        });
    }
    Ok(labels.to_vec())
}

/// Reads a whole file, mapping failures to [`DataError::Io`].
fn read_file(path: &Path) -> Result<Vec<u8>, DataError> {
    std::fs::read(path).map_err(|source| DataError::Io {
        path: path.to_path_buf(),
        source,
    })
}

/// Checks the magic number and returns the `N` big-endian `u32` dimensions
/// that follow it.
fn read_header<const N: usize>(
    bytes: &[u8],
    origin: &str,
    magic: u32,
    what: &'static str,
) -> Result<[usize; N], DataError> {
    let magic_bytes = bytes.get(..4).ok_or_else(|| DataError::Truncated {
        origin: origin.to_owned(),
        what: "IDX header",
        expected: 4,
        found: bytes.len(),
    })?;
    let found = be_u32(magic_bytes);
    if found != magic {
        return Err(DataError::BadMagic {
            origin: origin.to_owned(),
            what,
            expected: magic,
            found,
        });
    }
    let header_len = 4 + 4 * N;
    let raw = bytes
        .get(4..header_len)
        .ok_or_else(|| DataError::Truncated {
            origin: origin.to_owned(),
            what: "IDX header",
            expected: header_len,
            found: bytes.len(),
        })?;
    let mut dims = [0; N];
    for (dim, chunk) in dims.iter_mut().zip(raw.chunks_exact(4)) {
        *dim = usize::try_from(be_u32(chunk)).map_err(|_| too_large(origin, "dimension"))?;
    }
    Ok(dims)
}

/// Returns the `len` bytes after the header, checking the total length.
fn body<'a>(
    bytes: &'a [u8],
    origin: &str,
    header_len: usize,
    len: usize,
    what: &'static str,
) -> Result<&'a [u8], DataError> {
    let expected = header_len
        .checked_add(len)
        .ok_or_else(|| too_large(origin, "file size"))?;
    match bytes.len() {
        found if found < expected => Err(DataError::Truncated {
            origin: origin.to_owned(),
            what,
            expected,
            found,
        }),
        found if found > expected => Err(DataError::TrailingBytes {
            origin: origin.to_owned(),
            expected,
            extra: found - expected,
        }),
        _ => Ok(&bytes[header_len..]),
    }
}

/// Decodes a big-endian `u32` from exactly four bytes.
fn be_u32(bytes: &[u8]) -> u32 {
    u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]])
}

/// The error for a header whose sizes overflow `usize`.
fn too_large(origin: &str, what: &str) -> DataError {
    DataError::BadHeader {
        origin: origin.to_owned(),
        reason: format!("{what} overflows"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::{Compression, write::GzEncoder};
    use std::io::Write;

    /// A 3-image 2x3 IDX image file with pixel value `10 * image + position`.
    fn images_idx() -> Vec<u8> {
        let mut bytes = vec![0, 0, 8, 3];
        for dim in [3u32, 2, 3] {
            bytes.extend_from_slice(&dim.to_be_bytes());
        }
        for image in 0..3u8 {
            bytes.extend((0..6u8).map(|p| 10 * image + p));
        }
        bytes
    }

    fn labels_idx(labels: &[u8]) -> Vec<u8> {
        let mut bytes = vec![0, 0, 8, 1];
        bytes.extend_from_slice(&(labels.len() as u32).to_be_bytes());
        bytes.extend_from_slice(labels);
        bytes
    }

    fn gz(data: &[u8]) -> Vec<u8> {
        let mut enc = GzEncoder::new(Vec::new(), Compression::default());
        enc.write_all(data).unwrap();
        enc.finish().unwrap()
    }

    fn check_images(parsed: (Vec<Vec<u8>>, usize, usize)) {
        let (images, rows, cols) = parsed;
        assert_eq!((rows, cols), (2, 3));
        assert_eq!(images.len(), 3);
        assert_eq!(images[0], [0, 1, 2, 3, 4, 5]);
        assert_eq!(images[2], [20, 21, 22, 23, 24, 25]);
    }

    #[test]
    fn parses_raw_images() {
        check_images(parse_idx_images(&images_idx(), "raw").unwrap());
    }

    #[test]
    fn parses_gzip_images() {
        check_images(parse_idx_images(&gz(&images_idx()), "gz").unwrap());
    }

    #[test]
    fn parses_raw_and_gzip_labels() {
        let raw = labels_idx(&[7, 0, 9, 3]);
        assert_eq!(parse_idx_labels(&raw, "raw").unwrap(), [7, 0, 9, 3]);
        assert_eq!(parse_idx_labels(&gz(&raw), "gz").unwrap(), [7, 0, 9, 3]);
    }

    #[test]
    fn parses_empty_files() {
        let mut bytes = vec![0, 0, 8, 3, 0, 0, 0, 0, 0, 0, 0, 28, 0, 0, 0, 28];
        assert_eq!(parse_idx_images(&bytes, "e").unwrap().0.len(), 0);
        bytes.truncate(8);
        bytes[3] = 1;
        assert!(parse_idx_labels(&bytes, "e").unwrap().is_empty());
    }

    #[test]
    fn truncated_image_data_is_reported() {
        let bytes = images_idx();
        let err = parse_idx_images(&bytes[..bytes.len() - 1], "short.idx").unwrap_err();
        assert!(
            matches!(
                err,
                DataError::Truncated {
                    expected: 34,
                    found: 33,
                    ..
                }
            ),
            "{err}"
        );
        assert!(err.to_string().contains("short.idx"), "{err}");
    }

    #[test]
    fn truncated_header_is_reported() {
        let bytes = images_idx();
        for len in [0, 2, 4, 10, 15] {
            let err = parse_idx_images(&bytes[..len], "h").unwrap_err();
            assert!(matches!(err, DataError::Truncated { .. }), "{len}: {err}");
        }
        let err = parse_idx_labels(&labels_idx(&[1])[..6], "h").unwrap_err();
        assert!(matches!(err, DataError::Truncated { .. }), "{err}");
    }

    #[test]
    fn truncated_labels_are_reported() {
        let bytes = labels_idx(&[1, 2, 3]);
        let err = parse_idx_labels(&bytes[..bytes.len() - 2], "l").unwrap_err();
        assert!(
            matches!(
                err,
                DataError::Truncated {
                    expected: 11,
                    found: 9,
                    ..
                }
            ),
            "{err}"
        );
    }

    #[test]
    fn trailing_bytes_are_reported() {
        let mut bytes = labels_idx(&[1, 2]);
        bytes.push(0);
        let err = parse_idx_labels(&bytes, "l").unwrap_err();
        assert!(
            matches!(
                err,
                DataError::TrailingBytes {
                    expected: 10,
                    extra: 1,
                    ..
                }
            ),
            "{err}"
        );
    }

    #[test]
    fn bad_magic_is_reported() {
        // A label file handed to the image parser, and vice versa.
        let err = parse_idx_images(&labels_idx(&[1, 2]), "labels.idx").unwrap_err();
        assert!(
            matches!(
                err,
                DataError::BadMagic {
                    expected: 0x803,
                    found: 0x801,
                    ..
                }
            ),
            "{err}"
        );
        assert!(err.to_string().contains("labels.idx"), "{err}");
        let err = parse_idx_labels(&images_idx(), "images.idx").unwrap_err();
        assert!(
            matches!(err, DataError::BadMagic { found: 0x803, .. }),
            "{err}"
        );
        let err = parse_idx_labels(b"not an idx file", "text").unwrap_err();
        assert!(matches!(err, DataError::BadMagic { .. }), "{err}");
    }

    #[test]
    fn label_above_nine_is_reported() {
        let err = parse_idx_labels(&labels_idx(&[1, 2, 10]), "l").unwrap_err();
        assert!(
            matches!(
                err,
                DataError::LabelOutOfRange {
                    index: 2,
                    label: 10,
                    ..
                }
            ),
            "{err}"
        );
    }

    #[test]
    fn zero_sized_and_huge_images_are_rejected_without_allocating() {
        let mut bytes = images_idx();
        bytes[8..12].copy_from_slice(&0u32.to_be_bytes());
        let err = parse_idx_images(&bytes, "z").unwrap_err();
        assert!(matches!(err, DataError::BadHeader { .. }), "{err}");

        let mut bytes = images_idx();
        for range in [4..8, 8..12, 12..16] {
            bytes[range].copy_from_slice(&u32::MAX.to_be_bytes());
        }
        let err = parse_idx_images(&bytes, "huge").unwrap_err();
        assert!(
            matches!(
                err,
                DataError::BadHeader { .. } | DataError::Truncated { .. }
            ),
            "{err}"
        );
    }

    #[test]
    fn reads_files_from_disk_and_reports_missing_ones() {
        let dir = tempfile::tempdir().unwrap();
        let images = dir.path().join("images-without-gz-suffix");
        std::fs::write(&images, gz(&images_idx())).unwrap();
        check_images(read_idx_images(&images).unwrap());

        let labels = dir.path().join("labels.gz");
        std::fs::write(&labels, labels_idx(&[4, 5, 6])).unwrap();
        assert_eq!(read_idx_labels(&labels).unwrap(), [4, 5, 6]);

        let missing = dir.path().join("missing");
        let err = read_idx_labels(&missing).unwrap_err();
        assert!(matches!(err, DataError::Io { .. }), "{err}");
        assert!(err.to_string().contains("missing"), "{err}");
    }
}
