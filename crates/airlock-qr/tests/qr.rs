//! End-to-end QR tests: encode → PNG → decode with an independent decoder (`zbarimg`) and with
//! `rqrr` under loss; published facts (BC-UR vectors of BCR-2020-005 as the `ur` crate carries
//! them, BBQr's test data); and hostile input.

use std::path::{Path, PathBuf};
use std::process::Command;

use airlock_qr::{
    Content, Decoder, Density, Format, FrameStream, MoneroFile, QrError, SplitMix64, bbqr, encode,
    render, scan,
};

fn data_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data")
}

/// The real 100-input 2-of-3 PSBT (Electrum), kept outside the repository.
fn psbt_100() -> Vec<u8> {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/bench/psbt-sign/psbt_100.b64");
    let text = std::fs::read(&path).unwrap_or_else(|e| {
        panic!(
            "the PSBT fixture {} is missing ({e}); it lives in shared/bench/psbt-sign beside the repository",
            path.display()
        )
    });
    airlock_qr::detect_psbt(&text).expect("psbt_100.b64 is a base64 PSBT")
}

/// The error of a decode that must fail, without printing megabytes of an unexpected success.
fn expect_err(r: airlock_qr::Result<airlock_qr::Decoded>) -> QrError {
    match r {
        Ok(d) => panic!(
            "decoded {} bytes where an error was expected",
            d.bytes.len()
        ),
        Err(e) => e,
    }
}

fn pseudo_random(n: usize, seed: u64) -> Vec<u8> {
    let mut r = SplitMix64(seed);
    (0..n).map(|_| r.next_u64() as u8).collect()
}

fn shuffle<T>(v: &mut [T], seed: u64) {
    let mut r = SplitMix64(seed);
    for i in (1..v.len()).rev() {
        let j = (r.next_u64() % (i as u64 + 1)) as usize;
        v.swap(i, j);
    }
}

fn write_pngs(dir: &Path, texts: &[String], density: Density) -> Vec<PathBuf> {
    let single = texts.len() == 1;
    let m: Vec<_> = texts
        .iter()
        .map(|t| render::qr(t, density, single).unwrap())
        .collect();
    let scale = render::default_scale(&m[0]);
    render::write_png_frames(dir, &m, scale).unwrap()
}

/// Runs `zbarimg --raw -q` on the files; one decoded text per line.
fn zbarimg(files: &[PathBuf]) -> Vec<String> {
    let out = Command::new("zbarimg")
        .arg("--raw")
        .arg("-q")
        .args(files)
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "zbarimg could not be run ({e}): install it with `apt-get install -y zbar-tools` (Debian package zbar-tools)"
            )
        });
    assert!(
        out.status.success(),
        "zbarimg failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .expect("zbarimg output is text")
        .lines()
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect()
}

fn zbar_round_trip(data: &[u8], format: Format, content: Content, density: Density) {
    let frames = encode(data, format, content, density).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let files = write_pngs(dir.path(), &frames.texts, density);
    let texts = zbarimg(&files);
    // zbarimg must read every frame exactly as written (alphanumeric mode, nothing mangled).
    assert_eq!(
        texts, frames.texts,
        "{format}: zbarimg read different texts"
    );
    let decoded = airlock_qr::decode_texts(&texts).unwrap();
    assert_eq!(decoded.bytes, data, "{format}");
}

/// wallet2's files travel as Feather's UR types, and the decoder takes them back.
#[test]
fn zbarimg_reads_wallet2_files_as_feathers_ur_types() {
    let mut rng = SplitMix64(7);
    for (magic, kind, ur_type) in [
        (
            &b"Monero output export\x04"[..],
            MoneroFile::Outputs,
            "xmr-output",
        ),
        (
            b"Monero key image export\x03",
            MoneroFile::KeyImages,
            "xmr-keyimage",
        ),
        (
            b"Monero unsigned tx set\x05",
            MoneroFile::UnsignedTx,
            "xmr-txunsigned",
        ),
        (
            b"Monero signed tx set\x05",
            MoneroFile::SignedTx,
            "xmr-txsigned",
        ),
    ] {
        let mut file = magic.to_vec();
        file.extend((0..3000).map(|_| rng.next_u64() as u8));
        assert_eq!(MoneroFile::detect(&file), Some(kind));
        let content = Content::Monero(kind);
        zbar_round_trip(&file, Format::Ur, content, Density::Medium);
        let frames = encode(&file, Format::Ur, content, Density::Medium).unwrap();
        let prefix = format!("UR:{}/", ur_type.to_ascii_uppercase());
        assert!(
            frames.texts.iter().all(|t| t.starts_with(&prefix)),
            "{}",
            frames.texts[0]
        );
        let decoded = airlock_qr::decode_texts(&frames.texts).unwrap();
        assert_eq!(decoded.kind, ur_type);
    }
}

