//! The `qr show` / `qr read` commands both binaries offer, so their own files stay thin.
//!
//! `show` reads a file (an Airlock artifact, binary or armored, or a PSBT, binary or base64) and
//! draws it; a file of frame texts another command wrote for a device (`airlock btc export
//! --format ur|bbqr`, `airlock-signer device-request`, `key export --format ur`: one UR or BBQr
//! frame per line) is drawn frame for frame, as written; `read` reassembles a file from images and writes it atomically. Progress goes to
//! stderr, results to stdout (JSON with `--json`). Nothing here touches a network; files are read
//! with a size cap and written with `airlock_transport::write_atomic`.

use std::io::{IsTerminal as _, Write as _};
use std::path::PathBuf;

use clap::Args;
use serde_json::json;
use sha2::{Digest as _, Sha256};

use crate::{Content, Density, Encoding, Format, FrameStream, MAX_MESSAGE_LEN, render, scan};

/// `qr show FILE`.
#[derive(Args, Debug)]
pub struct ShowArgs {
    /// The file to show (artifact `.airlock` or armor, PSBT binary or base64), or a file of UR or
    /// BBQr frame texts, one per line, drawn as written.
    pub file: PathBuf,
    /// terminal | png (a directory of frame-0001.png …) | gif | html.
    #[arg(long, default_value = "terminal")]
    pub format: String,
    /// Where to write png/gif/html output (a directory for png).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// auto | ur | bbqr | airlock (auto: Airlock-RaptorQ for artifacts, crypto-psbt UR for PSBTs).
    #[arg(long, default_value = "auto")]
    pub encoding: String,
    /// low | medium | high | max (QR version 12-M, 20-M, 30-L, 40-L).
    #[arg(long, default_value = "medium")]
    pub density: String,
    /// Frames per second of animations.
    #[arg(long, default_value_t = 4.0)]
    pub fps: f64,
    /// Terminal only: how many frames to show before stopping (default: loop until interrupted
    /// on a terminal, one loop otherwise).
    #[arg(long)]
    pub frames: Option<usize>,
}

/// `qr read PATHS… --out FILE`.
#[derive(Args, Debug)]
pub struct ReadArgs {
    /// Image files (PNG, GIF) or directories of frames, in any order.
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
    /// Where to write the reassembled file.
    #[arg(long)]
    pub out: PathBuf,
}

/// What `show` encodes: the bytes and their kind.
pub fn load(file: &std::path::Path) -> Result<(Vec<u8>, Content), String> {
    let bytes = airlock_transport::read_bounded(file, (MAX_MESSAGE_LEN as u64) * 3 / 2)
        .map_err(|e| e.to_string())?;
    load_bytes(bytes, file)
}

fn load_bytes(bytes: Vec<u8>, file: &std::path::Path) -> Result<(Vec<u8>, Content), String> {
    if let Some(kind) = crate::MoneroFile::detect(&bytes) {
        return Ok((bytes, Content::Monero(kind)));
    }
    if let Some(psbt) = crate::detect_psbt(&bytes) {
        return Ok((psbt, Content::Psbt));
    }
    if airlock_transport::is_armored(&bytes) {
        let text = std::str::from_utf8(&bytes)
            .map_err(|_| format!("{}: armored text is not UTF-8", file.display()))?;
        let (_, bin) =
            airlock_transport::dearmor(text).map_err(|e| format!("{}: {e}", file.display()))?;
        return Ok((bin, Content::Artifact));
    }
    Ok((bytes, Content::Artifact))
}

