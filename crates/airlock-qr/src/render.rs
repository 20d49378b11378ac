//! Drawing frames: QR matrices (`qrcode`), terminal text with Unicode half blocks, PNG frames,
//! an animated GIF and a self-contained HTML page that loops the frames.
//!
//! Every frame of an animation uses the same QR version (the density's), so the picture does not
//! jump; a message that fits one frame is drawn as a single static QR of the smallest version that
//! holds it. Nothing here fetches or references anything outside the output: the HTML page embeds
//! its frames as `data:` URIs and has no external resources. This module never writes partial
//! files: PNG frames go through `airlock_transport::write_atomic`.

use std::path::{Path, PathBuf};

use base64::Engine as _;
use qrcode::{Color, QrCode};

use crate::{Density, Frames, QrError, Result};

/// Quiet zone around every code, in modules (the QR standard asks for 4).
pub const QUIET: usize = 4;

/// A QR code as a square of dark (`true`) / light modules, without quiet zone.
#[derive(Debug, Clone)]
pub struct Matrix {
    /// Modules per side.
    pub width: usize,
    /// Row-major, `true` = dark.
    pub dark: Vec<bool>,
}

impl Matrix {
    fn at(&self, x: isize, y: isize) -> bool {
        let w = self.width as isize;
        x >= 0 && y >= 0 && x < w && y < w && self.dark[(y * w + x) as usize]
    }
}

/// The QR code of one frame: the density's fixed version, or (`single`) the smallest version at
/// the density's error-correction level.
pub fn qr(text: &str, density: Density, single: bool) -> Result<Matrix> {
    let ec = density.ec_level();
    let versions = if single {
        1..=density.version().max(40)
    } else {
        density.version()..=density.version()
    };
    let mut code = None;
    for v in versions {
        if let Some(c) = code_at(text, v, ec) {
            code = Some(c);
            break;
        }
    }
    let code = code.ok_or_else(|| {
        QrError::Encode(format!(
            "QR code: {} characters do not fit a version {} code",
            text.len(),
            if single { 40 } else { density.version() }
        ))
    })?;
    Ok(Matrix {
        width: code.width(),
        dark: code
            .to_colors()
            .into_iter()
            .map(|c| c == Color::Dark)
            .collect(),
    })
}

/// Text in the QR alphanumeric set is encoded as one alphanumeric segment, so that what fits is
/// exactly [`crate::alnum_capacity`] (the `qrcode` crate's segment optimizer sometimes does
/// worse); other text uses the optimizer.
fn code_at(text: &str, version: i16, ec: qrcode::EcLevel) -> Option<QrCode> {
    const ALNUM: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:";
    let mut bits = qrcode::bits::Bits::new(qrcode::Version::Normal(version));
    if text.bytes().all(|b| ALNUM.contains(&b)) {
        bits.push_alphanumeric_data(text.as_bytes()).ok()?;
    } else {
        bits.push_optimal_data(text.as_bytes()).ok()?;
    }
    bits.push_terminator(ec).ok()?;
    QrCode::with_bits(bits, ec).ok()
}

/// The QR matrices of all frames.
pub fn matrices(frames: &Frames) -> Result<Vec<Matrix>> {
    let single = frames.texts.len() == 1;
    frames
        .texts
        .iter()
        .map(|t| qr(t, frames.density, single))
        .collect()
}

/// Draws a code with Unicode half blocks (two modules per character cell). With `ansi`, colours
/// are set explicitly (black on white), which scans on any terminal theme; without, dark modules
/// are `█`-style glyphs on the terminal's background (for light backgrounds and printing).
pub fn terminal(m: &Matrix, ansi: bool) -> String {
    let q = QUIET as isize;
    let w = m.width as isize;
    let mut out = String::new();
    let mut y = -q;
    while y < w + q {
        if ansi {
            out.push_str("\x1b[30;107m");
        }
        for x in -q..w + q {
            let (top, bottom) = (m.at(x, y), m.at(x, y + 1));
            // With explicit colours the glyphs draw the dark parts in black on white.
            let c = match (top, bottom) {
                (true, true) => '█',
                (true, false) => '▀',
                (false, true) => '▄',
                (false, false) => ' ',
            };
            out.push(c);
        }
        if ansi {
            out.push_str("\x1b[0m");
        }
        out.push('\n');
        y += 2;
    }
    out
}

/// Pixels per module so that the image is at least about 400 pixels wide.
pub fn default_scale(m: &Matrix) -> usize {
    (400 / (m.width + 2 * QUIET)).clamp(3, 10)
}

/// Greyscale pixels (0 = black, 255 = white) of a code with its quiet zone: (side, pixels).
pub fn pixels(m: &Matrix, scale: usize) -> (usize, Vec<u8>) {
    let side = (m.width + 2 * QUIET) * scale;
    let mut px = vec![255u8; side * side];
    for y in 0..m.width {
        for x in 0..m.width {
            if m.dark[y * m.width + x] {
                for dy in 0..scale {
                    let row = (QUIET + y) * scale + dy;
                    let start = row * side + (QUIET + x) * scale;
                    px[start..start + scale].fill(0);
                }
            }
        }
    }
    (side, px)
}

