//! `armor`: ASCII armor (`airlock_transport::dearmor`), as every artifact file reader meets it.
//!
//! Checks: `dearmor` never panics on any text; what it accepts has a valid label and re-armors
//! (`armor`) to text that dearmors to the same label and bytes; `is_armored` agrees with what a
//! file reader does (text starting with a BEGIN line after whitespace); and the bytes it returns
//! go through the envelope decoder as a file reader would. The reverse direction is checked too:
//! arbitrary bytes under a label derived from the input armor and dearmor back unchanged.

use airlock_transport::{armor, dearmor, is_armored, is_valid_label};

pub fn run(data: &[u8]) {
    let _ = is_armored(data);
    if let Ok(text) = std::str::from_utf8(data)
        && let Ok((label, bytes)) = dearmor(text)
    {
        assert!(is_valid_label(&label), "dearmor returned label {label:?}");
        assert!(is_armored(data), "dearmor accepted text is_armored refuses");
        let again = armor(&label, &bytes);
        assert_eq!(dearmor(&again).ok(), Some((label, bytes.clone())));
        let _ = airlock_core::Envelope::from_bytes(&bytes);
    }
    // Round trip of any bytes under a label taken from the input.
    let label: String = data
        .iter()
        .take(12)
        .map(|b| (b'A' + b % 26) as char)
        .collect();
    let label = if label.is_empty() {
        "PROPOSAL".to_owned()
    } else {
        label
    };
    if !data.is_empty() {
        let text = armor(&label, data);
        assert_eq!(dearmor(&text).ok(), Some((label, data.to_vec())));
    }
}