#[test]
fn zbarimg_reads_ur_frames_of_the_psbt() {
    let psbt = psbt_100();
    zbar_round_trip(&psbt, Format::Ur, Content::Psbt, Density::Max);
}

#[test]
fn zbarimg_reads_bbqr_frames_of_the_psbt() {
    let psbt = psbt_100();
    zbar_round_trip(&psbt, Format::Bbqr, Content::Psbt, Density::Max);
    let frames = encode(&psbt, Format::Bbqr, Content::Psbt, Density::Max).unwrap();
    assert!(frames.texts[0].starts_with("B$ZP"), "zlib mode, PSBT type");
}

#[test]
fn zbarimg_reads_airlock_frames() {
    zbar_round_trip(
        &psbt_100(),
        Format::AirlockRq,
        Content::Artifact,
        Density::High,
    );
    // Incompressible data, a single static QR, and a low density.
    zbar_round_trip(
        &pseudo_random(300, 1),
        Format::AirlockRq,
        Content::Artifact,
        Density::Low,
    );
    zbar_round_trip(
        &pseudo_random(5000, 2),
        Format::AirlockRq,
        Content::Artifact,
        Density::Low,
    );
}

/// Renders frames to PNG, shuffles them, drops `loss` of them (seeded) and decodes with rqrr.
fn rqrr_under_loss(
    data: &[u8],
    format: Format,
    content: Content,
    density: Density,
    shown: usize,
    loss: f64,
    seed: u64,
) -> airlock_qr::Result<Vec<u8>> {
    let mut stream = FrameStream::new(data, format, content, density).unwrap();
    let texts: Vec<String> = (0..shown).map(|_| stream.next_frame().unwrap()).collect();
    let mut rng = SplitMix64(seed);
    let mut kept: Vec<String> = texts
        .into_iter()
        .filter(|_| rng.next_f64() >= loss)
        .collect();
    shuffle(&mut kept, seed);
    let dir = tempfile::tempdir().unwrap();
    let files = write_pngs(dir.path(), &kept, density);
    let mut files = files;
    shuffle(&mut files, seed + 1);
    scan::decode_files(&files, |_, _| {}).map(|d| d.bytes)
}

#[test]
fn airlock_frames_decode_with_rqrr_after_10_and_30_percent_loss() {
    let psbt = psbt_100();
    let k = FrameStream::new(&psbt, Format::AirlockRq, Content::Artifact, Density::Max)
        .unwrap()
        .needed();
    for (loss, seed) in [(0.1, 11), (0.3, 12), (0.3, 13)] {
        // One loop of the animation (2k frames) with frames lost.
        let out = rqrr_under_loss(
            &psbt,
            Format::AirlockRq,
            Content::Artifact,
            Density::Max,
            2 * k,
            loss,
            seed,
        )
        .unwrap();
        assert_eq!(out, psbt);
    }
}

#[test]
fn ur_fountain_frames_decode_with_rqrr_after_10_and_30_percent_loss() {
    let psbt = psbt_100();
    let k = FrameStream::new(&psbt, Format::Ur, Content::Psbt, Density::Max)
        .unwrap()
        .needed();
    for (loss, seed) in [(0.1, 21), (0.3, 22)] {
        let out = rqrr_under_loss(
            &psbt,
            Format::Ur,
            Content::Psbt,
            Density::Max,
            4 * k,
            loss,
            seed,
        )
        .unwrap();
        assert_eq!(out, psbt);
    }
}

