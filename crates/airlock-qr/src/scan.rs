//! Reading QR codes back from image files (PNG, GIF including every frame of an animation) with
//! `rqrr`, and reassembling a message from a list of files or a directory of frames, in any
//! order, with progress reported through a callback.
//!
//! Images are hostile input: files over [`MAX_IMAGE_FILE`] bytes and images over
//! [`MAX_PIXELS`] pixels are refused before they are decoded, truncated images and images
//! without a QR code are clear errors naming the file. This module never writes anything.

use std::io::Cursor;
use std::num::NonZeroU64;
use std::path::{Path, PathBuf};

use crate::{Decoded, Decoder, Progress, QrError, Result};

/// Largest image file read.
pub const MAX_IMAGE_FILE: u64 = 64 * 1024 * 1024;
/// Largest image (width × height) decoded.
pub const MAX_PIXELS: u64 = 40_000_000;

/// A greyscale image (0 black … 255 white).
pub struct Grey {
    /// Width in pixels.
    pub width: usize,
    /// Height in pixels.
    pub height: usize,
    /// Row-major pixels.
    pub px: Vec<u8>,
}

fn img_err(path: &Path, m: impl std::fmt::Display) -> QrError {
    QrError::Image(format!("{}: {m}", path.display()))
}

fn check_dims(path: &Path, w: u64, h: u64) -> Result<()> {
    if w == 0 || h == 0 || w.saturating_mul(h) > MAX_PIXELS {
        return Err(img_err(
            path,
            format!("image of {w}x{h} pixels (at most {MAX_PIXELS} pixels)"),
        ));
    }
    Ok(())
}

/// Decodes a PNG into greyscale.
pub fn decode_png(path: &Path, bytes: &[u8]) -> Result<Grey> {
    let mut dec = png::Decoder::new_with_limits(
        Cursor::new(bytes),
        png::Limits {
            bytes: (MAX_PIXELS * 8) as usize,
        },
    );
    dec.set_transformations(png::Transformations::EXPAND | png::Transformations::STRIP_16);
    let mut reader = dec
        .read_info()
        .map_err(|e| img_err(path, format!("not a readable PNG ({e})")))?;
    let (w, h) = (reader.info().width, reader.info().height);
    check_dims(path, u64::from(w), u64::from(h))?;
    let size = reader
        .output_buffer_size()
        .ok_or_else(|| img_err(path, "PNG too large"))?;
    let mut buf = vec![0u8; size];
    let info = reader
        .next_frame(&mut buf)
        .map_err(|e| img_err(path, format!("truncated or corrupt PNG ({e})")))?;
    let channels = info.color_type.samples();
    let (w, h) = (info.width as usize, info.height as usize);
    let mut px = Vec::with_capacity(w * h);
    for y in 0..h {
        let row = &buf[y * info.line_size..y * info.line_size + w * channels];
        for p in row.chunks_exact(channels) {
            px.push(luma(p, channels));
        }
    }
    Ok(Grey {
        width: w,
        height: h,
        px,
    })
}

/// Luma of one pixel of 1 (grey), 2 (grey+alpha), 3 (RGB) or 4 (RGBA) 8-bit samples; transparent
/// pixels count as white (a page background).
fn luma(p: &[u8], channels: usize) -> u8 {
    let (v, alpha) = match channels {
        1 => (u32::from(p[0]), 255),
        2 => (u32::from(p[0]), u32::from(p[1])),
        3 => (rgb(p), 255),
        _ => (rgb(p), u32::from(p[3])),
    };
    ((v * alpha + 255 * (255 - alpha)) / 255) as u8
}

fn rgb(p: &[u8]) -> u32 {
    (299 * u32::from(p[0]) + 587 * u32::from(p[1]) + 114 * u32::from(p[2])) / 1000
}