/// Runs `qr show`.
pub fn show(args: &ShowArgs, json: bool) -> Result<(), String> {
    let encoding =
        Encoding::parse(&args.encoding).ok_or("--encoding must be auto, ur, bbqr or airlock")?;
    let density =
        Density::parse(&args.density).ok_or("--density must be low, medium, high or max")?;
    if !(args.fps > 0.0 && args.fps <= 60.0) {
        return Err("--fps must be between 0 and 60".into());
    }
    let bytes = airlock_transport::read_bounded(&args.file, (MAX_MESSAGE_LEN as u64) * 3 / 2)
        .map_err(|e| e.to_string())?;
    let given = given_frames(&bytes, &args.file)?;
    let is_given = given.is_some();
    let (data, content) = match &given {
        Some(_) => (bytes, Content::Artifact),
        None => load_bytes(bytes, &args.file)?,
    };
    let (format, frames) = match given {
        Some((format, texts)) => (
            format,
            crate::Frames {
                format,
                needed: texts.len(),
                texts,
                density,
            },
        ),
        None => {
            let format = encoding.format_for(content);
            let frames =
                crate::encode(&data, format, content, density).map_err(|e| e.to_string())?;
            (format, frames)
        }
    };
    let summary = |out: Option<&std::path::Path>| {
        json!({
            "encoding": format.name(),
            "content": if is_given { "frames" } else { match content { Content::Psbt => "psbt", Content::Transaction => "transaction", Content::Artifact => "artifact", Content::WalletText => "wallet-text", Content::CryptoOutput => "crypto-output", Content::CryptoAccount => "crypto-account", Content::EthSignRequest => "eth-sign-request", Content::Monero(file) => file.ur_type() } },
            "bytes": data.len(),
            "density": density.name(),
            "frames": frames.texts.len(),
            "frames_needed": frames.needed,
            "fps": args.fps,
            "out": out,
        })
    };
    let tty = std::io::stderr().is_terminal();
    let progress = |i: usize, n: usize| {
        if n > 1 && !json && tty {
            eprint!("\rrendering frame {i}/{n}");
            if i == n {
                eprintln!();
            }
        }
    };
    let matrices = || -> Result<Vec<render::Matrix>, String> {
        let n = frames.texts.len();
        let single = n == 1;
        let mut out = Vec::with_capacity(n);
        for (i, t) in frames.texts.iter().enumerate() {
            out.push(render::qr(t, density, single).map_err(|e| e.to_string())?);
            progress(i + 1, n);
        }
        Ok(out)
    };
    let need_out = || {
        args.out
            .clone()
            .ok_or_else(|| format!("--format {} needs --out", args.format))
    };
    match args.format.as_str() {
        "terminal" => {
            let stream = if is_given {
                FrameStream::Given {
                    parts: frames.texts.clone(),
                    next: 0,
                }
            } else {
                FrameStream::new(&data, format, content, density).map_err(|e| e.to_string())?
            };
            return show_terminal(args, stream, format, density, frames.needed, json);
        }
        "png" => {
            let dir = need_out()?;
            let m = matrices()?;
            let scale = render::default_scale(&m[0]);
            render::write_png_frames(&dir, &m, scale).map_err(|e| e.to_string())?;
            report(json, summary(Some(&dir)), &frames, format, &dir);
        }
        "gif" | "html" => {
            let out = need_out()?;
            let m = matrices()?;
            let scale = render::default_scale(&m[0]);
            let bytes = if args.format == "gif" {
                render::gif(&m, scale, args.fps).map_err(|e| e.to_string())?
            } else {
                let title = format!(
                    "{} ({} frames, {})",
                    args.file
                        .file_name()
                        .map(|f| f.to_string_lossy().into_owned())
                        .unwrap_or_default(),
                    frames.texts.len(),
                    format.name()
                );
                render::html(&m, scale, args.fps, &title)
                    .map_err(|e| e.to_string())?
                    .into_bytes()
            };
            airlock_transport::write_atomic(&out, &bytes).map_err(|e| e.to_string())?;
            report(json, summary(Some(&out)), &frames, format, &out);
        }
        other => {
            return Err(format!(
                "--format {other:?}: use terminal, png, gif or html"
            ));
        }
    }
    Ok(())
}

fn report(
    json: bool,
    summary: serde_json::Value,
    frames: &crate::Frames,
    format: Format,
    out: &std::path::Path,
) {
    if json {
        println!("{summary}");
    } else {
        println!(
            "wrote {} {} frame(s) to {} ({} needed without loss)",
            frames.texts.len(),
            format.name(),
            out.display(),
            frames.needed
        );
    }
}

