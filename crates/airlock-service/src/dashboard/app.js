// The Airlock dashboard. Plain JavaScript, served by `airlock serve` itself: no framework, no CDN.
// It shows what the API says and never decides anything: every check is the service's (and the
// signers'). Data from the service is put into the page as text, never as HTML.
"use strict";

const state = { session: null, proposals: [], selected: null, vaults: [] };

const $ = (id) => document.getElementById(id);

function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") e.className = v;
    else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v);
  }
  for (const c of children) {
    if (c === null || c === undefined) continue;
    e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return e;
}

async function api(path, options = {}) {
  const headers = Object.assign({}, options.headers || {});
  if (options.write && state.session) headers["X-CSRF-Token"] = state.session.csrf;
  const response = await fetch(path, Object.assign({ credentials: "same-origin" }, options, { headers }));
  const type = response.headers.get("content-type") || "";
  const body = type.includes("json") ? await response.json() : await response.text();
  if (!response.ok && response.status !== 202) {
    const detail = body && body.detail ? body.detail : `HTTP ${response.status}`;
    const error = new Error(detail);
    error.status = response.status;
    throw error;
  }
  return { status: response.status, body };
}

function short(hex) { return (hex || "").slice(0, 12); }

function amountOf(p) {
  let total = 0n;
  for (const t of p.transfers) total += BigInt(t.amount);
  return total.toString();
}

function countdown(expires, status) {
  if (!["collecting", "ready"].includes(status)) return "—";
  const left = expires - (Math.floor(Date.now() / 1000) - (state.clockSkew || 0));
  if (left <= 0) return "expired";
  const h = Math.floor(left / 3600), m = Math.floor((left % 3600) / 60), s = left % 60;
  return h > 0 ? `${h}h ${m}m` : `${m}m ${s}s`;
}

function mayDo(role, vault) {
  const s = state.session;
  return !!s && s.grants.some((g) => g.role === role && (g.vault === "*" || g.vault === vault));
}

function renderProposals() {
  const body = $("proposal-table").querySelector("tbody");
  body.replaceChildren();
  if (state.proposals.length === 0) {
    body.append(el("tr", {}, el("td", { colspan: "9" }, "No proposals yet.")));
  }
  for (const p of [...state.proposals].reverse()) {
    const missing = p.missing.map((g) => `${g.needed - g.have} ${g.role}`).join(", ");
    const row = el("tr", {
      "data-id": p.proposal, tabindex: "0", "aria-selected": String(state.selected === p.proposal),
      onclick: () => select(p.proposal),
      onkeydown: (e) => { if (e.key === "Enter" || e.key === " ") { e.preventDefault(); select(p.proposal); } },
    },
      el("td", {}, el("code", {}, short(p.proposal))),
      el("td", {}, el("span", { class: `state state-${p.status}` }, p.status)),
      el("td", {}, `${p.vault} v${p.vault_version}`),
      el("td", {}, amountOf(p)),
      el("td", {}, p.transfers.map((t) => t.destination).join(", ")),
      el("td", {}, p.rule),
      el("td", {}, p.approved.join(", ") || "—"),
      el("td", {}, ["collecting", "ready"].includes(p.status) ? (missing || "—") : "—",
        ...p.rejected.map((r) => el("div", { class: "reason" }, `rejected by ${r.signer}: ${r.reason}`))),
      el("td", { class: "countdown", "data-expires": p.expires, "data-status": p.status }, countdown(p.expires, p.status)),
    );
    body.append(row);
  }
  renderDetail();
}