/// Decodes every frame of a GIF into greyscale.
pub fn decode_gif(path: &Path, bytes: &[u8]) -> Result<Vec<Grey>> {
    let mut opts = gif::DecodeOptions::new();
    opts.set_color_output(gif::ColorOutput::RGBA);
    opts.set_memory_limit(gif::MemoryLimit::Bytes(
        NonZeroU64::new(MAX_PIXELS * 4).expect("non-zero"),
    ));
    let mut dec = opts
        .read_info(Cursor::new(bytes))
        .map_err(|e| img_err(path, format!("not a readable GIF ({e})")))?;
    let (w, h) = (usize::from(dec.width()), usize::from(dec.height()));
    check_dims(path, w as u64, h as u64)?;
    let mut canvas = vec![255u8; w * h];
    let mut out = Vec::new();
    while let Some(frame) = dec
        .read_next_frame()
        .map_err(|e| img_err(path, format!("truncated or corrupt GIF ({e})")))?
    {
        if out.len() >= 10_000 {
            return Err(img_err(path, "more than 10000 GIF frames"));
        }
        let (fl, ft) = (usize::from(frame.left), usize::from(frame.top));
        let (fw, fh) = (usize::from(frame.width), usize::from(frame.height));
        for y in 0..fh {
            for x in 0..fw {
                let (cx, cy) = (fl + x, ft + y);
                if cx < w && cy < h {
                    let p = &frame.buffer[(y * fw + x) * 4..(y * fw + x) * 4 + 4];
                    if p[3] != 0 {
                        canvas[cy * w + cx] = luma(p, 4);
                    }
                }
            }
        }
        out.push(Grey {
            width: w,
            height: h,
            px: canvas.clone(),
        });
    }
    if out.is_empty() {
        return Err(img_err(path, "GIF without frames"));
    }
    Ok(out)
}

/// The texts of all QR codes `rqrr` finds in an image. Should the decoder panic on a hostile
/// image, that image counts as holding no QR code instead of taking the process down.
pub fn qr_texts(img: &Grey) -> Vec<String> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let mut prepared =
            rqrr::PreparedImage::prepare_from_greyscale(img.width, img.height, |x, y| {
                img.px[y * img.width + x]
            });
        prepared
            .detect_grids()
            .into_iter()
            .filter_map(|g| g.decode().ok().map(|(_, text)| text))
            .collect()
    }))
    .unwrap_or_default()
}

/// Reads one image file (PNG or GIF, by content) and returns the QR texts of every frame;
/// an error if there is none.
pub fn read_image(path: &Path) -> Result<Vec<String>> {
    let bytes = airlock_transport::read_bounded(path, MAX_IMAGE_FILE)
        .map_err(|e| QrError::Image(e.to_string()))?;
    let images = if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        vec![decode_png(path, &bytes)?]
    } else if bytes.starts_with(b"GIF87a") || bytes.starts_with(b"GIF89a") {
        decode_gif(path, &bytes)?
    } else {
        return Err(img_err(path, "not a PNG or GIF image"));
    };
    let texts: Vec<String> = images.iter().flat_map(qr_texts).collect();
    if texts.is_empty() {
        return Err(img_err(path, "no readable QR code in this image"));
    }
    Ok(texts)
}

/// Expands directories (their `.png` / `.gif` files, sorted by name) into a list of image files.
pub fn expand_paths(paths: &[PathBuf]) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for p in paths {
        if p.is_dir() {
            let mut entries: Vec<PathBuf> = std::fs::read_dir(p)
                .map_err(|e| QrError::Io(format!("cannot read {}: {e}", p.display())))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|f| {
                    f.extension().and_then(|e| e.to_str()).is_some_and(|e| {
                        e.eq_ignore_ascii_case("png") || e.eq_ignore_ascii_case("gif")
                    })
                })
                .collect();
            entries.sort();
            if entries.is_empty() {
                return Err(QrError::Io(format!(
                    "{} holds no .png or .gif files",
                    p.display()
                )));
            }
            out.extend(entries);
        } else {
            out.push(p.clone());
        }
    }
    Ok(out)
}

/// Decodes the message carried by the QR codes in `paths` (files or directories of frames, in
/// any order). Every file is read, even after the message is complete, so frames of another
/// message mixed in are noticed. `progress` is called after each frame.
pub fn decode_files(
    paths: &[PathBuf],
    mut progress: impl FnMut(&Path, Progress),
) -> Result<Decoded> {
    let files = expand_paths(paths)?;
    let mut decoder = Decoder::new();
    for f in &files {
        for text in read_image(f)? {
            let p = decoder.receive(&text).map_err(|e| QrError::InFile {
                file: f.display().to_string(),
                error: Box::new(e),
            })?;
            progress(f, p);
        }
    }
    decoder.finish()
}