#[test]
fn bbqr_missing_part_is_reported() {
    let psbt = psbt_100();
    let frames = encode(&psbt, Format::Bbqr, Content::Psbt, Density::High).unwrap();
    assert!(frames.texts.len() > 3);
    let mut d = Decoder::new();
    for (i, t) in frames.texts.iter().enumerate() {
        if i != 2 {
            d.receive(t).unwrap();
        }
    }
    let p = d.progress().unwrap();
    assert_eq!(
        (p.seen, p.needed, p.complete),
        (frames.texts.len() - 1, frames.texts.len(), false)
    );
    let e = expect_err(d.finish());
    assert!(
        matches!(&e, QrError::Incomplete(m) if m.contains("index 2") && m.contains("1 of")),
        "{e}"
    );
}

#[test]
fn raptorq_needs_fewer_frames_under_loss_than_ur() {
    // The claim of the Airlock format, as a test: at 30% loss RaptorQ needs at most 1.5x the
    // lossless frame count on average, and fewer than BC-UR's fountain.
    let psbt = psbt_100();
    let ratio = |format, content| {
        let k = FrameStream::new(&psbt, format, content, Density::Max)
            .unwrap()
            .needed();
        let total: usize = (0..20)
            .map(|seed| {
                airlock_qr::frames_until_decoded(&psbt, format, content, Density::Max, 0.3, seed)
                    .unwrap()
            })
            .sum();
        total as f64 / 20.0 / k as f64
    };
    let rq = ratio(Format::AirlockRq, Content::Artifact);
    let ur = ratio(Format::Ur, Content::Psbt);
    assert!(rq <= 1.5, "RaptorQ needs {rq:.2}x at 30% loss");
    assert!(rq < ur, "RaptorQ {rq:.2}x vs UR {ur:.2}x");
}

#[test]
fn densest_setting_needs_at_most_16_frames_for_the_psbt() {
    let psbt = psbt_100();
    for (format, content) in [
        (Format::AirlockRq, Content::Artifact),
        (Format::Bbqr, Content::Psbt),
    ] {
        let n = FrameStream::new(&psbt, format, content, Density::Max)
            .unwrap()
            .needed();
        assert!(n <= 16, "{format}: {n} frames");
    }
}

// ---- BC-UR facts (BCR-2020-005 test vectors, as the `ur` crate's tests carry them) ----