function renderDetail() {
  const box = $("proposal-detail");
  const p = state.proposals.find((x) => x.proposal === state.selected);
  if (!p) { box.hidden = true; return; }
  box.hidden = false;
  const id = p.proposal;
  const actions = el("div", {});
  if (p.status === "ready" && mayDo("operator", p.vault)) {
    actions.append(el("button", { type: "button", id: "finalize", onclick: () => act(id, "finalize") }, "Finalize"));
  }
  if (p.status === "finalized" && mayDo("operator", p.vault)) {
    actions.append(el("button", { type: "button", onclick: () => act(id, "broadcast") }, "Broadcast"));
  }
  box.replaceChildren(...[
    el("h3", {}, `Proposal ${short(id)} — `, el("span", { class: `state state-${p.status}`, id: "detail-state" }, p.status)),
    el("p", {}, `Vault ${p.vault} v${p.vault_version}, rule ${p.rule}, created ${new Date(p.created * 1000).toISOString()}, expires ${new Date(p.expires * 1000).toISOString()}`),
    el("h4", {}, "Pays"),
    el("ul", {}, ...p.transfers.map((t) => el("li", {}, `${t.amount}${t.asset ? " " + t.asset : ""} to ${t.destination}`))),
    p.memo ? el("p", {}, `Memo: ${p.memo}`) : null,
    el("h4", {}, "Decisions"),
    el("p", {}, `Approved: ${p.approved.join(", ") || "nobody yet"}. Undecided: ${p.undecided.join(", ") || "nobody"}.`),
    ...p.rejected.map((r) => el("p", { class: "reason" }, `Rejected by ${r.signer}: ${r.reason}`)),
    p.finalized ? el("p", {}, `Finalized: record ${short(p.finalized.record)}${p.finalized.txid ? ", txid " + p.finalized.txid : ""}`) : null,
    el("h4", {}, "For the signers"),
    el("p", {},
      el("a", { href: `/api/v1/proposals/${id}/bundle`, id: "bundle-link", download: `proposal-${short(id)}.airlock` }, "Download the bundle"),
      " · ",
      el("a", { href: `/api/v1/proposals/${id}/bundle?armor=true`, download: `proposal-${short(id)}.airlock.asc` }, "as ASCII armor")),
    qrImage(id),
    actions,
    el("p", { id: "action-result", role: "status", "aria-live": "polite" }),
  ].filter((node) => node !== null));
}

// One image per proposal, kept across refreshes (drawing the animated QR code is the service's
// heaviest answer; a refresh must not ask for it again).
function qrImage(id) {
  if (!state.qr || state.qr.id !== id) {
    state.qr = { id, img: el("img", { class: "qr", src: `/api/v1/proposals/${id}/qr.gif`, alt: "The bundle as an animated QR code (BC-UR) for a signer's camera" }) };
  }
  return state.qr.img;
}

function select(id) {
  state.selected = id;
  renderProposals();
  $("proposal-detail").scrollIntoView({ block: "nearest" });
}

async function act(id, action) {
  const out = $("action-result");
  try {
    const { body } = await api(`/api/v1/proposals/${id}/${action}`, {
      method: "POST", write: true, headers: { "Content-Type": "application/json" }, body: "{}",
    });
    out.textContent = `${action}: done by ${body.by} — now ${body.status}`;
    await refresh();
  } catch (e) {
    out.textContent = `${action} refused: ${e.message}`;
    out.className = "error";
  }
}

// The vault version's witness set: who must cosign the checkpoints its signers accept.
function witnessText(def) {
  const ws = def.witnesses || [];
  if (ws.length === 0) return "None: signers accept checkpoints the coordinator alone signed.";
  return `${def.witness_threshold} of ${ws.map((w) => w.name).join(", ")} must cosign every checkpoint; a halt by any of them stops the vault.`;
}

// The halts in force for a vault.
function haltsFor(vault) {
  return (state.halts || []).filter((h) => (h.in_force_for || []).includes(vault));
}

// The home's last sync of a vault (base units, as the chain counts them).
function syncedText(synced) {
  if (!synced) return "Synced balance: not synced here (or read live from the node).";
  const at = synced.synced_at ? ` at ${new Date(synced.synced_at * 1000).toISOString().replace(".000Z", "Z")}` : "";
  return `Synced balance: ${synced.balance} base units at height ${synced.height}${at}.`;
}

