//! FROST key generation across the air gap with the real binaries (issue 15): the coordinator
//! writes the roster and relays each round (`airlock frost roster|relay`), every signer answers
//! from its own home (`airlock-signer frost keygen start|continue|finish`), and all members end
//! with the same group key, descriptor and first address, their shares sealed. Bad answers are
//! refused by the relay and by the signers, naming the member; a signer killed at any write of a
//! step continues from where it stopped and the group still comes out whole.

mod common;

use common::*;
use serde_json::Value;

const MEMBERS: [&str; 3] = ["alice", "bob", "carol"];

struct Group<'a> {
    w: &'a World,
    name: String,
    roster: std::path::PathBuf,
    /// "keygen" or "refresh".
    ceremony: &'static str,
}

fn world() -> (World, Vec<String>) {
    let w = World::new();
    let ids = MEMBERS.iter().map(|m| w.init_signer(m)).collect();
    (w, ids)
}

fn roster(w: &World, ids: &[String], label: &str, threshold: &str) -> std::path::PathBuf {
    let out = w.fresh("roster");
    let mut args = vec![
        "frost",
        "roster",
        "--label",
        label,
        "--threshold",
        threshold,
        "--out",
        path_str(&out),
    ];
    let members: Vec<String> = MEMBERS
        .iter()
        .zip(ids)
        .map(|(m, id)| format!("{m}:{id}"))
        .collect();
    for m in &members {
        args.push("--member");
        args.push(m);
    }
    w.airlock(&args).ok();
    out
}

impl Group<'_> {
    fn start(&self, who: &str) -> std::path::PathBuf {
        let out = self.w.fresh(&format!("{}-r1-{who}", self.name));
        self.w
            .signer(
                who,
                &[
                    "frost",
                    self.ceremony,
                    "start",
                    "--group",
                    &self.name,
                    "--roster",
                    path_str(&self.roster),
                    "--out",
                    path_str(&out),
                ],
            )
            .ok();
        out
    }

    fn relay(&self, answers: &[std::path::PathBuf]) -> Out {
        let out = self.w.fresh(&format!("{}-relay", self.name));
        let mut args = vec![
            "--json",
            "frost",
            "relay",
            "--roster",
            path_str(&self.roster),
            "--out",
            path_str(&out),
        ];
        for a in answers {
            args.push(path_str(a));
        }
        self.w.airlock(&args)
    }

    fn relayed(&self, answers: &[std::path::PathBuf]) -> std::path::PathBuf {
        let v = self.relay(answers).ok().json();
        v["out"].as_str().unwrap().into()
    }

    fn step(&self, who: &str, step: &str, input: &std::path::Path) -> Out {
        let out = self
            .w
            .p(&format!("{}-{}-{step}-{who}", self.name, self.ceremony));
        let mut args = vec![
            "--json",
            "frost",
            self.ceremony,
            step,
            "--group",
            &self.name,
            "--in",
            path_str(input),
        ];
        if step == "continue" {
            args.extend(["--out", path_str(&out)]);
        } else {
            args.extend(["--network", "regtest"]);
        }
        self.w.signer(who, &args)
    }

    fn answer_of(&self, who: &str, step: &str) -> std::path::PathBuf {
        self.w
            .p(&format!("{}-{}-{step}-{who}", self.name, self.ceremony))
    }

    /// Every member answers until `step` ("continue" or "finish") is next; returns the relayed
    /// round 1 and the input of `step`.
    fn up_to(&self, step: &str) -> (std::path::PathBuf, std::path::PathBuf) {
        let r1: Vec<_> = MEMBERS.iter().map(|m| self.start(m)).collect();
        let round1 = self.relayed(&r1);
        if step == "continue" {
            return (round1.clone(), round1);
        }
        for m in MEMBERS {
            self.step(m, "continue", &round1).ok();
        }
        let round2 = self.relayed(&MEMBERS.map(|m| self.answer_of(m, "continue")));
        (round1, round2)
    }

    /// The arguments of `who`'s `step` on `input` (without --json).
    fn args_of(&self, who: &str, step: &str, input: &std::path::Path) -> Vec<String> {
        let mut args: Vec<String> = ["frost", self.ceremony, step, "--group", &self.name, "--in"]
            .iter()
            .map(|a| a.to_string())
            .collect();
        args.push(path_str(input).to_owned());
        if step == "continue" {
            args.push("--out".into());
            args.push(path_str(&self.answer_of(who, step)).to_owned());
        } else {
            args.extend(["--network".into(), "regtest".into()]);
        }
        args
    }

    /// A repair's first crossing: each helper's deltas for member `lost` (this group's roster is
    /// the repair's), relayed; returns the relayed file.
    fn repair_deltas(&self, helpers: &[&str], lost: &str, numbers: &str) -> std::path::PathBuf {
        let answers: Vec<_> = helpers
            .iter()
            .map(|who| {
                let out = self.w.fresh(&format!("delta-{who}"));
                self.w
                    .signer(
                        who,
                        &[
                            "frost",
                            "repair",
                            "start",
                            "--group",
                            &self.name,
                            "--roster",
                            path_str(&self.roster),
                            "--lost",
                            lost,
                            "--helpers",
                            numbers,
                            "--out",
                            path_str(&out),
                        ],
                    )
                    .ok();
                out
            })
            .collect();
        self.relayed(&answers)
    }

    /// The arguments of a helper's second crossing (without --json).
    fn forward_args(&self, deltas: &std::path::Path, out: &std::path::Path) -> Vec<String> {
        [
            "frost",
            "repair",
            "forward",
            "--group",
            &self.name,
            "--in",
            path_str(deltas),
            "--out",
            path_str(out),
        ]
        .map(String::from)
        .to_vec()
    }

    /// A helper's second crossing; returns its sigma file.
    fn forward(&self, who: &str, deltas: &std::path::Path) -> std::path::PathBuf {
        let out = self.w.fresh(&format!("sigma-{who}"));
        let args = self.forward_args(deltas, &out);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        self.w.signer(who, &args).ok();
        out
    }

    /// The new device's receipt of the relayed sigmas (--json).
    fn receive(&self, who: &str, lost: &str, numbers: &str, sigmas: &std::path::Path) -> Out {
        self.w.signer(
            who,
            &[
                "--json",
                "frost",
                "repair",
                "receive",
                "--group",
                &self.name,
                "--roster",
                path_str(&self.roster),
                "--lost",
                lost,
                "--helpers",
                numbers,
                "--in",
                path_str(sigmas),
                "--network",
                "regtest",
            ],
        )
    }

    /// The whole ceremony among `members`; returns what each shows at the end.
    fn run_all(&self, members: &[&str]) -> Vec<Value> {
        let r1: Vec<_> = members.iter().map(|m| self.start(m)).collect();
        let round1 = self.relayed(&r1);
        for m in members {
            self.step(m, "continue", &round1).ok();
        }
        let r2: Vec<_> = members
            .iter()
            .map(|m| self.answer_of(m, "continue"))
            .collect();
        let round2 = self.relayed(&r2);
        members
            .iter()
            .map(|m| self.step(m, "finish", &round2).ok().json())
            .collect()
    }

    fn show(&self, who: &str) -> Value {
        self.w
            .signer(
                who,
                &[
                    "--json",
                    "frost",
                    "show",
                    "--group",
                    &self.name,
                    "--network",
                    "regtest",
                ],
            )
            .ok()
            .json()[0]
            .clone()
    }
}

