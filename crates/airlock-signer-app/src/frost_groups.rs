//! A signer's FROST groups: dealerless key generation across the air gap, one file per step in
//! `frost/<group>/` of the signer home, and the nonce commitments it hands over for signing.
//!
//! Key generation takes three crossings. `start` (round 1) reads the roster the coordinator made,
//! checks this signer is in it, and answers with its signed round-1 message; `continue` (round 2)
//! reads everyone's round-1 messages and answers with one secret package per other member,
//! encrypted to that member's identity (they pass through the online coordinator); `finish`
//! reads the packages addressed to it and seals this member's key share. Every member then shows
//! the same group key, descriptor and first address, to be compared across devices.
//!
//! Each step's state is one file, written whole (temporary file, fsync, rename) before its
//! answer is written, with the secret part sealed under the signer's passphrase and the answer
//! kept beside it: a step run again after a crash or a lost file gives the same answer again
//! instead of new randomness that would split the ceremony. A step's file replaces the previous
//! step's only after it is durable, so a power cut at any point leaves a state the next run
//! continues from. The caller holds the home lock.
//!
//! A refresh (`Ceremony::Refresh`, files `refresh-round1.json` and `refresh-round2.json`) runs the
//! same three steps among some or all of a finished group's members; its end replaces the share
//! with the refreshed one for the same group key (the old one then signs nothing with the
//! others' new shares), and a member left out of the refresh is out of the group.
//!
//! This module must never write a secret unsealed, never start a second ceremony over a group
//! that has one, and never overwrite a key share but with its refresh.

use std::path::{Path, PathBuf};

use airlock_custody::Passphrase;
use airlock_frost::dkg::{self, Ceremony, KeyShare, Round1State, Round2State};
use airlock_frost::nonces::NonceStore;
use airlock_frost::wire::{Message, bundle, unbundle};
use airlock_frost::{Roster, derive};
use serde::{Deserialize, Serialize};

use crate::{IDENTITY_FILE, Result, SignerError, SignerHome, io};

/// The directory of FROST groups in a signer home.
pub const FROST_DIR: &str = "frost";
const ROUND1_FILE: &str = "round1.json";
const ROUND2_FILE: &str = "round2.json";
const REFRESH1_FILE: &str = "refresh-round1.json";
const REFRESH2_FILE: &str = "refresh-round2.json";
const SHARE_FILE: &str = "share.json";
const REPAIR_FILE: &str = "repair.json";
const NONCES_DIR: &str = "nonces";
/// Largest ceremony input read (a round-2 bundle of a 64-member group is about 60 KB).
pub const MAX_CEREMONY_INPUT: u64 = 4 * 1024 * 1024;

/// One step's state: the roster, the sealed secret and the answer this step gave.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct StepFile {
    roster: String,
    /// The secret state (round state or key share), sealed under the passphrase; hex.
    sealed: String,
    /// The messages this step answered with (a bundle), hex; empty after `finish`.
    answer: String,
    /// The group key (x-only, hex) once key generation finished.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    group_key: Option<String>,
    /// Every member's public entry (`frost:<number>:<verifying share>`) once finished.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    members: Vec<String>,
}

/// A helper's part in a repair: the repair's parameters and the answers it gave.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RepairFile {
    roster: String,
    lost: u16,
    helpers: Vec<u16>,
    /// The deltas this helper sent (a bundle, hex).
    deltas: String,
    /// The sigma it forwarded to the new device (a bundle, hex), once it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    sigma: Option<String>,
}

/// Where a group's ceremony stands on this signer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Stage {
    /// Round 1 was answered; waiting for everyone's round-1 messages.
    Round1,
    /// Round 2 was answered; waiting for the packages addressed to this member.
    Round2,
    /// The key share is sealed here.
    Finished,
}

/// What a group looks like on this signer: its roster, this member's number, the stage, and
/// (when finished) the group's public facts.
#[derive(Clone, Debug)]
pub struct GroupSummary {
    pub group: String,
    pub roster: Roster,
    pub me: u16,
    pub stage: Stage,
    /// x-only, hex.
    pub group_key: Option<String>,
    /// Every member's public entry, `frost:<number>:<verifying share>` (what a vault definition
    /// would list), once finished.
    pub members: Vec<String>,
}

/// The answer of a step: the bytes to carry to the coordinator, and whether they are the same
/// as a run before (a step repeated after a crash or a lost file).
pub struct Answer {
    pub bytes: Vec<u8>,
    pub repeated: bool,
}

fn refused(what: impl Into<String>) -> SignerError {
    SignerError::Refused(what.into())
}