// The newest state commitment the coordinator logged for a vault.
function stateText(st) {
  if (!st) return "State commitment: none yet (each sync that finds the vault's on-chain state changed logs one).";
  return `State commitment: ${st.leaves} leaves at height ${st.height}, root ${st.root.slice(0, 16)}… (${short(st.id)}).`;
}

function utc(secs) {
  return new Date(secs * 1000).toISOString().replace(".000Z", "Z");
}

function renderWitnesses() {
  const box = $("witness-list");
  box.replaceChildren();
  const all = state.witnesses || [];
  if (all.length === 0) box.append(el("p", {}, "No witnesses registered (airlock witness add KEY --url URL)."));
  for (const w of all) {
    const cosigned = w.cosigned_size != null
      ? `Cosigned size ${w.cosigned_size} at ${utc(w.cosigned_at)}.`
      : "Has cosigned nothing for this log yet.";
    const alarm = w.split_view ? { class: "error halted", role: "alert" } : { class: "error" };
    const last = w.error ? el("p", alarm, `${w.split_view ? "SPLIT VIEW" : "Last ask failed"}: ${w.error}`) : null;
    box.append(el("div", { class: "panel" },
      el("h3", {}, w.name),
      el("p", {}, `${w.url} · `, el("code", {}, w.vkey)),
      el("p", {}, cosigned),
      ...(last ? [last] : []),
      el("p", {}, `In the witness set of: ${w.vaults.length ? w.vaults.join(", ") : "no vault"}.`),
      ...w.halts.map(([id, reason, inForce]) => el("p", {},
        `Halt ${short(id)} (${reason}): ${inForce.length ? "in force for " + inForce.join(", ") : "lifted"}.`)),
    ));
  }
}

function renderVaults() {
  const box = $("vault-list");
  box.replaceChildren();
  if (state.vaults.length === 0) box.append(el("p", {}, "No vaults yet."));
  for (const v of state.vaults) {
    const def = (v.detail && v.detail.definition && v.detail.definition.payload) || {};
    const signers = def.signers || [];
    const rules = def.rules || [];
    box.append(el("div", { class: "panel" },
      el("h3", {}, `${v.vault} — version ${v.version} (${v.chain}, ${v.network})`),
      el("p", {}, `Vault changes need ${v.threshold} of ${v.signers} signers. Versions: ${(v.detail && v.detail.versions || []).map((x) => "v" + x.version).join(", ")}`),
      el("p", {}, syncedText(v.detail && v.detail.synced)),
      ...(v.chain === "none" ? [] : [el("p", {}, stateText(v.detail && v.detail.state))]),
      el("h4", {}, "Members"),
      el("ul", {}, ...signers.map((s) => el("li", {}, `${s.name} (${s.role})`))),
      el("h4", {}, "Rules"),
      el("ul", {}, ...rules.map((r) => el("li", {}, typeof r === "string" ? r : (r.name || JSON.stringify(r))))),
      el("h4", {}, "Witnesses"),
      el("p", {}, witnessText(def)),
      ...haltsFor(v.vault).map((h) => el("p", { class: "error halted", role: "alert" },
        `HALTED by witness ${h.witness} (${h.reason}): ${h.detail} — halt ${short(h.id)}. Nothing is finalized until the signers approve a RESUME (airlock halt resume ${short(h.id)} --vault ${v.vault}).`)),
    ));
  }
  const select = $("p-vault");
  const current = select.value;
  select.replaceChildren(...state.vaults.filter((v) => mayDo("proposer", v.vault)).map((v) => el("option", { value: v.vault }, v.vault)));
  if (current) select.value = current;
  $("propose-form").hidden = select.options.length === 0;
}

