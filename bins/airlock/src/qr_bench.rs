//! `airlock qr bench`: QR transport figures for docs/PERFORMANCE.md, on the 100-input 2-of-3
//! PSBT fixture: frames needed per density and encoding, frames needed under random loss against
//! the lossless count, and encode / decode time per frame (QR rendering, PNG, rqrr included).
//! Run it from a release build; it only prints.

use std::path::PathBuf;
use std::time::Instant;

use airlock_cli_support::{CliError, CliResult, print_json};
use airlock_qr::{Content, Decoder, Density, Format, FrameStream, render, scan};
use clap::Args;
use serde_json::json;

#[derive(Args)]
pub struct QrBenchArgs {
    /// The PSBT (binary or base64) to measure with.
    #[arg(long, default_value = "../shared/bench/psbt-sign/psbt_100.b64")]
    psbt: PathBuf,
    /// Seeded trials per loss rate.
    #[arg(long, default_value_t = 50)]
    trials: u64,
    /// Density for the loss and timing figures.
    #[arg(long, default_value = "max")]
    density: String,
}

const FORMATS: [Format; 3] = [Format::Ur, Format::Bbqr, Format::AirlockRq];

pub fn run(args: QrBenchArgs, json: bool) -> CliResult {
    let (data, content) = airlock_qr::cli::load(&args.psbt).map_err(|e| {
        CliError::new(format!(
            "{e} (the fixture is ../shared/bench/psbt-sign/psbt_100.b64 relative to the repository)"
        ))
    })?;
    if content != Content::Psbt {
        return Err(CliError::new(format!(
            "{} is not a PSBT",
            args.psbt.display()
        )));
    }
    let loss_density = Density::parse(&args.density)
        .ok_or_else(|| CliError::new("--density must be low, medium, high or max"))?;
    let mut per_density = Vec::new();
    for d in Density::ALL {
        let mut row = serde_json::Map::new();
        for f in FORMATS {
            let s = FrameStream::new(&data, f, content, d)?;
            row.insert(f.name().into(), json!(s.needed()));
        }
        per_density.push(json!({ "density": d.name(), "version": d.version(), "chars_per_frame": d.alnum_capacity(), "frames": row }));
    }
    let mut loss = Vec::new();
    for f in [Format::Ur, Format::AirlockRq] {
        let lossless = FrameStream::new(&data, f, content, loss_density)?.needed();
        for p in [0.1, 0.3] {
            let mut total = 0usize;
            let mut worst = 0usize;
            for seed in 0..args.trials {
                let n = airlock_qr::frames_until_decoded(&data, f, content, loss_density, p, seed)?;
                total += n;
                worst = worst.max(n);
            }
            let mean = total as f64 / args.trials as f64;
            loss.push(json!({ "encoding": f.name(), "loss": p, "lossless_frames": lossless, "mean_frames": mean, "ratio": mean / lossless as f64, "worst": worst }));
        }
    }
    let mut timing = Vec::new();
    for f in FORMATS {
        let mut stream = FrameStream::new(&data, f, content, loss_density)?;
        let n = stream.needed();
        let single = n == 1;
        let t0 = Instant::now();
        let mut pngs = Vec::with_capacity(n);
        for _ in 0..n {
            let text = stream.next_frame()?;
            let m = render::qr(&text, loss_density, single)?;
            pngs.push(render::png(&m, render::default_scale(&m))?);
        }
        let enc = t0.elapsed().as_secs_f64() / n as f64;
        let t1 = Instant::now();
        let mut dec = Decoder::new();
        let path = std::path::Path::new("bench.png");
        for p in &pngs {
            let img = scan::decode_png(path, p)?;
            for t in scan::qr_texts(&img) {
                dec.receive(&t)?;
            }
        }
        let out = dec.finish()?;
        let dect = t1.elapsed().as_secs_f64() / n as f64;
        if out.bytes != data {
            return Err(CliError::new("bench: decoded PSBT differs"));
        }
        timing.push(json!({ "encoding": f.name(), "frames": n, "encode_ms_per_frame": enc * 1e3, "decode_ms_per_frame": dect * 1e3 }));
    }
    let report = json!({ "psbt_bytes": data.len(), "density_for_loss_and_timing": loss_density.name(), "trials": args.trials, "frames_per_density": per_density, "loss": loss, "timing": timing });
    if json {
        print_json(&report);
        return Ok(());
    }
    println!(
        "QR transport, {}-byte PSBT ({})",
        data.len(),
        args.psbt.display()
    );
    println!("frames needed (lossless):");
    println!("  density  version chars   UR(crypto-psbt)  BBQr  Airlock-RaptorQ");
    for r in &per_density {
        println!(
            "  {:<8} {:>7} {:>5}   {:>15}  {:>4}  {:>15}",
            r["density"].as_str().unwrap_or(""),
            r["version"].as_u64().unwrap_or(0),
            r["chars_per_frame"].as_u64().unwrap_or(0),
            r["frames"]["ur"].as_u64().unwrap_or(0),
            r["frames"]["bbqr"].as_u64().unwrap_or(0),
            r["frames"]["airlock"].as_u64().unwrap_or(0)
        );
    }
    println!(
        "frames shown until decoded under random loss ({} density, {} seeded trials):",
        loss_density.name(),
        args.trials
    );
    for r in &loss {
        println!(
            "  {:<8} loss {:>3.0}%: mean {:>6.1} frames vs {:>3} lossless = {:.2}x (worst {})",
            r["encoding"].as_str().unwrap_or(""),
            r["loss"].as_f64().unwrap_or(0.0) * 100.0,
            r["mean_frames"].as_f64().unwrap_or(0.0),
            r["lossless_frames"].as_u64().unwrap_or(0),
            r["ratio"].as_f64().unwrap_or(0.0),
            r["worst"].as_u64().unwrap_or(0)
        );
    }
    println!(
        "time per frame ({} density; encode = frame + QR + PNG, decode = PNG + rqrr + reassembly):",
        loss_density.name()
    );
    for r in &timing {
        println!(
            "  {:<8} {:>3} frames: encode {:>6.1} ms, decode {:>6.1} ms",
            r["encoding"].as_str().unwrap_or(""),
            r["frames"].as_u64().unwrap_or(0),
            r["encode_ms_per_frame"].as_f64().unwrap_or(0.0),
            r["decode_ms_per_frame"].as_f64().unwrap_or(0.0)
        );
    }
    Ok(())
}