/// Checks a group name: 1 to 64 of `a-z 0-9 - _ .`, not starting with a dot.
pub fn check_group_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && !name.starts_with('.')
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"-_.".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(refused(format!(
            "group name {name:?} must be 1 to 64 of a-z, 0-9, '-', '_', '.' (not starting with '.')"
        )))
    }
}

impl SignerHome {
    fn group_dir(&self, group: &str) -> Result<PathBuf> {
        check_group_name(group)?;
        Ok(self.dir.join(FROST_DIR).join(group))
    }

    fn sealing_params(&self) -> Result<airlock_custody::KdfParams> {
        let identity = airlock_transport::read_bounded(&self.dir.join(IDENTITY_FILE), 64 * 1024)
            .map_err(io)?;
        Ok(airlock_custody::sealed_params(&identity)?)
    }

    fn read_step(&self, path: &Path) -> Result<Option<StepFile>> {
        if !path.exists() {
            return Ok(None);
        }
        let bytes = airlock_transport::read_bounded(path, MAX_CEREMONY_INPUT).map_err(io)?;
        let step: StepFile = serde_json::from_slice(&bytes)
            .map_err(|e| SignerError::Tampered(format!("{} is damaged: {e}", path.display())))?;
        Ok(Some(step))
    }

    fn write_step(&self, path: &Path, step: &StepFile) -> Result<()> {
        let dir = path.parent().expect("a group directory");
        crate::chain_keys::create_private_dir(&self.dir.join(FROST_DIR))?;
        crate::chain_keys::create_private_dir(dir)?;
        let bytes = serde_json::to_vec_pretty(step).expect("a step encodes");
        airlock_transport::write_atomic_private(path, &bytes).map_err(io)
    }

    fn step_roster(step: &StepFile, path: &Path) -> Result<Roster> {
        Roster::from_json(&step.roster).map_err(|e| {
            SignerError::Tampered(format!(
                "{}: the roster kept there is damaged: {e}",
                path.display()
            ))
        })
    }

    fn unhex(text: &str, path: &Path) -> Result<Vec<u8>> {
        hex::decode(text)
            .map_err(|_| SignerError::Tampered(format!("{} is damaged: bad hex", path.display())))
    }

    /// Where a group's ceremony stands here, or `None` for a group this signer never started.
    pub fn frost_group(&self, group: &str) -> Result<Option<GroupSummary>> {
        let dir = self.group_dir(group)?;
        let me_key = self.public_key()?;
        for (file, stage) in [
            (SHARE_FILE, Stage::Finished),
            (ROUND2_FILE, Stage::Round2),
            (ROUND1_FILE, Stage::Round1),
        ] {
            let path = dir.join(file);
            if let Some(step) = self.read_step(&path)? {
                let roster = Self::step_roster(&step, &path)?;
                let me = member_number(&roster, &me_key)?;
                return Ok(Some(GroupSummary {
                    group: group.to_owned(),
                    roster,
                    me,
                    stage,
                    group_key: step.group_key,
                    members: step.members,
                }));
            }
        }
        Ok(None)
    }

    /// The names of the FROST groups in this home.
    pub fn frost_groups(&self) -> Result<Vec<String>> {
        let dir = self.dir.join(FROST_DIR);
        let mut out = Vec::new();
        if let Ok(entries) = std::fs::read_dir(&dir) {
            for entry in entries.flatten() {
                let name = entry.file_name().to_string_lossy().to_string();
                if check_group_name(&name).is_ok() && entry.path().is_dir() {
                    out.push(name);
                }
            }
        }
        out.sort();
        Ok(out)
    }

    /// Where a ceremony over an existing group (a refresh) stands here: its stage and roster.
    fn frost_refresh_stage(&self, group: &str) -> Result<Option<(Stage, Roster)>> {
        let dir = self.group_dir(group)?;
        for (file, stage) in [
            (REFRESH2_FILE, Stage::Round2),
            (REFRESH1_FILE, Stage::Round1),
        ] {
            let path = dir.join(file);
            if let Some(step) = self.read_step(&path)? {
                return Ok(Some((stage, Self::step_roster(&step, &path)?)));
            }
        }
        Ok(None)
    }

    /// Where `ceremony` over `group` stands here: `None` when it was not started.
    fn ceremony_stage(&self, group: &str, ceremony: Ceremony) -> Result<Option<(Stage, Roster)>> {
        match ceremony {
            Ceremony::KeyGeneration => Ok(self.frost_group(group)?.map(|g| (g.stage, g.roster))),
            Ceremony::Refresh => self.frost_refresh_stage(group),
        }
    }