function seconds(s) {
  if (s == null) return "–";
  if (s < 120) return `${s} s`;
  if (s < 7200) return `${(s / 60).toFixed(1)} min`;
  if (s < 172800) return `${(s / 3600).toFixed(1)} h`;
  return `${(s / 86400).toFixed(1)} d`;
}

function renderMetrics(size) {
  const m = state.metrics;
  if (!m) return;
  const o = m.outcomes;
  const pct = (r) => (r == null ? "–" : `${Math.round(r * 100)}%`);
  $("metrics-summary").textContent =
    `${o.proposals} proposals: ${o.finalized + o.broadcast + o.confirmed} finalized, ${o.rejected} rejected, ${o.expired} expired, ` +
    `${o.collecting + o.ready} open. Ready in ${seconds(m.latency.ready.p50)} (p50), ${seconds(m.latency.ready.p90)} (p90). ` +
    `Approval rate ${pct(o.approval_rate)}; ${m.disputes.total} disputes (${m.disputes.unresolved} unresolved); ` +
    `${m.crossings.total} air-gap crossings.` +
    (m.drills && m.drills.total > 0
      ? ` ${m.drills.total} tabletop drills: ${m.drills.correct} of ${m.drills.questions} answers matched the policy.`
      : "");
  for (const name of ["stages", "outcomes", "signers"]) {
    $(`chart-${name}`).src = `/api/v1/metrics/charts/${name}.svg?v=${size}`;
  }
}

async function renderLog() {
  const [{ body: entries }, { body: checkpoint }] = await Promise.all([
    api("/api/v1/log/entries?limit=20"), api("/log/checkpoint"),
  ]);
  $("log-size").textContent = String(entries.size);
  $("checkpoint").textContent = checkpoint;
  const body = $("log-table").querySelector("tbody");
  body.replaceChildren(...entries.entries.reverse().map((r) => el("tr", {},
    el("td", {}, r.index), el("td", {}, r.kind), el("td", {}, el("code", {}, short(r.artifact))),
    el("td", {}, r.vault), el("td", {}, new Date(r.at * 1000).toISOString().replace(".000Z", "Z")),
    el("td", {}, r.by || "—"))));
}

async function refresh() {
  const [{ body: proposals }, { body: vaults }, { body: halts }, { body: witnesses }, { body: metrics }] = await Promise.all([
    api("/api/v1/proposals"), api("/api/v1/vaults"), api("/api/v1/halts"), api("/api/v1/witnesses"), api("/api/v1/metrics")]);
  state.proposals = proposals;
  state.metrics = metrics;
  state.halts = halts;
  state.witnesses = witnesses;
  state.vaults = await Promise.all(vaults.map(async (v) => {
    try { v.detail = (await api(`/api/v1/vaults/${encodeURIComponent(v.vault)}`)).body; } catch (_) { v.detail = null; }
    return v;
  }));
  renderProposals();
  renderVaults();
  renderWitnesses();
  renderMetrics(metrics.log_size);
  await renderLog();
}

async function uploadBytes(bytes, type) {
  const out = $("upload-result");
  try {
    const { body } = await api("/api/v1/decisions", { method: "POST", headers: { "Content-Type": type }, body: bytes });
    const lines = body.map((r) => `Accepted ${r.decision} ${short(r.id)} for ${short(r.proposal)}: now ${r.status}`);
    out.append(el("p", { class: "accepted" }, lines.join("; ")));
    await refresh();
  } catch (e) {
    out.append(el("p", { class: "error" }, `Refused: ${e.message}`));
  }
}

async function uploadFiles(files) {
  for (const f of files) {
    const bytes = new Uint8Array(await f.arrayBuffer());
    const armored = new TextDecoder().decode(bytes.slice(0, 40)).startsWith("-----BEGIN");
    await uploadBytes(bytes, armored ? "text/plain" : "application/vnd.airlock.artifact");
  }
}