const UR_SINGLE: &str = "ur:bytes/hdeymejtswhhylkepmykhhtsytsnoyoyaxaedsuttydmmhhpktpmsrjtgwdpfnsboxgwlbaawzuefywkdplrsrjynbvygabwjldapfcsdwkbrkch";
const UR_PARTS: [&str; 20] = [
    "ur:bytes/1-9/lpadascfadaxcywenbpljkhdcahkadaemejtswhhylkepmykhhtsytsnoyoyaxaedsuttydmmhhpktpmsrjtdkgslpgh",
    "ur:bytes/2-9/lpaoascfadaxcywenbpljkhdcagwdpfnsboxgwlbaawzuefywkdplrsrjynbvygabwjldapfcsgmghhkhstlrdcxaefz",
    "ur:bytes/3-9/lpaxascfadaxcywenbpljkhdcahelbknlkuejnbadmssfhfrdpsbiegecpasvssovlgeykssjykklronvsjksopdzmol",
    "ur:bytes/4-9/lpaaascfadaxcywenbpljkhdcasotkhemthydawydtaxneurlkosgwcekonertkbrlwmplssjtammdplolsbrdzcrtas",
    "ur:bytes/5-9/lpahascfadaxcywenbpljkhdcatbbdfmssrkzmcwnezelennjpfzbgmuktrhtejscktelgfpdlrkfyfwdajldejokbwf",
    "ur:bytes/6-9/lpamascfadaxcywenbpljkhdcackjlhkhybssklbwefectpfnbbectrljectpavyrolkzczcpkmwidmwoxkilghdsowp",
    "ur:bytes/7-9/lpatascfadaxcywenbpljkhdcavszmwnjkwtclrtvaynhpahrtoxmwvwatmedibkaegdosftvandiodagdhthtrlnnhy",
    "ur:bytes/8-9/lpayascfadaxcywenbpljkhdcadmsponkkbbhgsoltjntegepmttmoonftnbuoiyrehfrtsabzsttorodklubbuyaetk",
    "ur:bytes/9-9/lpasascfadaxcywenbpljkhdcajskecpmdckihdyhphfotjojtfmlnwmadspaxrkytbztpbauotbgtgtaeaevtgavtny",
    "ur:bytes/10-9/lpbkascfadaxcywenbpljkhdcahkadaemejtswhhylkepmykhhtsytsnoyoyaxaedsuttydmmhhpktpmsrjtwdkiplzs",
    "ur:bytes/11-9/lpbdascfadaxcywenbpljkhdcahelbknlkuejnbadmssfhfrdpsbiegecpasvssovlgeykssjykklronvsjkvetiiapk",
    "ur:bytes/12-9/lpbnascfadaxcywenbpljkhdcarllaluzmdmgstospeyiefmwejlwtpedamktksrvlcygmzemovovllarodtmtbnptrs",
    "ur:bytes/13-9/lpbtascfadaxcywenbpljkhdcamtkgtpknghchchyketwsvwgwfdhpgmgtylctotzopdrpayoschcmhplffziachrfgd",
    "ur:bytes/14-9/lpbaascfadaxcywenbpljkhdcapazewnvonnvdnsbyleynwtnsjkjndeoldydkbkdslgjkbbkortbelomueekgvstegt",
    "ur:bytes/15-9/lpbsascfadaxcywenbpljkhdcaynmhpddpzmversbdqdfyrehnqzlugmjzmnmtwmrouohtstgsbsahpawkditkckynwt",
    "ur:bytes/16-9/lpbeascfadaxcywenbpljkhdcawygekobamwtlihsnpalnsghenskkiynthdzotsimtojetprsttmukirlrsbtamjtpd",
    "ur:bytes/17-9/lpbyascfadaxcywenbpljkhdcamklgftaxykpewyrtqzhydntpnytyisincxmhtbceaykolduortotiaiaiafhiaoyce",
    "ur:bytes/18-9/lpbgascfadaxcywenbpljkhdcahkadaemejtswhhylkepmykhhtsytsnoyoyaxaedsuttydmmhhpktpmsrjtntwkbkwy",
    "ur:bytes/19-9/lpbwascfadaxcywenbpljkhdcadekicpaajootjzpsdrbalpeywllbdsnbinaerkurspbncxgslgftvtsrjtksplcpeo",
    "ur:bytes/20-9/lpbbascfadaxcywenbpljkhdcayapmrleeleaxpasfrtrdkncffwjyjzgyetdmlewtkpktgllepfrltataztksmhkbot",
];
/// First bytes of Xoshiro256** seeded with SHA-256("Wolf"), the spec's test message.
const WOLF_PREFIX: [u8; 10] = [0x91, 0x6e, 0xc6, 0x5c, 0xf7, 0x7c, 0xad, 0xf5, 0x5c, 0xd7];

#[test]
fn ur_reference_vectors_decode() {
    let single = airlock_qr::decode_texts(&[UR_SINGLE]).unwrap();
    assert_eq!((single.format, single.kind.as_str()), (Format::Ur, "bytes"));
    assert_eq!(single.bytes.len(), 50);
    assert_eq!(single.bytes[..10], WOLF_PREFIX);
    // Upper case (as in a QR code) reads the same.
    let upper = airlock_qr::decode_texts(&[UR_SINGLE.to_ascii_uppercase()]).unwrap();
    assert_eq!(upper.bytes, single.bytes);

    // The nine fragments, in reverse order.
    let mut parts: Vec<&str> = UR_PARTS[..9].to_vec();
    parts.reverse();
    let multi = airlock_qr::decode_texts(&parts).unwrap();
    assert_eq!(multi.bytes.len(), 256);
    // Same generator, same seed: the 50-byte message is a prefix of the 256-byte one.
    assert_eq!(multi.bytes[..50], single.bytes[..]);

    // Fragment 1 lost: recovered from the fountain parts after the first cycle.
    let fountain = airlock_qr::decode_texts(&UR_PARTS[1..]).unwrap();
    assert_eq!(fountain.bytes, multi.bytes);

    // Re-encoding the message reproduces the published parts exactly.
    let cbor = airlock_qr::ur_codec::cbor_bytes(&multi.bytes);
    let mut enc = ur::Encoder::bytes(&cbor, 30).unwrap();
    for expected in UR_PARTS {
        assert_eq!(enc.next_part().unwrap(), expected);
    }
}