    /// Round 1 of `ceremony` for `group` among `roster`: this member's signed commitment. Run
    /// again with the same roster before round 2, it gives the same answer. A key generation
    /// needs a group name not in use; a refresh needs the group's share here, and a roster of
    /// some or all of its members with their numbers and its threshold.
    pub fn frost_start(
        &self,
        group: &str,
        ceremony: Ceremony,
        roster: &Roster,
        passphrase: &Passphrase,
    ) -> Result<Answer> {
        let dir = self.group_dir(group)?;
        let identity = self.unlock(passphrase)?;
        let me = member_number(roster, &self.public_key()?)?;
        let (round1_file, _) = step_files(ceremony);
        if let Some((stage, found)) = self.ceremony_stage(group, ceremony)? {
            if stage == Stage::Round1 && found == *roster {
                let path = dir.join(round1_file);
                let step = self.read_step(&path)?.expect("round 1 is there");
                return Ok(Answer {
                    bytes: Self::unhex(&step.answer, &path)?,
                    repeated: true,
                });
            }
            return Err(refused(format!(
                "group {group:?} already has a {} here ({}); {}",
                ceremony_name(ceremony),
                describe_stage(&stage),
                match ceremony {
                    Ceremony::KeyGeneration => "pick another group name",
                    Ceremony::Refresh => "finish it first",
                }
            )));
        }
        if ceremony == Ceremony::Refresh {
            let share = self.frost_share(group, passphrase)?;
            if share.roster == *roster {
                return Err(refused(
                    "a refresh needs a roster of its own (another label) than the group's current one",
                ));
            }
            let kept = roster
                .members
                .iter()
                .all(|m| share.roster.members.contains(m));
            if !kept || share.me != me || share.roster.threshold != roster.threshold {
                return Err(refused(format!(
                    "a refresh of group {group:?} keeps its threshold ({}) and some or all of its members with their numbers and identities ({}); this roster does not",
                    share.roster.threshold,
                    share
                        .roster
                        .members
                        .iter()
                        .map(|(n, name, _)| format!("{n}:{name}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                )));
            }
        }
        let (state, message) = dkg::round1(
            roster,
            identity.signing_key(),
            ceremony,
            &mut rand_core::OsRng,
        )?;
        let sealed = airlock_custody::seal(&state.to_bytes()?, passphrase, self.sealing_params()?)?;
        let answer = bundle(&[message]);
        self.write_step(
            &dir.join(round1_file),
            &StepFile {
                roster: roster.to_json(),
                sealed: hex::encode(sealed),
                answer: hex::encode(&answer),
                group_key: None,
                members: Vec::new(),
            },
        )?;
        Ok(Answer {
            bytes: answer,
            repeated: false,
        })
    }

    /// Round 2: from everyone's round-1 messages (one bundle), a secret package for each other
    /// member, encrypted to it. Run again after it answered, it gives the same answer.
    pub fn frost_continue(
        &self,
        group: &str,
        ceremony: Ceremony,
        round1: &[u8],
        passphrase: &Passphrase,
    ) -> Result<Answer> {
        let dir = self.group_dir(group)?;
        let identity = self.unlock(passphrase)?;
        let (round1_file, round2_file) = step_files(ceremony);
        let (stage, roster) = self
            .ceremony_stage(group, ceremony)?
            .ok_or_else(|| no_ceremony(group, ceremony))?;
        match stage {
            Stage::Round1 => {}
            Stage::Round2 => {
                let path = dir.join(round2_file);
                let step = self.read_step(&path)?.expect("round 2 is there");
                // A crash after round 2 was kept but before round 1 was removed.
                remove_if_there(&dir.join(round1_file))?;
                return Ok(Answer {
                    bytes: Self::unhex(&step.answer, &path)?,
                    repeated: true,
                });
            }
            Stage::Finished => {
                return Err(refused(format!(
                    "group {group:?} already finished its key generation here"
                )));
            }
        }
        let path1 = dir.join(round1_file);
        let step = self.read_step(&path1)?.expect("round 1 is there");
        let messages = unbundle(round1)?;
        let state = Round1State::from_bytes(&airlock_custody::open(
            &Self::unhex(&step.sealed, &path1)?,
            passphrase,
        )?)?;
        let (state, out) = dkg::round2(
            &roster,
            identity.signing_key(),
            state,
            &messages,
            ceremony,
            &mut rand_core::OsRng,
        )?;
        let sealed = airlock_custody::seal(&state.to_bytes()?, passphrase, self.sealing_params()?)?;
        let answer = bundle(&out);
        self.write_step(
            &dir.join(round2_file),
            &StepFile {
                roster: step.roster,
                sealed: hex::encode(sealed),
                answer: hex::encode(&answer),
                group_key: None,
                members: Vec::new(),
            },
        )?;
        remove_if_there(&path1)?;
        Ok(Answer {
            bytes: answer,
            repeated: false,
        })
    }

    /// The end: from the round-2 packages (one bundle; those for other members are skipped),
    /// this member's key share, sealed here (a refresh replaces the share it had, for the same
    /// group key). Returns the group's summary.
    pub fn frost_finish(
        &self,
        group: &str,
        ceremony: Ceremony,
        round2: &[u8],
        passphrase: &Passphrase,
    ) -> Result<GroupSummary> {
        let dir = self.group_dir(group)?;
        let identity = self.unlock(passphrase)?;
        let (_, round2_file) = step_files(ceremony);
        let path2 = dir.join(round2_file);
        let Some((stage, roster)) = self.ceremony_stage(group, ceremony)? else {
            // A refresh that already finished (its state removed) shows the group as it is.
            if ceremony == Ceremony::Refresh
                && let Some(g) = self.frost_group(group)?
                && g.stage == Stage::Finished
            {
                return Ok(g);
            }
            return Err(no_ceremony(group, ceremony));
        };
        match stage {
            Stage::Round2 => {}
            Stage::Round1 => {
                return Err(refused(format!(
                    "group {group:?} is waiting for everyone's round-1 messages: run `frost {} continue` first",
                    match ceremony {
                        Ceremony::KeyGeneration => "keygen",
                        Ceremony::Refresh => "refresh",
                    }
                )));
            }
            Stage::Finished => {
                // A crash after the share was kept but before round 2 was removed.
                remove_if_there(&path2)?;
                return Ok(self.frost_group(group)?.expect("finished"));
            }
        }
        let old = match ceremony {
            Ceremony::KeyGeneration => None,
            Ceremony::Refresh => {
                let old = self.frost_share(group, passphrase)?;
                if old.roster == roster {
                    // A crash after the refreshed share was kept but before its state was
                    // removed: the share is already the refresh's.
                    remove_if_there(&path2)?;
                    return Ok(self.frost_group(group)?.expect("finished"));
                }
                Some(old)
            }
        };
        let step = self.read_step(&path2)?.expect("round 2 is there");
        let me = member_number(&roster, &self.public_key()?)?;
        let messages: Vec<Message> = unbundle(round2)?
            .into_iter()
            .filter(|m| m.to == me)
            .collect();
        let state = Round2State::from_bytes(&airlock_custody::open(
            &Self::unhex(&step.sealed, &path2)?,
            passphrase,
        )?)?;
        let share = dkg::finish(
            &roster,
            identity.signing_key(),
            state,
            &messages,
            old.as_ref(),
        )?;
        // The one step that replaces a share is a refresh's end: the refreshed one, same group key.
        self.keep_share(
            group,
            &share,
            passphrase,
            ceremony == Ceremony::KeyGeneration,
        )?;
        remove_if_there(&path2)?;
        Ok(self.frost_group(group)?.expect("the share was just kept"))
    }

    /// Seals `share` as the group's key share file (replacing it).
    fn keep_share(
        &self,
        group: &str,
        share: &KeyShare,
        passphrase: &Passphrase,
        new: bool,
    ) -> Result<()> {
        let dir = self.group_dir(group)?;
        let sealed = airlock_custody::seal(&share.to_bytes()?, passphrase, self.sealing_params()?)?;
        // Listed as the vault lists them: for the group key with an even y (see `derive::even`).
        let public = {
            use airlock_frost::frost::keys::EvenY as _;
            share.public.clone().into_even_y(None)
        };
        let mut members = Vec::new();
        for (id, verifying) in public.verifying_shares() {
            let number = airlock_frost::member_number(id, &share.roster).ok_or_else(|| {
                refused("the group's public package names someone outside its roster")
            })?;
            members.push(airlock_frost::group::member_chain_key(number, verifying)?);
        }
        let bytes = serde_json::to_vec_pretty(&StepFile {
            roster: share.roster.to_json(),
            sealed: hex::encode(sealed),
            answer: String::new(),
            group_key: Some(share.group_key_hex()?),
            members,
        })
        .expect("a step encodes");
        crate::chain_keys::create_private_dir(&self.dir.join(FROST_DIR))?;
        crate::chain_keys::create_private_dir(&dir)?;
        let path = dir.join(SHARE_FILE);
        if new {
            airlock_transport::write_atomic_private_new(&path, &bytes).map_err(io)
        } else {
            airlock_transport::write_atomic_private(&path, &bytes).map_err(io)
        }
    }

    /// Repair, crossing 1, on a helper: checks the repair's roster against the group's (the
    /// same members, numbers, names and threshold, but for the lost member's new identity) and
    /// answers with one encrypted delta per helper. Run again with the same repair, it gives the
    /// same answer; a different repair replaces one that was not finished.
    pub fn frost_repair_help(
        &self,
        group: &str,
        roster: &Roster,
        lost: u16,
        helpers: &[u16],
        passphrase: &Passphrase,
    ) -> Result<Answer> {
        let dir = self.group_dir(group)?;
        let identity = self.unlock(passphrase)?;
        let share = self.frost_share(group, passphrase)?;
        check_repair_roster(&share.roster, roster, lost)?;
        if !helpers.contains(&share.me) {
            return Err(refused(format!(
                "this signer (member {}) is not one of the repair's helpers {helpers:?}",
                share.me
            )));
        }
        let path = dir.join(REPAIR_FILE);
        if let Some(found) = self.read_repair(&path)?
            && found.roster == roster.to_json()
            && found.lost == lost
            && found.helpers == helpers
        {
            return Ok(Answer {
                bytes: Self::unhex(&found.deltas, &path)?,
                repeated: true,
            });
        }
        let deltas = airlock_frost::repair::deltas(
            roster,
            &share,
            identity.signing_key(),
            helpers,
            lost,
            &mut rand_core::OsRng,
        )?;
        let answer = bundle(&deltas);
        let bytes = serde_json::to_vec_pretty(&RepairFile {
            roster: roster.to_json(),
            lost,
            helpers: helpers.to_vec(),
            deltas: hex::encode(&answer),
            sigma: None,
        })
        .expect("a repair file encodes");
        airlock_transport::write_atomic_private(&path, &bytes).map_err(io)?;
        Ok(Answer {
            bytes: answer,
            repeated: false,
        })
    }

    fn read_repair(&self, path: &Path) -> Result<Option<RepairFile>> {
        if !path.exists() {
            return Ok(None);
        }
        let bytes = airlock_transport::read_bounded(path, MAX_CEREMONY_INPUT).map_err(io)?;
        serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| SignerError::Tampered(format!("{} is damaged: {e}", path.display())))
    }

    /// Repair, crossing 2, on a helper: sums the deltas addressed to it into a sigma for the new
    /// device, sent with the group's public key package; from then on this helper's share lists
    /// the new device in the lost member's place. Run again, it gives the same answer.
    pub fn frost_repair_forward(
        &self,
        group: &str,
        deltas: &[u8],
        passphrase: &Passphrase,
    ) -> Result<Answer> {
        let dir = self.group_dir(group)?;
        let identity = self.unlock(passphrase)?;
        let path = dir.join(REPAIR_FILE);
        let mut repair = self.read_repair(&path)?.ok_or_else(|| {
            refused(format!(
                "no repair of group {group:?} under way here: start with `frost repair start`"
            ))
        })?;
        let roster = Roster::from_json(&repair.roster).map_err(|e| {
            SignerError::Tampered(format!(
                "{}: the roster kept there is damaged: {e}",
                path.display()
            ))
        })?;
        let share = self.frost_share(group, passphrase)?;
        let repeated = repair.sigma.is_some();
        let answer = match &repair.sigma {
            Some(sigma) => Self::unhex(sigma, &path)?,
            None => {
                let messages = unbundle(deltas)?;
                let sigma = airlock_frost::repair::sigma(
                    &roster,
                    identity.signing_key(),
                    &share.public,
                    &repair.helpers,
                    repair.lost,
                    &messages,
                    &mut rand_core::OsRng,
                )?;
                let answer = bundle(&[sigma]);
                repair.sigma = Some(hex::encode(&answer));
                let bytes = serde_json::to_vec_pretty(&repair).expect("a repair file encodes");
                airlock_transport::write_atomic_private(&path, &bytes).map_err(io)?;
                answer
            }
        };
        // The new device takes the lost member's place in this helper's share (also after a
        // crash between the two writes).
        if share.roster != roster {
            let moved = KeyShare { roster, ..share };
            self.keep_share(group, &moved, passphrase, false)?;
        }
        Ok(Answer {
            bytes: answer,
            repeated,
        })
    }

    /// Repair, on the lost member's new device: its key share from the helpers' sigmas, checked
    /// against the group's verifying share for it, sealed here as `group`.
    pub fn frost_repair_receive(
        &self,
        group: &str,
        roster: &Roster,
        lost: u16,
        helpers: &[u16],
        sigmas: &[u8],
        passphrase: &Passphrase,
    ) -> Result<GroupSummary> {
        let identity = self.unlock(passphrase)?;
        let me = member_number(roster, &self.public_key()?)?;
        if me != lost {
            return Err(refused(format!(
                "this signer is member {me} of the repair's roster, not the repaired member {lost}"
            )));
        }
        if let Some(found) = self.frost_group(group)? {
            if found.stage == Stage::Finished && found.roster == *roster {
                return Ok(found);
            }
            return Err(refused(format!(
                "group {group:?} already exists in this signer home; receive the repair under another name"
            )));
        }
        let messages = unbundle(sigmas)?;
        let share = airlock_frost::repair::combine(
            roster,
            identity.signing_key(),
            helpers,
            lost,
            &messages,
        )?;
        self.keep_share(group, &share, passphrase, true)?;
        Ok(self.frost_group(group)?.expect("the share was just kept"))
    }

    /// On a repaired member's device: its proof that it holds the share of its number, for the
    /// members who did not help the repair ([`SignerHome::frost_repair_adopt`]).
    pub fn frost_member_proof(&self, group: &str, passphrase: &Passphrase) -> Result<Vec<u8>> {
        let identity = self.unlock(passphrase)?;
        let share = self.frost_share(group, passphrase)?;
        let proof = airlock_frost::repair::prove_membership(
            &share,
            identity.signing_key(),
            &mut rand_core::OsRng,
        )?;
        Ok(bundle(&[proof]))
    }

    /// On a member who did not help a repair: checks the repair's roster against its share's
    /// and the new device's proof against the group's verifying share for the lost member, then
    /// lists the new device in the lost member's place. Run again, it changes nothing more.
    pub fn frost_repair_adopt(
        &self,
        group: &str,
        roster: &Roster,
        lost: u16,
        proof: &[u8],
        passphrase: &Passphrase,
    ) -> Result<GroupSummary> {
        self.unlock(passphrase)?;
        let share = self.frost_share(group, passphrase)?;
        if share.roster == *roster {
            return Ok(self.frost_group(group)?.expect("a finished group"));
        }
        check_repair_roster(&share.roster, roster, lost)?;
        if share.me == lost {
            return Err(refused(
                "this device holds the lost member's old share: it is the device the repair replaced",
            ));
        }
        let messages = unbundle(proof)?;
        let [message] = messages.as_slice() else {
            return Err(refused(format!(
                "a member proof is one message, not {}",
                messages.len()
            )));
        };
        airlock_frost::repair::check_membership(roster, &share.public, lost, message)?;
        let moved = KeyShare {
            roster: roster.clone(),
            ..share
        };
        self.keep_share(group, &moved, passphrase, false)?;
        Ok(self.frost_group(group)?.expect("the share was just kept"))
    }

    /// This member's key share of a finished group (unsealed; zeroized on drop).
    pub fn frost_share(&self, group: &str, passphrase: &Passphrase) -> Result<KeyShare> {
        let path = self.group_dir(group)?.join(SHARE_FILE);
        let step = self
            .read_step(&path)?
            .ok_or_else(|| refused(format!("group {group:?} has no key share here")))?;
        let share = KeyShare::from_bytes(&airlock_custody::open(
            &Self::unhex(&step.sealed, &path)?,
            passphrase,
        )?)?;
        if share.roster != Self::step_roster(&step, &path)?
            || step.group_key.as_deref() != Some(share.group_key_hex()?.as_str())
        {
            return Err(SignerError::Tampered(format!(
                "{}: the public facts beside the sealed share do not match it",
                path.display()
            )));
        }
        Ok(share)
    }

    /// Makes `count` nonces for a finished group and returns the signed message of their
    /// commitments, to hand to the coordinator before proposals are signed.
    pub fn frost_commitments(
        &self,
        group: &str,
        count: u32,
        passphrase: &Passphrase,
    ) -> Result<Vec<u8>> {
        let identity = self.unlock(passphrase)?;
        let share = self.frost_share(group, passphrase)?;
        let store = self.frost_nonces(group)?;
        let message = store.generate(
            &share,
            identity.signing_key(),
            count,
            passphrase,
            self.sealing_params()?,
            &mut rand_core::OsRng,
        )?;
        Ok(bundle(&[message]))
    }

    /// The nonce store of a group.
    pub fn frost_nonces(&self, group: &str) -> Result<NonceStore> {
        Ok(NonceStore::new(&self.group_dir(group)?.join(NONCES_DIR)))
    }
}

/// What every member of a group shows, to be compared across devices before any coin is sent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GroupFacts {
    /// `tr([FP]XPUB/<0;1>/*)#checksum`: a key-path-only taproot vault of the group xpub.
    pub descriptor: String,
    /// The wallet fingerprint every device of the vault shows.
    pub wallet_fingerprint: String,
    pub first_address: String,
}

/// The group's descriptor, wallet fingerprint and first receive address on `network`, through
/// the same descriptor checks as every other Bitcoin vault.
pub fn group_facts(group_key_hex: &str, network: &str) -> Result<GroupFacts> {
    let key = group_verifying_key(group_key_hex)?;
    let net =
        airlock_chain_bitcoin::vault::parse_network(network).map_err(|e| refused(e.to_string()))?;
    let text = derive::descriptor(&key, net.into())?;
    let vault = airlock_chain_bitcoin::vault::BtcVault::parse_for(&text, net)
        .map_err(|e| refused(format!("the group's descriptor: {e}")))?;
    Ok(GroupFacts {
        descriptor: vault.descriptor_text(),
        wallet_fingerprint: vault.wallet_fingerprint(),
        first_address: vault
            .first_receive_address()
            .map_err(|e| refused(e.to_string()))?
            .to_string(),
    })
}

fn group_verifying_key(group_key_hex: &str) -> Result<airlock_frost::frost::VerifyingKey> {
    let mut bytes = vec![0x02];
    bytes.extend(hex::decode(group_key_hex).map_err(|_| refused("the group key is not hex"))?);
    airlock_frost::frost::VerifyingKey::deserialize(&bytes)
        .map_err(|e| refused(format!("the group key is not a point: {e}")))
}

/// The state files of a ceremony's two rounds.
fn step_files(ceremony: Ceremony) -> (&'static str, &'static str) {
    match ceremony {
        Ceremony::KeyGeneration => (ROUND1_FILE, ROUND2_FILE),
        Ceremony::Refresh => (REFRESH1_FILE, REFRESH2_FILE),
    }
}

fn ceremony_name(ceremony: Ceremony) -> &'static str {
    match ceremony {
        Ceremony::KeyGeneration => "key generation",
        Ceremony::Refresh => "refresh",
    }
}

/// How far a ceremony went, in words.
pub fn describe_stage(stage: &Stage) -> &'static str {
    match stage {
        Stage::Round1 => "round 1 answered",
        Stage::Round2 => "round 2 answered",
        Stage::Finished => "finished",
    }
}

fn no_ceremony(group: &str, ceremony: Ceremony) -> SignerError {
    match ceremony {
        Ceremony::KeyGeneration => refused(format!(
            "no FROST group {group:?} here: start its key generation with `frost keygen start`"
        )),
        Ceremony::Refresh => refused(format!(
            "no refresh of group {group:?} under way here: start it with `frost refresh start`"
        )),
    }
}

fn member_number(roster: &Roster, me: &airlock_core::PublicKey) -> Result<u16> {
    let key = ed25519_dalek::VerifyingKey::from_bytes(&me.0)
        .map_err(|_| refused("this signer's identity is not an Ed25519 key"))?;
    roster.member_of(&key).ok_or_else(|| {
        refused(format!(
            "this signer ({}) is not a member of the roster {:?}",
            hex::encode(me.0),
            roster.label
        ))
    })
}

/// A repair's roster is the group's, member for member, but for the lost member's identity (a
/// new device; its name may change).
fn check_repair_roster(group: &Roster, repair: &Roster, lost: u16) -> Result<()> {
    let same_members = group.members.len() == repair.members.len()
        && group
            .members
            .iter()
            .zip(&repair.members)
            .all(|(g, r)| g.0 == r.0 && (g.0 == lost || (g.1 == r.1 && g.2 == r.2)));
    if !same_members || group.threshold != repair.threshold {
        return Err(refused(format!(
            "a repair's roster lists the group's members with their numbers and threshold ({}-of-{}), changing only member {lost}'s identity; this one does not",
            group.threshold,
            group.size()
        )));
    }
    let (old, new) = (
        group.members.iter().find(|m| m.0 == lost),
        repair.members.iter().find(|m| m.0 == lost),
    );
    match (old, new) {
        (Some(o), Some(n)) if o.2 != n.2 => Ok(()),
        (Some(_), Some(_)) => Err(refused(format!(
            "the repair's roster keeps member {lost}'s old identity: a repaired member gets a new device"
        ))),
        _ => Err(refused(format!("there is no member {lost} in the group"))),
    }
}

fn remove_if_there(path: &Path) -> Result<()> {
    match std::fs::remove_file(path) {
        Ok(()) => {
            if let Some(dir) = path.parent()
                && let Ok(d) = std::fs::File::open(dir)
            {
                let _ = d.sync_all();
            }
            Ok(())
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(SignerError::Io(format!(
            "cannot remove {}: {e}",
            path.display()
        ))),
    }
}

/// This signer's FROST share for a vault that lists it as `frost:<number>:<verifying share>`:
/// the share, its nonce store and the passphrase that opens it, for one approval.
pub struct FrostSigner {
    share: KeyShare,
    store: NonceStore,
    passphrase: Passphrase,
}

impl SignerHome {
    /// The group in this home whose public facts hold `chain_key` as this member's entry, and
    /// whose group key is the vault's (from the listing alone: no passphrase).
    pub fn frost_group_for(
        &self,
        vault: &airlock_core::VaultDefinition,
        chain_key: &str,
    ) -> Result<String> {
        let (number, _) = airlock_frost::group::parse_member_chain_key(chain_key)?;
        let account = airlock_chain_bitcoin::account::BtcAccount::parse(&vault.account)
            .map_err(|e| refused(e.to_string()))?;
        let btc =
            airlock_chain_bitcoin::vault::BtcVault::parse(&account.descriptor, &vault.network)
                .map_err(|e| refused(e.to_string()))?;
        let group_key = btc
            .keys()
            .first()
            .map(|k| hex::encode(k.xpub.public_key.x_only_public_key().0.serialize()));
        for name in self.frost_groups()? {
            if let Some(g) = self.frost_group(&name)?
                && g.stage == Stage::Finished
                && g.me == number
                && g.group_key == group_key
                && g.members.iter().any(|m| m == chain_key.trim())
            {
                return Ok(name);
            }
        }
        Err(refused(format!(
            "vault {:?} v{} lists {chain_key} as this signer's FROST share, but no finished group here holds it (`airlock-signer frost show`)",
            vault.vault_id, vault.version
        )))
    }

    /// This signer's FROST signer for `vault` (the share unsealed and checked against the
    /// listing: its verifying share and the group key).
    pub fn frost_signer(
        &self,
        vault: &airlock_core::VaultDefinition,
        chain_key: &str,
        passphrase: &Passphrase,
    ) -> Result<FrostSigner> {
        let group = self.frost_group_for(vault, chain_key)?;
        let share = self.frost_share(&group, passphrase)?;
        let even = {
            use airlock_frost::frost::keys::EvenY as _;
            share.key.clone().into_even_y(None)
        };
        let listed = airlock_frost::group::member_chain_key(share.me, even.verifying_share())?;
        if listed != chain_key.trim() {
            return Err(SignerError::Tampered(format!(
                "group {group:?}'s sealed share is not the one its public facts list"
            )));
        }
        Ok(FrostSigner {
            share,
            store: self.frost_nonces(&group)?,
            passphrase: passphrase.duplicate(),
        })
    }
}

impl FrostSigner {
    /// This member's signature shares for the proposal's PSBT, as the signed message the
    /// coordinator aggregates; empty when the PSBT names none of its commitments (it is not in
    /// the signing set the coordinator chose: it approves without signing). Every input's
    /// sighash, path and key are computed from the PSBT here; the nonces are journaled as spent
    /// before any share is computed.
    pub fn sign(
        &self,
        proposal: &airlock_core::Proposal,
        identity: &ed25519_dalek::SigningKey,
    ) -> Result<Vec<u8>> {
        let psbt = airlock_chain_bitcoin::parse_psbt(&proposal.payload)
            .map_err(|e| refused(e.to_string()))?;
        let group = *self.share.public.verifying_key();
        let inputs = airlock_chain_bitcoin::frost_psbt::inputs_to_sign(&psbt, &group)
            .map_err(|e| refused(e.to_string()))?;
        let named = inputs
            .iter()
            .filter(|i| i.commitments.contains_key(&self.share.me))
            .count();
        if named == 0 {
            return Ok(Vec::new());
        }
        if named != inputs.len() {
            return Err(refused(format!(
                "the PSBT names this member's commitments for {named} of its {} inputs",
                inputs.len()
            )));
        }
        let message = airlock_frost::sign::sign(
            &self.share,
            identity,
            &self.store,
            &inputs,
            None,
            &self.passphrase,
        )?;
        Ok(message.to_bytes())
    }
}