/// A PNG (8-bit greyscale) of a code.
pub fn png(m: &Matrix, scale: usize) -> Result<Vec<u8>> {
    let (side, px) = pixels(m, scale);
    let mut out = Vec::new();
    {
        let mut enc = png::Encoder::new(&mut out, side as u32, side as u32);
        enc.set_color(png::ColorType::Grayscale);
        enc.set_depth(png::BitDepth::Eight);
        let mut w = enc
            .write_header()
            .map_err(|e| QrError::Encode(format!("PNG: {e}")))?;
        w.write_image_data(&px)
            .map_err(|e| QrError::Encode(format!("PNG: {e}")))?;
    }
    Ok(out)
}

/// Writes `frame-0001.png`, `frame-0002.png`, … into `dir` (created if missing), each atomically.
pub fn write_png_frames(dir: &Path, matrices: &[Matrix], scale: usize) -> Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir)
        .map_err(|e| QrError::Io(format!("cannot create {}: {e}", dir.display())))?;
    let mut paths = Vec::with_capacity(matrices.len());
    for (i, m) in matrices.iter().enumerate() {
        let path = dir.join(format!("frame-{:04}.png", i + 1));
        airlock_transport::write_atomic(&path, &png(m, scale)?)
            .map_err(|e| QrError::Io(e.to_string()))?;
        paths.push(path);
    }
    Ok(paths)
}

/// An animated GIF looping the codes at `fps` frames per second.
pub fn gif(matrices: &[Matrix], scale: usize, fps: f64) -> Result<Vec<u8>> {
    let first = matrices
        .first()
        .ok_or_else(|| QrError::Encode("no frames".into()))?;
    let (side, _) = pixels(first, scale);
    let side16 = u16::try_from(side).map_err(|_| QrError::Encode("image too large".into()))?;
    let delay = (100.0 / fps.clamp(0.1, 50.0)).round() as u16;
    let mut out = Vec::new();
    {
        let mut enc = gif::Encoder::new(&mut out, side16, side16, &[0, 0, 0, 255, 255, 255])
            .map_err(|e| QrError::Encode(format!("GIF: {e}")))?;
        enc.set_repeat(gif::Repeat::Infinite)
            .map_err(|e| QrError::Encode(format!("GIF: {e}")))?;
        for m in matrices {
            let (s, px) = pixels(m, scale);
            if s != side {
                return Err(QrError::Encode("frames of different sizes".into()));
            }
            let idx: Vec<u8> = px.into_iter().map(|p| u8::from(p == 255)).collect();
            let mut frame = gif::Frame::from_indexed_pixels(side16, side16, idx, None);
            frame.delay = delay.max(2);
            enc.write_frame(&frame)
                .map_err(|e| QrError::Encode(format!("GIF: {e}")))?;
        }
    }
    Ok(out)
}

/// A self-contained HTML page that loops the codes at `fps` (frames embedded as PNG `data:` URIs;
/// no external resources, no network).
pub fn html(matrices: &[Matrix], scale: usize, fps: f64, title: &str) -> Result<String> {
    if matrices.is_empty() {
        return Err(QrError::Encode("no frames".into()));
    }
    let mut uris = Vec::with_capacity(matrices.len());
    for m in matrices {
        uris.push(format!(
            "\"data:image/png;base64,{}\"",
            base64::engine::general_purpose::STANDARD.encode(png(m, scale)?)
        ));
    }
    let interval = (1000.0 / fps.clamp(0.1, 60.0)).round() as u64;
    let title = title
        .chars()
        .map(|c| match c {
            '<' | '>' | '&' | '"' | '\'' => '_',
            c => c,
        })
        .collect::<String>();
    Ok(format!(
        r#"<!DOCTYPE html>
<html><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; img-src data:; style-src 'unsafe-inline'; script-src 'unsafe-inline'">
<title>{title}</title>
<style>body{{background:#fff;color:#000;font-family:sans-serif;text-align:center}}img{{image-rendering:pixelated;width:min(90vmin,{px}px);height:auto}}</style>
</head><body>
<h1>{title}</h1>
<img id="qr" alt="QR frame" src={first}>
<p id="n"></p>
<script>
const frames=[{list}];
let i=0;const img=document.getElementById("qr"),n=document.getElementById("n");
function show(){{img.src=frames[i];n.textContent="frame "+(i+1)+" of "+frames.length+" ({fps} per second)";i=(i+1)%frames.length;}}
show();if(frames.length>1)setInterval(show,{interval});
</script>
</body></html>
"#,
        px = 800,
        first = uris[0],
        list = uris.join(","),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Content, Format};

    #[test]
    fn every_frame_of_every_format_fits_its_density() {
        // Every frame is drawn at exactly the density's version.
        let data: Vec<u8> = (0..30_000u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
            .collect();
        for d in Density::ALL {
            for f in [Format::Ur, Format::Bbqr, Format::AirlockRq] {
                let frames = crate::encode(&data, f, Content::Psbt, d).unwrap();
                for t in &frames.texts {
                    assert!(t.len() <= d.alnum_capacity());
                    let m = qr(t, d, false).unwrap_or_else(|e| panic!("{f} {}: {e}", d.name()));
                    assert_eq!(m.width, 17 + 4 * d.version() as usize);
                }
            }
        }
    }
}