#[test]
fn ur_psbt_types_are_read_and_written() {
    let psbt = psbt_100();
    let frames = encode(&psbt, Format::Ur, Content::Psbt, Density::Max).unwrap();
    assert!(frames.texts[0].starts_with("UR:CRYPTO-PSBT/1-"));
    // The `ur` crate's own decoder reads our frames.
    let mut d = ur::Decoder::default();
    for t in &frames.texts[..frames.needed] {
        d.receive(t).unwrap();
    }
    let cbor = d.message().unwrap().unwrap();
    assert_eq!(
        airlock_qr::ur_codec::cbor_unwrap_bytes(&cbor).unwrap(),
        &psbt[..]
    );
    // The newer `psbt` type name is accepted.
    let small = b"psbt\xff\x01\x02\x03".to_vec();
    let s = ur::ur::encode(
        &airlock_qr::ur_codec::cbor_bytes(&small),
        &ur::Type::Custom("psbt"),
    );
    let out = airlock_qr::decode_texts(&[s]).unwrap();
    assert_eq!((out.kind.as_str(), out.bytes), ("psbt", small));
    // Unknown types are refused.
    let s = ur::ur::encode(&[0x41, 0], &ur::Type::Custom("crypto-seed"));
    assert!(matches!(
        airlock_qr::decode_texts(&[s]),
        Err(QrError::Malformed(_))
    ));
}

// ---- BBQr facts (github.com/coinkite/BBQr test data, public domain) ----

#[test]
fn bbqr_real_scan_joins() {
    // test_join.py: the scanned parts (with repeats, in scan order) join to type U text that
    // mentions "Zlib compressed" and "PSBT".
    let text = std::fs::read_to_string(data_dir().join("bbqr-real-scan.txt")).unwrap();
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    let out = airlock_qr::decode_texts(&lines).unwrap();
    assert_eq!((out.format, out.kind.as_str()), (Format::Bbqr, "U"));
    let s = String::from_utf8(out.bytes).unwrap();
    assert!(s.contains("Zlib compressed") && s.contains("PSBT"));
}

#[test]
fn bbqr_compression_matches_the_published_table() {
    // BBQr.md: 1in100out.psbt, 4142 bytes, compresses to 2654 bytes with wbits=10.
    let raw = std::fs::read(data_dir().join("bbqr-1in100out.psbt")).unwrap();
    assert_eq!(raw.len(), 4142);
    let c = bbqr::deflate_wbits10(&raw);
    assert!(
        (2600..=2710).contains(&c.len()),
        "compressed to {} bytes",
        c.len()
    );
    // A decoder with a 2^10 window (what Coldcard-class devices allocate) inflates it.
    let mut d = flate2::Decompress::new_with_window_bits(false, 10);
    let mut out = Vec::with_capacity(raw.len() + 16);
    let st = d
        .decompress_vec(&c, &mut out, flate2::FlushDecompress::Finish)
        .unwrap();
    assert_eq!(
        (st, out.as_slice()),
        (flate2::Status::StreamEnd, raw.as_slice())
    );
    let parts = bbqr::encode(&raw, b'P', 4296).unwrap();
    assert_eq!(parts.len(), 1);
    assert!(parts[0].starts_with("B$ZP0100"));
    assert_eq!(airlock_qr::decode_texts(&parts).unwrap().bytes, raw);
    // The spec's example: 2150 bytes in hex, parts of at most 2007 characters -> three parts
    // with these headers. (We balance the parts instead of leaving a runt, as the spec advises;
    // all but the last are equal.)
    let parts = bbqr::encode_with(&vec![0xab; 2150], b'H', b'P', 2007).unwrap();
    let heads: Vec<&str> = parts.iter().map(|p| &p[..8]).collect();
    assert_eq!(heads, ["B$HP0300", "B$HP0301", "B$HP0302"]);
    assert!(parts.iter().all(|p| p.len() <= 2007) && parts[0].len() == parts[1].len());
    assert_eq!(parts.iter().map(|p| p.len() - 8).sum::<usize>(), 4300);
}

// ---- Outputs ----