/// A file whose non-empty lines are all UR (or all BBQr) frame texts: its format and lines.
/// Several messages separated by an empty line are refused (show them one at a time).
fn given_frames(
    bytes: &[u8],
    file: &std::path::Path,
) -> Result<Option<(Format, Vec<String>)>, String> {
    let Ok(text) = std::str::from_utf8(bytes) else {
        return Ok(None);
    };
    let lines: Vec<&str> = text.lines().map(str::trim).collect();
    let Some(format) = lines
        .iter()
        .find(|l| !l.is_empty())
        .and_then(|l| Format::detect(l))
        .filter(|f| *f != Format::AirlockRq)
    else {
        return Ok(None);
    };
    let frames: Vec<String> = lines
        .iter()
        .filter(|l| !l.is_empty())
        .map(|l| l.to_string())
        .collect();
    if !frames
        .iter()
        .all(|l| Format::detect(l) == Some(format) && l.len() <= crate::MAX_FRAME_TEXT)
    {
        return Ok(None);
    }
    let blocks = text
        .trim()
        .split("\n\n")
        .filter(|b| !b.trim().is_empty())
        .count();
    if blocks > 1 {
        return Err(format!(
            "{} holds {blocks} QR messages separated by empty lines: show one at a time (put each block in its own file)",
            file.display()
        ));
    }
    Ok(Some((format, frames)))
}

fn show_terminal(
    args: &ShowArgs,
    mut stream: FrameStream,
    format: Format,
    density: Density,
    needed: usize,
    json: bool,
) -> Result<(), String> {
    let tty = std::io::stdout().is_terminal();
    let single = needed == 1;
    let count = match (args.frames, single, tty) {
        (_, true, _) => 1,
        (Some(n), _, _) => n,
        (None, _, true) => usize::MAX,
        (None, _, false) => needed,
    };
    let delay = std::time::Duration::from_secs_f64(1.0 / args.fps);
    let mut stdout = std::io::stdout().lock();
    for i in 0..count {
        let text = stream.next_frame().map_err(|e| e.to_string())?;
        let m = render::qr(&text, density, single).map_err(|e| e.to_string())?;
        let drawn = render::terminal(&m, tty);
        if json {
            let line = json!({ "frame": i + 1, "encoding": format.name(), "needed": needed, "text": text });
            writeln!(stdout, "{line}").map_err(|e| e.to_string())?;
            continue;
        }
        if tty && !single {
            // Home the cursor and redraw in place.
            write!(stdout, "\x1b[H\x1b[2J").map_err(|e| e.to_string())?;
        }
        write!(stdout, "{drawn}").map_err(|e| e.to_string())?;
        writeln!(
            stdout,
            "{} frame {} ({} needed without loss){}",
            format.name(),
            i + 1,
            needed,
            if tty && !single {
                "; Ctrl-C to stop"
            } else {
                ""
            }
        )
        .map_err(|e| e.to_string())?;
        stdout.flush().map_err(|e| e.to_string())?;
        if tty && !single && i + 1 < count {
            std::thread::sleep(delay);
        }
    }
    Ok(())
}

/// Runs `qr read`.
pub fn read(args: &ReadArgs, json: bool) -> Result<(), String> {
    // On a terminal, one status line updated in place; otherwise a line when the message is
    // complete (remaining files are still read, to catch frames of another message).
    let tty = std::io::stderr().is_terminal();
    let mut last = (0, 0);
    let mut said_complete = false;
    let decoded = scan::decode_files(&args.paths, |file, p| {
        if json || (p.seen, p.needed) == last {
            return;
        }
        last = (p.seen, p.needed);
        let line = format!(
            "{}: {} parts seen / {} needed{}",
            file.display(),
            p.seen,
            p.needed,
            if p.complete { " (complete)" } else { "" }
        );
        if tty {
            eprint!("\r\x1b[K{line}");
        } else if p.complete && !said_complete {
            said_complete = true;
            eprintln!("{line}");
        }
    });
    if !json && tty && last != (0, 0) {
        eprintln!();
    }
    let decoded = decoded.map_err(|e| e.to_string())?;
    airlock_transport::write_atomic(&args.out, &decoded.bytes).map_err(|e| e.to_string())?;
    let sha = Sha256::digest(&decoded.bytes);
    let sha: String = sha.iter().map(|b| format!("{b:02x}")).collect();
    if json {
        println!(
            "{}",
            json!({ "out": args.out, "encoding": decoded.format.name(), "kind": decoded.kind, "bytes": decoded.bytes.len(), "sha256": sha })
        );
    } else {
        let kind = if decoded.kind == decoded.format.name() {
            String::new()
        } else {
            format!(" {}", decoded.kind)
        };
        println!(
            "wrote {} ({} bytes from {}{kind} QR codes, sha256 {sha})",
            args.out.display(),
            decoded.bytes.len(),
            decoded.format.name(),
        );
    }
    Ok(())
}