function setupUpload() {
  const zone = $("dropzone"), input = $("files");
  zone.addEventListener("click", () => input.click());
  zone.addEventListener("keydown", (e) => { if (e.key === "Enter" || e.key === " ") { e.preventDefault(); input.click(); } });
  zone.addEventListener("dragover", (e) => { e.preventDefault(); zone.classList.add("over"); });
  zone.addEventListener("dragleave", () => zone.classList.remove("over"));
  zone.addEventListener("drop", (e) => { e.preventDefault(); zone.classList.remove("over"); uploadFiles(e.dataTransfer.files); });
  input.addEventListener("change", () => { uploadFiles(input.files); input.value = ""; });
  $("paste-submit").addEventListener("click", () => {
    const text = $("paste").value.trim();
    if (text) uploadBytes(text, "text/plain").then(() => { $("paste").value = ""; });
  });
}

async function loadSession() {
  try {
    state.session = (await api("/api/v1/session")).body;
  } catch (_) {
    state.session = null;
  }
  $("whoami").textContent = state.session
    ? `Signed in as ${state.session.name} (${state.session.grants.map((g) => `${g.role} on ${g.vault}`).join(", ")})`
    : "Not signed in";
  $("signin").hidden = !!state.session;
  $("signout").hidden = !state.session;
}

async function signIn() {
  const { body } = await api("/api/v1/session/challenge", { method: "POST" });
  const box = $("challenge");
  box.hidden = false;
  $("challenge-command").textContent = `airlock --server ${location.origin} --member-key YOUR_KEY login ${body.challenge}`;
  $("challenge-status").textContent = "Waiting for your signature…";
  const poll = async () => {
    try {
      const r = await api(`/api/v1/session/challenge/${body.challenge}`);
      if (r.status === 202) { setTimeout(poll, 700); return; }
      box.hidden = true;
      await loadSession();
      await refresh();
    } catch (e) {
      $("challenge-status").textContent = `Sign-in failed: ${e.message}`;
    }
  };
  poll();
}

async function signOut() {
  await api("/api/v1/session", { method: "DELETE", write: true }).catch(() => {});
  await loadSession();
  await refresh();
}

function setupPropose() {
  $("propose-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    const out = $("propose-result");
    try {
      const { body } = await api("/api/v1/proposals", {
        method: "POST", write: true, headers: { "Content-Type": "application/json" },
        body: JSON.stringify({
          vault: $("p-vault").value,
          transfers: [{ destination: $("p-to").value.trim(), amount: $("p-amount").value.trim() }],
          memo: $("p-memo").value,
        }),
      });
      out.textContent = `Proposed ${short(body.proposal)} (rule ${body.rule})`;
      out.className = "";
      state.selected = body.proposal;
      await refresh();
    } catch (err) {
      out.textContent = `Refused: ${err.message}`;
      out.className = "error";
    }
  });
}

function live() {
  const events = new EventSource("/api/v1/events");
  events.addEventListener("log", () => refresh().catch(() => {}));
  setInterval(() => {
    for (const cell of document.querySelectorAll("td.countdown")) {
      cell.textContent = countdown(Number(cell.dataset.expires), cell.dataset.status);
    }
  }, 1000);
}

async function main() {
  const { body: id } = await api("/api/v1/identity");
  $("origin").textContent = id.origin;
  // The service may run on a rehearsal clock: count down against its time, not the browser's.
  const { body: health } = await api("/healthz");
  state.clockSkew = Math.floor(Date.now() / 1000) - health.now;
  $("signin").addEventListener("click", () => signIn().catch((e) => { $("whoami").textContent = e.message; }));
  $("signout").addEventListener("click", signOut);
  setupUpload();
  setupPropose();
  await loadSession();
  await refresh();
  live();
  document.body.dataset.ready = "true";
}

main().catch((e) => { document.body.prepend(el("p", { class: "error" }, `The dashboard could not load: ${e.message}`)); });