#[test]
fn gif_and_html_outputs() {
    let data = pseudo_random(6000, 5);
    let frames = encode(&data, Format::AirlockRq, Content::Artifact, Density::Medium).unwrap();
    assert!(frames.texts.len() > 2);
    let m = render::matrices(&frames).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let gif_path = dir.path().join("a.gif");
    std::fs::write(&gif_path, render::gif(&m, 3, 5.0).unwrap()).unwrap();
    let out = scan::decode_files(&[gif_path], |_, _| {}).unwrap();
    assert_eq!(out.bytes, data);

    let html = render::html(&m, 3, 5.0, "t<x>").unwrap();
    assert_eq!(html.matches("data:image/png;base64,").count(), m.len() + 1);
    assert!(!html.contains("http:") && !html.contains("https:") && !html.contains("<x>"));
    assert!(html.contains("setInterval(show,200)"));

    let term = render::terminal(&m[0], false);
    let side = m[0].width + 2 * render::QUIET;
    assert_eq!(term.lines().count(), side.div_ceil(2));
    assert!(term.lines().all(|l| l.chars().count() == side));
}

#[test]
fn small_artifact_is_one_static_qr() {
    let data = pseudo_random(200, 9);
    for format in [Format::AirlockRq, Format::Ur, Format::Bbqr] {
        let f = encode(&data, format, Content::Artifact, Density::Medium).unwrap();
        assert_eq!((f.texts.len(), f.needed), (1, 1), "{format}");
        let m = render::matrices(&f).unwrap();
        assert!(
            m[0].width < 20 * 4 + 17,
            "{format}: smallest version, not the density's"
        );
        assert_eq!(airlock_qr::decode_texts(&f.texts).unwrap().bytes, data);
    }
}

#[test]
fn cli_show_png_then_read() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("x.airlock");
    let data = pseudo_random(9000, 3);
    std::fs::write(&input, &data).unwrap();
    let frames_dir = dir.path().join("frames");
    airlock_qr::cli::show(
        &airlock_qr::cli::ShowArgs {
            file: input,
            format: "png".into(),
            out: Some(frames_dir.clone()),
            encoding: "auto".into(),
            density: "low".into(),
            fps: 4.0,
            frames: None,
        },
        true,
    )
    .unwrap();
    assert!(frames_dir.join("frame-0001.png").exists());
    let out = dir.path().join("back.airlock");
    airlock_qr::cli::read(
        &airlock_qr::cli::ReadArgs {
            paths: vec![frames_dir],
            out: out.clone(),
        },
        true,
    )
    .unwrap();
    assert_eq!(std::fs::read(out).unwrap(), data);
}

// ---- Bad input ----

fn png_of(dir: &Path, name: &str, text: &str) -> PathBuf {
    let m = render::qr(text, Density::Medium, true).unwrap();
    let p = dir.join(name);
    std::fs::write(&p, render::png(&m, 4).unwrap()).unwrap();
    p
}

#[test]
fn mixed_messages_are_refused_naming_both() {
    let dir = tempfile::tempdir().unwrap();
    for format in [Format::AirlockRq, Format::Ur, Format::Bbqr] {
        let a = encode(
            &pseudo_random(3000, 1),
            format,
            Content::Artifact,
            Density::Low,
        )
        .unwrap();
        let b = encode(
            &pseudo_random(3500, 2),
            format,
            Content::Artifact,
            Density::Low,
        )
        .unwrap();
        let files = vec![
            png_of(dir.path(), "a.png", &a.texts[0]),
            png_of(dir.path(), "b.png", &b.texts[1]),
        ];
        let e = expect_err(scan::decode_files(&files, |_, _| {}));
        match e.root() {
            QrError::MixedMessages { first, second } => {
                assert_ne!(first, second);
                assert!(e.to_string().contains("b.png"), "{e}");
            }
            other => panic!("{format}: {other}"),
        }
    }
    // Two formats mixed.
    let a = encode(
        &pseudo_random(3000, 1),
        Format::AirlockRq,
        Content::Artifact,
        Density::Low,
    )
    .unwrap();
    let b = encode(
        &pseudo_random(3000, 1),
        Format::Ur,
        Content::Artifact,
        Density::Low,
    )
    .unwrap();
    let e = expect_err(airlock_qr::decode_texts(&[&a.texts[0], &b.texts[0]]));
    assert!(matches!(e, QrError::MixedMessages { .. }), "{e}");
}