/// Alice's signer with these arguments and `AIRLOCK_FAILPOINT` set to `failpoint`.
fn alice_at(w: &World, args: &[impl AsRef<str>], failpoint: &str) -> Out {
    let home = w.signer_home("alice");
    let pass = w.pass_file("alice");
    let mut all = vec![
        "--home",
        path_str(&home),
        "--passphrase-file",
        path_str(&pass),
    ];
    all.extend(args.iter().map(AsRef::as_ref));
    run(&signer_bin(), &all, T0, &[("AIRLOCK_FAILPOINT", failpoint)])
}

/// Every member shows the same group facts; returns them.
fn same_facts(finished: &[Value]) -> Value {
    for f in finished {
        assert_eq!(f["stage"], "finished");
        for key in [
            "group_key",
            "descriptor",
            "wallet_fingerprint",
            "first_address",
        ] {
            assert_eq!(f[key], finished[0][key], "{key} differs between members");
        }
    }
    finished[0].clone()
}

#[test]
fn a_frost_group_is_made_across_the_gap_and_every_member_shows_the_same_address() {
    let (w, ids) = world();
    let g = Group {
        w: &w,
        name: "cold".into(),
        roster: roster(&w, &ids, "cold vault 2027", "2"),
        ceremony: "keygen",
    };

    // A signer outside the roster is refused before anything is kept.
    let stranger = w.init_signer("mallory");
    let before = w.signer_files("mallory");
    w.signer(
        "mallory",
        &[
            "frost",
            "keygen",
            "start",
            "--group",
            "cold",
            "--roster",
            path_str(&g.roster),
            "--out",
            path_str(&w.fresh("x")),
        ],
    )
    .fails(1, "is not a member of the roster");
    assert_eq!(w.signer_files("mallory"), before);
    assert!(!stranger.is_empty());

    let r1: Vec<_> = MEMBERS.iter().map(|m| g.start(m)).collect();
    // Round 1 again gives the same answer (a lost file, a crash): no second commitment.
    let again = g.start("alice");
    assert_eq!(
        std::fs::read(&again).unwrap(),
        std::fs::read(&r1[0]).unwrap()
    );
    // A group name in use is not started over with another roster.
    let other = roster(&w, &ids, "another ceremony", "3");
    w.signer(
        "alice",
        &[
            "frost",
            "keygen",
            "start",
            "--group",
            "cold",
            "--roster",
            path_str(&other),
            "--out",
            path_str(&w.fresh("x")),
        ],
    )
    .fails(1, "already has a key generation here");

    // The relay refuses an incomplete round, naming who is missing, and an altered answer,
    // naming its member.
    g.relay(&r1[..2]).fails(1, "missing: carol (3)");
    let mut altered = std::fs::read(&r1[1]).unwrap();
    let at = altered.len() - 80;
    altered[at] ^= 1;
    let altered_path = w.fresh("altered");
    std::fs::write(&altered_path, &altered).unwrap();
    g.relay(&[r1[0].clone(), altered_path.clone(), r1[2].clone()])
        .fails(1, "from member 2 (bob) is not signed by its identity");
    // Another ceremony's round 1 is refused as such.
    g.relay(&[r1[0].clone(), r1[0].clone(), r1[2].clone()])
        .fails(
            1,
            "two key generation round 1 messages from member 1 (alice)",
        );
    let round1 = g.relayed(&r1);

    // Finishing before round 2 is refused; round 2 on an altered relay changes nothing.
    g.step("alice", "finish", &round1)
        .fails(1, "run `frost keygen continue` first");
    let mut bad_relay = std::fs::read(&round1).unwrap();
    let at = bad_relay.len() - 10;
    bad_relay[at] ^= 1;
    let bad_relay_path = w.fresh("bad-relay");
    std::fs::write(&bad_relay_path, &bad_relay).unwrap();
    let before = w.signer_files("alice");
    g.step("alice", "continue", &bad_relay_path)
        .fails(1, "not signed by its identity");
    assert_eq!(w.signer_files("alice"), before, "nothing changed");

    for m in MEMBERS {
        g.step(m, "continue", &round1).ok();
    }
    let first = std::fs::read(g.answer_of("alice", "continue")).unwrap();
    let again = g.step("alice", "continue", &round1).ok().json();
    assert_eq!(again["repeated"], true);
    assert_eq!(
        std::fs::read(g.answer_of("alice", "continue")).unwrap(),
        first
    );
    let r2: Vec<_> = MEMBERS.iter().map(|m| g.answer_of(m, "continue")).collect();
    g.relay(&r2[..2])
        .fails(1, "missing: carol (3) to alice (1)");
    let round2 = g.relayed(&r2);
    // Round-2 packages are encrypted to their recipients: the relay holds no share in clear,
    // and a package altered on the way is refused by its recipient.
    let mut tampered = std::fs::read(&round2).unwrap();
    let at = tampered.len() / 2;
    tampered[at] ^= 1;
    let tampered_path = w.fresh("tampered");
    std::fs::write(&tampered_path, &tampered).unwrap();
    let before: Vec<_> = MEMBERS.iter().map(|m| w.signer_files(m)).collect();
    let refusals: Vec<Out> = MEMBERS
        .iter()
        .map(|m| g.step(m, "finish", &tampered_path))
        .collect();
    assert!(
        refusals.iter().any(|o| o.code == 1),
        "someone's package was altered: {refusals:#?}"
    );
    for (m, b) in MEMBERS.iter().zip(&before) {
        if refusals[MEMBERS.iter().position(|x| x == m).unwrap()].code != 0 {
            assert_eq!(
                &w.signer_files(m),
                b,
                "{m}: a refused finish changes nothing"
            );
        }
    }

    let finished: Vec<Value> = MEMBERS
        .iter()
        .map(|m| g.step(m, "finish", &round2).ok().json())
        .collect();
    let facts = same_facts(&finished);
    assert_eq!(facts["threshold"], 2);
    // Each member's verifying share, as a vault would list it: one sharing of the group key.
    let listed: Vec<_> = facts["member_keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| airlock_frost::group::parse_member_chain_key(k.as_str().unwrap()).unwrap())
        .collect();
    assert_eq!(listed.len(), 3);
    let mut group = vec![0x02];
    group.extend(hex::decode(facts["group_key"].as_str().unwrap()).unwrap());
    let group = airlock_frost::frost::VerifyingKey::deserialize(&group).unwrap();
    airlock_frost::group::public_package(&group, 2, &listed).unwrap();
    assert!(
        facts["first_address"]
            .as_str()
            .unwrap()
            .starts_with("bcrt1p")
    );
    assert!(
        facts["descriptor"].as_str().unwrap().starts_with("tr(["),
        "{facts}"
    );
    // Finishing again shows the same group; show agrees.
    let again = g.step("bob", "finish", &round2).ok().json();
    assert_eq!(again["group_key"], facts["group_key"]);
    assert_eq!(g.show("carol")["first_address"], facts["first_address"]);
    // The share is sealed: no file of the group holds the round states any more, and the key
    // share file's secret part opens only with the passphrase.
    let files = w.signer_files("alice");
    let names: Vec<String> = files
        .keys()
        .filter(|p| p.starts_with("frost"))
        .map(|p| p.display().to_string())
        .collect();
    assert_eq!(
        names,
        vec!["frost/cold/share.json".to_string()],
        "{names:?}"
    );
    let wrong = w.p("wrong.pass");
    std::fs::write(&wrong, "not the passphrase\n").unwrap();
    let out = w.fresh("commitments");
    w.signer_with_passphrase(
        "alice",
        &wrong,
        &[
            "frost",
            "commitments",
            "--group",
            "cold",
            "--count",
            "5",
            "--out",
            path_str(&out),
        ],
    )
    .fails(1, "passphrase");

    // Nonce commitments handed over in advance: the relay checks them as any round.
    let c: Vec<_> = ["alice", "bob"]
        .iter()
        .map(|m| {
            let out = w.fresh(&format!("commitments-{m}"));
            w.signer(
                m,
                &[
                    "frost",
                    "commitments",
                    "--group",
                    "cold",
                    "--count",
                    "5",
                    "--out",
                    path_str(&out),
                ],
            )
            .ok();
            out
        })
        .collect();
    let pool = g.relay(&c).ok().json();
    assert_eq!(pool["kind"], "nonce commitments");
    assert_eq!(pool["messages"], 2);
}

/// A signer killed at every write, fsync and rename of `continue` and of `finish` runs the
/// step again and the group still comes out whole, with one group key for all.
#[test]
fn a_crash_at_any_write_of_a_keygen_step_continues_to_one_group() {
    let (w, ids) = world();
    let roster_path = roster(&w, &ids, "crash drill", "2");
    for step in ["continue", "finish"] {
        let group = |name: String| Group {
            w: &w,
            name,
            roster: roster_path.clone(),
            ceremony: "keygen",
        };
        // List the points of the step once.
        let listing = group(format!("list-{step}"));
        let (_, input) = listing.up_to(step);
        let points =
            failpoints(&alice_at(&w, &listing.args_of("alice", step, &input), "list").ok());
        assert!(points.len() >= 3, "{step}: {points:?}");

        for (k, point) in points.iter().enumerate() {
            let g = group(format!("{step}-{k}"));
            let (round1, input) = g.up_to(step);
            let args = g.args_of("alice", step, &input);
            assert!(crashed(&alice_at(&w, &args, point)), "{step} {point}");
            // Run again: it goes on from what was kept.
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            w.signer("alice", &args).ok();
            if step == "continue" {
                for m in ["bob", "carol"] {
                    g.step(m, "continue", &round1).ok();
                }
                let round2 = g.relayed(&MEMBERS.map(|m| g.answer_of(m, "continue")));
                let finished: Vec<Value> = MEMBERS
                    .iter()
                    .map(|m| g.step(m, "finish", &round2).ok().json())
                    .collect();
                same_facts(&finished);
            } else {
                let finished: Vec<Value> = ["bob", "carol"]
                    .iter()
                    .map(|m| g.step(m, "finish", &input).ok().json())
                    .collect();
                let facts = same_facts(&finished);
                assert_eq!(g.show("alice")["group_key"], facts["group_key"], "{point}");
            }
        }
    }
}

/// A refresh roster: members with their numbers in the group.
fn refresh_roster(
    w: &World,
    members: &[(u16, &str, &str)],
    label: &str,
    threshold: &str,
) -> std::path::PathBuf {
    let out = w.fresh("refresh-roster");
    let specs: Vec<String> = members
        .iter()
        .map(|(n, name, id)| format!("{n}:{name}:{id}"))
        .collect();
    let mut args = vec![
        "frost",
        "roster",
        "--label",
        label,
        "--threshold",
        threshold,
        "--out",
        path_str(&out),
    ];
    for s in &specs {
        args.push("--member");
        args.push(s);
    }
    w.airlock(&args).ok();
    out
}

/// A refresh among alice and carol keeps the group key and first address and replaces their
/// shares; bob, left out, is refused by the refresh. A roster that changes the threshold, or is
/// the group's own, is refused; a member killed at any write of its refresh finish runs it again
/// and ends refreshed.
#[test]
fn a_refresh_keeps_the_group_key_and_a_member_left_out_leaves() {
    let (w, ids) = world();
    let keygen_roster = roster(&w, &ids, "refreshed group", "2");
    let g = Group {
        w: &w,
        name: "cold".into(),
        roster: keygen_roster.clone(),
        ceremony: "keygen",
    };
    let made = same_facts(&g.run_all(&MEMBERS));
    let two = [(1, "alice", ids[0].as_str()), (3, "carol", ids[2].as_str())];

    // Refused rosters change nothing.
    let before = w.signer_files("alice");
    let changed_threshold = refresh_roster(
        &w,
        &[two[0], (2, "bob", &ids[1]), two[1]],
        "refresh t3",
        "3",
    );
    let same = keygen_roster.clone();
    for (roster, needle) in [
        (&changed_threshold, "keeps its threshold (2)"),
        (&same, "a roster of its own"),
    ] {
        w.signer(
            "alice",
            &[
                "frost",
                "refresh",
                "start",
                "--group",
                "cold",
                "--roster",
                path_str(roster),
                "--out",
                path_str(&w.fresh("x")),
            ],
        )
        .fails(1, needle);
    }
    let renumbered = refresh_roster(&w, &[(2, "alice", &ids[0]), two[1]], "renumbered", "2");
    w.signer(
        "alice",
        &[
            "frost",
            "refresh",
            "start",
            "--group",
            "cold",
            "--roster",
            path_str(&renumbered),
            "--out",
            path_str(&w.fresh("x")),
        ],
    )
    .fails(1, "keeps its threshold (2) and some or all of its members");
    assert_eq!(w.signer_files("alice"), before, "nothing changed");
    w.airlock(&[
        "frost",
        "roster",
        "--label",
        "mixed",
        "--threshold",
        "2",
        "--member",
        &format!("1:alice:{}", ids[0]),
        "--member",
        &format!("carol:{}", ids[2]),
        "--out",
        path_str(&w.fresh("mixed")),
    ])
    .fails(1, "give every --member a number");

    let r = Group {
        w: &w,
        name: "cold".into(),
        roster: refresh_roster(&w, &two, "refresh 2027-02 without bob", "2"),
        ceremony: "refresh",
    };
    w.signer(
        "bob",
        &[
            "frost",
            "refresh",
            "start",
            "--group",
            "cold",
            "--roster",
            path_str(&r.roster),
            "--out",
            path_str(&w.fresh("x")),
        ],
    )
    .fails(1, "is not a member of the roster");
    let share_before = std::fs::read(w.signer_home("alice").join("frost/cold/share.json")).unwrap();
    let refreshed = same_facts(&r.run_all(&["alice", "carol"]));
    for key in ["group_key", "descriptor", "first_address"] {
        assert_eq!(refreshed[key], made[key], "{key} is kept by the refresh");
    }
    assert_eq!(refreshed["label"], "refresh 2027-02 without bob");
    assert_eq!(
        refreshed["members"].as_array().unwrap().len(),
        2,
        "bob left"
    );
    assert_eq!(refreshed["member_keys"].as_array().unwrap().len(), 2);
    for k in refreshed["member_keys"].as_array().unwrap() {
        assert!(
            !made["member_keys"].as_array().unwrap().contains(k),
            "a refresh gives every member a new verifying share"
        );
    }
    assert_ne!(
        std::fs::read(w.signer_home("alice").join("frost/cold/share.json")).unwrap(),
        share_before,
        "the share was replaced"
    );
    // Finishing again changes nothing more.
    std::fs::write(w.p("nothing"), b"").unwrap();
    let again = r.step("alice", "finish", &w.p("nothing")).ok().json();
    assert_eq!(again["group_key"], made["group_key"]);

    // A kill at every write of a refresh's finish: run again, it ends refreshed.
    let alice = |args: &[&str], failpoint: &str| alice_at(&w, args, failpoint);
    let mut k = 0;
    let mut points: Option<Vec<String>> = None;
    loop {
        let name = format!("crash-{k}");
        let g = Group {
            w: &w,
            name: name.clone(),
            roster: keygen_roster.clone(),
            ceremony: "keygen",
        };
        let made = same_facts(&g.run_all(&MEMBERS));
        let r = Group {
            w: &w,
            name: name.clone(),
            roster: refresh_roster(&w, &two, &format!("refresh {k}"), "2"),
            ceremony: "refresh",
        };
        let r1: Vec<_> = ["alice", "carol"].iter().map(|m| r.start(m)).collect();
        let round1 = r.relayed(&r1);
        for m in ["alice", "carol"] {
            r.step(m, "continue", &round1).ok();
        }
        let round2 = r.relayed(&["alice", "carol"].map(|m| r.answer_of(m, "continue")));
        let args = [
            "frost",
            "refresh",
            "finish",
            "--group",
            &name,
            "--in",
            path_str(&round2),
            "--network",
            "regtest",
        ];
        let Some(list) = &points else {
            points = Some(failpoints(&alice(&args, "list").ok()));
            assert!(points.as_ref().unwrap().len() >= 3, "{points:?}");
            k += 1;
            continue;
        };
        let Some(point) = list.get(k - 1) else { break };
        assert!(crashed(&alice(&args, point)), "{point}");
        let v = r.step("alice", "finish", &round2).ok().json();
        assert_eq!(v["group_key"], made["group_key"], "{point}");
        assert_eq!(
            v["label"],
            format!("refresh {k}"),
            "{point}: alice ends refreshed"
        );
        let carol = r.step("carol", "finish", &round2).ok().json();
        assert_eq!(carol["group_key"], made["group_key"]);
        k += 1;
    }
}

/// Bob's device is lost: alice and carol (the threshold) repair his share onto a new device in
/// two crossings through the coordinator; the new device shows the same group key and address,
/// and the group (alice, the new bob, carol) then refreshes together. Rosters that change
/// another member, keep bob's old identity or name too few helpers are refused; the old device's
/// identity cannot receive; a helper run again answers the same.
#[test]
fn a_lost_member_is_repaired_by_the_threshold_of_helpers() {
    let (w, ids) = world();
    let g = Group {
        w: &w,
        name: "cold".into(),
        roster: roster(&w, &ids, "repairable group", "2"),
        ceremony: "keygen",
    };
    let made = same_facts(&g.run_all(&MEMBERS));
    let new_bob = w.init_signer("bob2");
    let repair = refresh_roster(
        &w,
        &[
            (1, "alice", &ids[0]),
            (2, "bob", &new_bob),
            (3, "carol", &ids[2]),
        ],
        "repair of bob",
        "2",
    );
    let help = |who: &str, roster: &std::path::Path, helpers: &str| {
        let out = w.fresh(&format!("delta-{who}"));
        let o = w.signer(
            who,
            &[
                "--json",
                "frost",
                "repair",
                "start",
                "--group",
                "cold",
                "--roster",
                path_str(roster),
                "--lost",
                "2",
                "--helpers",
                helpers,
                "--out",
                path_str(&out),
            ],
        );
        (o, out)
    };
    // Refused: too few helpers, a roster that changes carol, one that keeps bob's old device,
    // a helper that is not named.
    let before = w.signer_files("alice");
    help("alice", &repair, "1").0.fails(1, "needs 2 helpers");
    let changes_carol = refresh_roster(
        &w,
        &[
            (1, "alice", &ids[0]),
            (2, "bob", &new_bob),
            (3, "carol", &ids[1]),
        ],
        "bad repair",
        "2",
    );
    help("alice", &changes_carol, "1,3")
        .0
        .fails(1, "changing only member 2's identity");
    let keeps_old = refresh_roster(
        &w,
        &[
            (1, "alice", &ids[0]),
            (2, "bob", &ids[1]),
            (3, "carol", &ids[2]),
        ],
        "not a repair",
        "2",
    );
    help("alice", &keeps_old, "1,3")
        .0
        .fails(1, "keeps member 2's old identity");
    help("carol", &repair, "1,2")
        .0
        .fails(1, "not one of the repair's helpers");
    assert_eq!(w.signer_files("alice"), before, "nothing changed");

    let (_, d_alice) = help("alice", &repair, "1,3");
    let (again, d_again) = help("alice", &repair, "1,3");
    assert_eq!(again.ok().json()["repeated"], true);
    assert_eq!(
        std::fs::read(&d_alice).unwrap(),
        std::fs::read(&d_again).unwrap()
    );
    let (_, d_carol) = help("carol", &repair, "1,3");
    let rg = Group {
        w: &w,
        name: "cold".into(),
        roster: repair.clone(),
        ceremony: "repair",
    };
    let deltas = rg.relayed(&[d_alice, d_carol]);
    let forward = |who: &str| {
        let out = w.p(&format!("sigma-{who}"));
        w.signer(
            who,
            &[
                "frost",
                "repair",
                "forward",
                "--group",
                "cold",
                "--in",
                path_str(&deltas),
                "--out",
                path_str(&out),
            ],
        )
        .ok();
        out
    };
    let sigmas = rg.relayed(&[forward("alice"), forward("carol")]);
    let receive = |who: &str, input: &std::path::Path| {
        w.signer(
            who,
            &[
                "--json",
                "frost",
                "repair",
                "receive",
                "--group",
                "cold",
                "--roster",
                path_str(&repair),
                "--lost",
                "2",
                "--helpers",
                "1,3",
                "--in",
                path_str(input),
                "--network",
                "regtest",
            ],
        )
    };
    // The lost device (were it found) is not in the repair's roster: it cannot receive.
    receive("bob", &sigmas).fails(1, "is not a member of the roster");
    let mut tampered = std::fs::read(&sigmas).unwrap();
    let at = tampered.len() - 100;
    tampered[at] ^= 1;
    let tampered_path = w.fresh("tampered-sigmas");
    std::fs::write(&tampered_path, &tampered).unwrap();
    receive("bob2", &tampered_path).fails(1, "not signed by its identity");
    assert!(
        !w.signer_home("bob2").join("frost").exists(),
        "nothing kept"
    );
    let repaired = receive("bob2", &sigmas).ok().json();
    for key in ["group_key", "descriptor", "first_address"] {
        assert_eq!(
            repaired[key], made[key],
            "{key}: the repaired member's group is the group"
        );
    }
    assert_eq!(repaired["me"], 2);

    // The group goes on with the new device: all three refresh together.
    let r = Group {
        w: &w,
        name: "cold".into(),
        roster: refresh_roster(
            &w,
            &[
                (1, "alice", &ids[0]),
                (2, "bob", &new_bob),
                (3, "carol", &ids[2]),
            ],
            "refresh after repair",
            "2",
        ),
        ceremony: "refresh",
    };
    let members = ["alice", "bob2", "carol"];
    let r1: Vec<_> = members.iter().map(|m| r.start(m)).collect();
    let round1 = r.relayed(&r1);
    for m in members {
        r.step(m, "continue", &round1).ok();
    }
    let round2 = r.relayed(&members.map(|m| r.answer_of(m, "continue")));
    let refreshed: Vec<Value> = members
        .iter()
        .map(|m| r.step(m, "finish", &round2).ok().json())
        .collect();
    assert_eq!(same_facts(&refreshed)["group_key"], made["group_key"]);
}

/// A helper killed at every write of `repair forward` runs it again: the new device still
/// receives a share of the group, and the helper's share lists the new device.
#[test]
fn a_crash_at_any_write_of_a_repair_forward_still_repairs() {
    let (w, ids) = world();
    let keygen_roster = roster(&w, &ids, "crash repair", "2");
    let new_bob = w.init_signer("bob2");
    let mut points: Option<Vec<String>> = None;
    let mut k = 0;
    loop {
        let name = format!("g{k}");
        let g = Group {
            w: &w,
            name: name.clone(),
            roster: keygen_roster.clone(),
            ceremony: "keygen",
        };
        let made = same_facts(&g.run_all(&MEMBERS));
        let rg = Group {
            w: &w,
            name: name.clone(),
            roster: refresh_roster(
                &w,
                &[
                    (1, "alice", &ids[0]),
                    (2, "bob", &new_bob),
                    (3, "carol", &ids[2]),
                ],
                &format!("repair {k}"),
                "2",
            ),
            ceremony: "repair",
        };
        let deltas = rg.repair_deltas(&["alice", "carol"], "2", "1,3");
        let sigma_alice = w.fresh("sigma-alice");
        let args = rg.forward_args(&deltas, &sigma_alice);
        let Some(list) = &points else {
            points = Some(failpoints(&alice_at(&w, &args, "list").ok()));
            assert!(points.as_ref().unwrap().len() >= 6, "{points:?}");
            k += 1;
            continue;
        };
        let Some(point) = list.get(k - 1) else { break };
        assert!(crashed(&alice_at(&w, &args, point)), "{point}");
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        w.signer("alice", &args).ok();
        let sigmas = rg.relayed(&[sigma_alice, rg.forward("carol", &deltas)]);
        let v = rg.receive("bob2", "2", "1,3", &sigmas).ok().json();
        assert_eq!(v["group_key"], made["group_key"], "{point}");
        let shown = w
            .signer("alice", &["--json", "frost", "show", "--group", &name])
            .ok()
            .json();
        assert_eq!(
            shown[0]["label"],
            format!("repair {k}"),
            "{point}: alice lists the new device"
        );
        k += 1;
    }
}

/// Four processes start the same group on one signer home at once, and two make commitments at
/// once: the home lock serializes them, every start answers the same round 1, and every
/// commitment made is kept (the pool holds both batches).
#[test]
fn concurrent_steps_on_one_home_give_one_answer_and_lose_nothing() {
    let (w, ids) = world();
    let roster_path = roster(&w, &ids, "race", "2");
    let spawn = |args: Vec<String>| {
        let home = w.signer_home("alice");
        let pass = w.pass_file("alice");
        let mut all = vec![
            "--home".to_string(),
            path_str(&home).to_owned(),
            "--passphrase-file".to_string(),
            path_str(&pass).to_owned(),
        ];
        all.extend(args);
        std::process::Command::new(signer_bin())
            .args(&all)
            .env("AIRLOCK_NOW", T0.to_string())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    };
    let outs: Vec<_> = (0..4).map(|k| w.p(&format!("race-r1-{k}"))).collect();
    let children: Vec<_> = outs
        .iter()
        .map(|out| {
            spawn(
                [
                    "frost",
                    "keygen",
                    "start",
                    "--group",
                    "raced",
                    "--roster",
                    path_str(&roster_path),
                    "--out",
                    path_str(out),
                ]
                .map(String::from)
                .to_vec(),
            )
        })
        .collect();
    for c in children {
        let o = c.wait_with_output().unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    }
    let first = std::fs::read(&outs[0]).unwrap();
    for out in &outs[1..] {
        assert_eq!(std::fs::read(out).unwrap(), first, "one round-1 answer");
    }
    // The group goes on to the end with that answer.
    let g = Group {
        w: &w,
        name: "raced".into(),
        roster: roster_path.clone(),
        ceremony: "keygen",
    };
    let r1 = vec![outs[0].clone(), g.start("bob"), g.start("carol")];
    let round1 = g.relayed(&r1);
    for m in MEMBERS {
        g.step(m, "continue", &round1).ok();
    }
    let round2 = g.relayed(&MEMBERS.map(|m| g.answer_of(m, "continue")));
    let finished: Vec<Value> = MEMBERS
        .iter()
        .map(|m| g.step(m, "finish", &round2).ok().json())
        .collect();
    same_facts(&finished);

    let batches: Vec<_> = (0..2).map(|k| w.p(&format!("race-c-{k}"))).collect();
    let children: Vec<_> = batches
        .iter()
        .map(|out| {
            spawn(
                [
                    "frost",
                    "commitments",
                    "--group",
                    "raced",
                    "--count",
                    "7",
                    "--out",
                    path_str(out),
                ]
                .map(String::from)
                .to_vec(),
            )
        })
        .collect();
    for c in children {
        let o = c.wait_with_output().unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    }
    assert_ne!(
        std::fs::read(&batches[0]).unwrap(),
        std::fs::read(&batches[1]).unwrap(),
        "two batches"
    );
    for batch in &batches {
        assert_eq!(
            g.relay(std::slice::from_ref(batch)).ok().json()["messages"],
            1
        );
    }
    let pool =
        airlock_frost::nonces::NonceStore::new(&w.signer_home("alice").join("frost/raced/nonces"));
    let pass =
        airlock_custody::Passphrase::new("correct horse battery staple alice".into()).unwrap();
    assert_eq!(pool.remaining(&pass).unwrap(), 14, "both batches kept");
}

/// In a 2-of-4 group, alice and carol repair bob's share onto a new device; dave did not help,
/// so his share still lists bob's lost device and a refresh with the new one is refused to him
/// until he adopts the repair on the new device's proof that it holds bob's share. A proof made
/// by another member's device is refused. Then all four refresh together.
#[test]
fn a_member_who_did_not_help_a_repair_adopts_it_on_the_new_devices_proof() {
    let (w, ids) = world();
    let dave = w.init_signer("dave");
    let bob2 = w.init_signer("bob2");
    let four = |label: &str, bob: &str| {
        refresh_roster(
            &w,
            &[
                (1, "alice", &ids[0]),
                (2, "bob", bob),
                (3, "carol", &ids[2]),
                (4, "dave", &dave),
            ],
            label,
            "2",
        )
    };
    let g = Group {
        w: &w,
        name: "four".into(),
        roster: four("two of four", &ids[1]),
        ceremony: "keygen",
    };
    let made = same_facts(&g.run_all(&["alice", "bob", "carol", "dave"]));
    let repair = four("repair of bob", &bob2);
    let rg = Group {
        w: &w,
        name: "four".into(),
        roster: repair.clone(),
        ceremony: "repair",
    };
    let deltas = rg.repair_deltas(&["alice", "carol"], "2", "1,3");
    let sigmas = rg.relayed(&[rg.forward("alice", &deltas), rg.forward("carol", &deltas)]);
    rg.receive("bob2", "2", "1,3", &sigmas).ok();

    let refresh = Group {
        w: &w,
        name: "four".into(),
        roster: four("refresh after repair", &bob2),
        ceremony: "refresh",
    };
    w.signer(
        "dave",
        &[
            "frost",
            "refresh",
            "start",
            "--group",
            "four",
            "--roster",
            path_str(&refresh.roster),
            "--out",
            path_str(&w.fresh("x")),
        ],
    )
    .fails(1, "some or all of its members");

    let adopt = |proof: &std::path::Path| {
        w.signer(
            "dave",
            &[
                "--json",
                "frost",
                "repair",
                "adopt",
                "--group",
                "four",
                "--roster",
                path_str(&repair),
                "--lost",
                "2",
                "--in",
                path_str(proof),
            ],
        )
    };
    // Carol's device cannot prove it holds bob's share.
    let carol_proof = w.fresh("carol-proof");
    w.signer(
        "carol",
        &[
            "frost",
            "repair",
            "prove",
            "--group",
            "four",
            "--out",
            path_str(&carol_proof),
        ],
    )
    .ok();
    let before = w.signer_files("dave");
    adopt(&carol_proof).fails(1, "the proof is member 3's, not the repaired member 2's");
    assert_eq!(w.signer_files("dave"), before, "nothing changed");
    let proof = w.fresh("bob2-proof");
    w.signer(
        "bob2",
        &[
            "frost",
            "repair",
            "prove",
            "--group",
            "four",
            "--out",
            path_str(&proof),
        ],
    )
    .ok();
    let mut altered = std::fs::read(&proof).unwrap();
    let at = altered.len() - 70;
    altered[at] ^= 1;
    let altered_path = w.fresh("altered-proof");
    std::fs::write(&altered_path, &altered).unwrap();
    adopt(&altered_path).fails(1, "not signed by its identity");
    let adopted = adopt(&proof).ok().json();
    assert_eq!(adopted["label"], "repair of bob");
    assert_eq!(adopted["group_key"], made["group_key"]);

    let refreshed = same_facts(&refresh.run_all(&["alice", "bob2", "carol", "dave"]));
    assert_eq!(refreshed["group_key"], made["group_key"]);
}
