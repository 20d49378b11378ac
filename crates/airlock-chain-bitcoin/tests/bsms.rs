//! BSMS (BIP-129) descriptor records: export, import round trip, and refusals.

mod offline_support;

use airlock_chain_bitcoin::{export_descriptor_record, import_descriptor_record};
use offline_support::*;

#[test]
fn record_round_trip() {
    for text in [sortedmulti_2of3(), taproot_multi_a(), recovery_policy(144)] {
        let vault = vault(&text);
        let record = export_descriptor_record(&vault).unwrap();
        let lines: Vec<&str> = record.lines().collect();
        assert_eq!(lines.len(), 4, "{record}");
        assert_eq!(lines[0], "BSMS 1.0");
        assert!(
            lines[1].contains("/**") && !lines[1].contains("<0;1>"),
            "{record}"
        );
        assert_eq!(lines[2], "/0/*,/1/*");
        assert_eq!(lines[3], vault.first_receive_address().unwrap().to_string());
        let back = import_descriptor_record(&record, NETWORK).unwrap();
        assert_eq!(back.wallet_fingerprint(), vault.wallet_fingerprint());
        // CRLF line endings are accepted.
        let crlf = record.replace('\n', "\r\n");
        import_descriptor_record(&crlf, NETWORK).unwrap();
    }
}

#[test]
fn full_multipath_form_and_no_checksum_are_accepted() {
    let vault = vault(&sortedmulti_2of3());
    let record = format!(
        "BSMS 1.0\n{}\nNo path restrictions\n{}\n",
        sortedmulti_2of3(),
        vault.first_receive_address().unwrap()
    );
    import_descriptor_record(&record, NETWORK).unwrap();
}

#[test]
fn bad_records_are_refused() {
    let vault = vault(&sortedmulti_2of3());
    let record = export_descriptor_record(&vault).unwrap();
    let lines: Vec<String> = record.lines().map(str::to_owned).collect();
    let with = |i: usize, value: &str| {
        let mut l = lines.clone();
        l[i] = value.to_owned();
        l.join("\n")
    };
    let other_address = vault.address(0, 1).unwrap().to_string();
    let (body, checksum) = lines[1].rsplit_once('#').unwrap();
    let bad_checksum = format!(
        "{body}#{}",
        if checksum.starts_with('q') { "p" } else { "q" }.to_owned() + &checksum[1..]
    );
    let cases = [
        (with(3, &other_address), "first address"),
        (with(0, "BSMS 2.0"), "must start with"),
        (with(0, "a3f0c1"), "encrypted"),
        (with(2, "/0/*"), "path restrictions"),
        (with(1, &bad_checksum), "checksum mismatch"),
        (lines[..3].join("\n"), "4 lines"),
    ];
    for (record, needle) in cases {
        let err = import_descriptor_record(&record, NETWORK)
            .unwrap_err()
            .to_string();
        assert!(err.contains(needle), "{needle}: {err}");
    }
    // The vault's own checks still apply: keys of another network.
    let err = import_descriptor_record(&record, bitcoin::Network::Bitcoin)
        .unwrap_err()
        .to_string();
    assert!(err.contains("descriptor:"), "{err}");
}