#[test]
fn corrupted_parts_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let a = encode(
        &pseudo_random(3000, 1),
        Format::AirlockRq,
        Content::Artifact,
        Density::Low,
    )
    .unwrap();
    // Flip one base32 character: the QR code is valid, the frame's CRC32 is not.
    let mut t = a.texts[1].clone().into_bytes();
    let i = t.len() / 2;
    t[i] = if t[i] == b'Q' { b'R' } else { b'Q' };
    let bad = String::from_utf8(t).unwrap();
    let files = vec![
        png_of(dir.path(), "good.png", &a.texts[0]),
        png_of(dir.path(), "bad.png", &bad),
    ];
    let e = expect_err(scan::decode_files(&files, |_, _| {}));
    assert!(
        matches!(e.root(), QrError::Corrupted(m) if m.contains("CRC")),
        "{e}"
    );

    // A UR part with one byteword changed fails its checksum.
    let mut t = UR_PARTS[3].to_owned();
    t.replace_range(30..32, "ae");
    let e = expect_err(airlock_qr::decode_texts(&[UR_PARTS[0], t.as_str()]));
    assert!(matches!(e, QrError::Corrupted(_)), "{e}");
}

#[test]
fn absurd_part_counts_and_lengths_are_refused() {
    // UR: more fragments than any message may have.
    let e = expect_err(airlock_qr::decode_texts(&[
        "ur:bytes/1-99999999/lpadascfadaxcywenbpljkhdcahkadaemejtswhhylkepmykhhtsytsnoyoyaxaedsuttydmmhhpktpmsrjtdkgslpgh",
    ]));
    assert!(matches!(e, QrError::Absurd(_)), "{e}");
    // UR: a well-formed part claiming a 1 TB message in 3 fragments.
    let mut cbor = vec![0x85, 0x01, 0x03, 0x1b];
    cbor.extend(1u64.wrapping_shl(40).to_be_bytes());
    cbor.extend([0x1a, 1, 2, 3, 4, 0x43, 1, 2, 3]);
    let s = format!(
        "ur:bytes/1-3/{}",
        ur::bytewords::encode(&cbor, ur::bytewords::Style::Minimal)
    );
    let e = expect_err(airlock_qr::decode_texts(&[s]));
    assert!(matches!(e, QrError::Absurd(_)), "{e}");
    // BBQr: index past the count, count zero.
    for t in ["B$2B0305AAAAAAAA", "B$2B0000AAAAAAAA"] {
        let e = expect_err(airlock_qr::decode_texts(&[t]));
        assert!(matches!(e, QrError::Absurd(_)), "{t}: {e}");
    }
    // Any frame longer than a QR code can hold.
    let e = expect_err(airlock_qr::decode_texts(&[
        "B$2B0100".to_owned() + &"A".repeat(9000)
    ]));
    assert!(matches!(e, QrError::Absurd(_)), "{e}");
    // BBQr zlib that inflates past 16 MiB is refused, not allocated.
    let bomb = bbqr::deflate_wbits10(&vec![0u8; 17 * 1024 * 1024]);
    let body = airlock_qr::base32::encode(&bomb);
    let texts: Vec<String> = body
        .as_bytes()
        .chunks(4000)
        .enumerate()
        .map(|(i, c)| {
            let n = body.len().div_ceil(4000);
            format!("B$ZB{:02}{:02}{}", n, i, std::str::from_utf8(c).unwrap())
        })
        .collect();
    assert!(texts.len() < 36, "decimal digits are base 36 here");
    let e = expect_err(airlock_qr::decode_texts(&texts));
    assert!(matches!(e, QrError::Absurd(_)), "{e}");
}

#[test]
fn truncated_and_non_qr_images_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let good = png_of(dir.path(), "good.png", "AIRLOCK1/ABCDEFGH");
    let bytes = std::fs::read(&good).unwrap();
    let truncated = dir.path().join("truncated.png");
    std::fs::write(&truncated, &bytes[..bytes.len() / 2]).unwrap();
    let e = scan::read_image(&truncated).unwrap_err();
    assert!(e.to_string().contains("truncated.png"), "{e}");

    // A white image: a valid PNG with no QR code in it.
    let blank = render::Matrix {
        width: 21,
        dark: vec![false; 21 * 21],
    };
    let white = dir.path().join("white.png");
    std::fs::write(&white, render::png(&blank, 4).unwrap()).unwrap();
    let e = scan::read_image(&white).unwrap_err();
    assert!(e.to_string().contains("no readable QR code"), "{e}");

    let text = dir.path().join("notes.png");
    std::fs::write(&text, b"hello").unwrap();
    let e = scan::read_image(&text).unwrap_err();
    assert!(e.to_string().contains("not a PNG or GIF"), "{e}");

    // A QR code with text that is none of the formats.
    let other = png_of(dir.path(), "url.png", "HTTPS://EXAMPLE.ORG");
    let e = expect_err(scan::decode_files(&[other], |_, _| {}));
    assert!(matches!(e.root(), QrError::Malformed(_)), "{e}");
}

#[test]
fn every_psbt_frame_renders_at_its_density_version() {
    // The qrcode crate's segment optimizer once overflowed the version on some of these frames.
    let psbt = psbt_100();
    for d in Density::ALL {
        for (f, c) in [
            (Format::Ur, Content::Psbt),
            (Format::Bbqr, Content::Psbt),
            (Format::AirlockRq, Content::Artifact),
        ] {
            let frames = encode(&psbt, f, c, d).unwrap();
            for t in &frames.texts {
                let m = render::qr(t, d, frames.texts.len() == 1)
                    .unwrap_or_else(|e| panic!("{f} at {}: {e}", d.name()));
                assert_eq!(m.width, 17 + 4 * d.version() as usize);
            }
        }
    }
}

#[test]
fn tiny_and_odd_sizes_round_trip_in_every_format() {
    for n in [1usize, 2, 5, 17, 418, 419, 420, 1000, 4097] {
        let data = pseudo_random(n, n as u64);
        for f in [Format::Ur, Format::Bbqr, Format::AirlockRq] {
            for d in [Density::Low, Density::Max] {
                let frames = encode(&data, f, Content::Artifact, d).unwrap();
                let mut texts = frames.texts.clone();
                shuffle(&mut texts, 3);
                let out = airlock_qr::decode_texts(&texts)
                    .unwrap_or_else(|e| panic!("{f} {n} bytes at {}: {e}", d.name()));
                assert_eq!(out.bytes, data, "{f} {n}");
            }
        }
    }
    assert!(matches!(
        encode(&[], Format::AirlockRq, Content::Artifact, Density::Low),
        Err(QrError::Encode(_))
    ));
}

/// A file of frame texts written for a device (one UR per line, as `airlock btc export --format
/// ur` and `airlock-signer device-request` write it) is drawn frame for frame as written:
/// zbarimg reads back exactly those lines, and they reassemble to the message. Two messages in
/// one file are refused.
#[test]
fn qr_show_draws_a_file_of_frames_as_written() {
    use airlock_qr::cli::{ShowArgs, show};
    let data = pseudo_random(900, 7);
    let frames = encode(&data, Format::Ur, Content::Artifact, Density::Low).unwrap();
    assert!(frames.needed > 1);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("frames.txt");
    std::fs::write(&file, frames.texts.join("\n") + "\n").unwrap();
    let png = dir.path().join("png");
    let args = |file: &Path| ShowArgs {
        file: file.to_path_buf(),
        format: "png".into(),
        out: Some(png.clone()),
        encoding: "auto".into(),
        density: "low".into(),
        fps: 4.0,
        frames: None,
    };
    show(&args(&file), true).unwrap();
    let mut files: Vec<PathBuf> = std::fs::read_dir(&png)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    let texts = zbarimg(&files);
    assert_eq!(texts, frames.texts);
    assert_eq!(airlock_qr::decode_texts(&texts).unwrap().bytes, data);

    let two = dir.path().join("two.txt");
    std::fs::write(
        &two,
        format!("{}\n\n{}\n", frames.texts[0], frames.texts[1]),
    )
    .unwrap();
    let e = show(&args(&two), true).unwrap_err();
    assert!(e.contains("holds 2 QR messages"), "{e}");
}
