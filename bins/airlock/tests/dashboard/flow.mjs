// The dashboard in a real browser (Debian's chromium, driven by playwright-core), walking the
// whole flow: sign in with the member's CLI, propose, fetch the bundle, signers decide offline
// with the real airlock-signer, their files uploaded in the page (file picker and paste box) or by
// someone else (the page updates live), finalize, the log grows. Run by tests/dashboard.rs, which
// sets the environment below; exits non-zero with the reason on the first failure.
import { execFileSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { createRequire } from "node:module";

const env = process.env;
const require = createRequire(join(env.PLAYWRIGHT_DIR, "node_modules") + "/");
const { chromium } = require("playwright-core");

const url = env.SERVICE_URL;
const shots = env.SHOTS_DIR;
const work = env.WORK_DIR;
const run = (bin, args, extraEnv = {}) =>
  execFileSync(bin, args, { env: { ...process.env, ...extraEnv }, encoding: "utf8" });
const signer = (who, args) =>
  run(env.SIGNER_BIN, ["--home", join(work, who), "--passphrase-file", join(work, `${who}.pass`), ...args]);
const airlockRemote = (args) =>
  run(env.AIRLOCK_BIN, ["--home", join(work, "no-home"), "--server", url, ...args], {
    AIRLOCK_PASSPHRASE_FILE: env.MEMBER_PASS,
  });

function check(condition, message) {
  if (!condition) throw new Error(message);
}

const browser = await chromium.launch({
  executablePath: env.CHROMIUM || "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});
try {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 }, acceptDownloads: true });
  const page = await context.newPage();
  const external = [];
  page.on("request", (r) => { if (!r.url().startsWith(url)) external.push(r.url()); });
  const errors = [];
  page.on("pageerror", (e) => errors.push(String(e)));
  await page.goto(url);
  await page.waitForSelector("body[data-ready=true]");
  check((await page.textContent("#origin")) === "test.airlock/log", "the page names the log");

  // Sign in: the page shows a challenge, the member's CLI signs it, the page signs in by itself.
  await page.click("#signin");
  await page.waitForSelector("#challenge:not([hidden])");
  const command = await page.textContent("#challenge-command");
  const code = command.trim().split(" ").pop();
  check(/^[0-9a-f]{32}$/.test(code), `a challenge in: ${command}`);
  if (shots) await page.screenshot({ path: join(shots, "dashboard-signin.png") });
  airlockRemote(["--member-key", env.MEMBER_KEY, "login", code]);
  await page.waitForFunction(() => document.getElementById("whoami").textContent.includes("Signed in as olivia"));

  // Propose through the form (olivia is a proposer and operator on treasury).
  await page.waitForSelector("#propose-form:not([hidden])");
  await page.fill("#p-to", "vendor-x");
  await page.fill("#p-amount", "5000");
  await page.fill("#p-memo", "Q4 hardware");
  await page.click("#propose-form button[type=submit]");
  await page.waitForFunction(() => document.getElementById("propose-result").textContent.startsWith("Proposed"));
  await page.waitForSelector("#proposal-detail:not([hidden])");
  check((await page.textContent("#detail-state")) === "collecting", "a new proposal collects");
  const row = await page.textContent("#proposal-table tbody tr");
  check(row.includes("vendor-x") && row.includes("large") && row.includes("2 ops, 1 compliance"), `the row says who is missing: ${row}`);
  await page.waitForFunction(() => {
    const img = document.querySelector("img.qr");
    return img && img.complete && img.naturalWidth > 0;
  }, null, { timeout: 60000 });

  // Fetch the bundle from the page; the signers decide offline with the real signer.
  const href = await page.getAttribute("#bundle-link", "href");
  const bundle = await page.request.get(url + href);
  check(bundle.status() === 200, "the bundle downloads");
  const bundleFile = join(work, "dashboard.bundle");
  writeFileSync(bundleFile, await bundle.body());
  const alice = join(work, "dash-alice.approval");
  const bob = join(work, "dash-bob.approval");
  const carol = join(work, "dash-carol.approval.asc");
  signer("alice", ["approve", bundleFile, "--out", alice, "--yes"]);
  signer("bob", ["approve", bundleFile, "--out", bob, "--yes"]);
  signer("carol", ["approve", bundleFile, "--out", carol, "--yes", "--armor"]);

  // Alice's file through the file picker of the drop zone.
  await page.setInputFiles("#files", alice);
  await page.waitForFunction(() => document.getElementById("upload-result").textContent.includes("Accepted approve"));
  // A tampered file is refused in the page with the service's reason.
  const tampered = readFileSync(bob);
  tampered[tampered.length - 5] ^= 1;
  const tamperedFile = join(work, "dash-tampered.approval");
  writeFileSync(tamperedFile, tampered);
  await page.setInputFiles("#files", tamperedFile);
  await page.waitForFunction(() => document.getElementById("upload-result").textContent.includes("does not verify"));
  // Bob's is uploaded by somebody else (the CLI): the page updates live, with no action here.
  airlockRemote(["submit", bob]);
  await page.waitForFunction(() => document.querySelector("#proposal-table tbody tr").textContent.includes("alice, bob"));
  // Carol's armored file pasted into the paste box.
  await page.fill("#paste", readFileSync(carol, "utf8"));
  await page.click("#paste-submit");
  await page.waitForFunction(() => document.getElementById("detail-state").textContent === "ready");
  if (shots) await page.screenshot({ path: join(shots, "dashboard-proposal.png"), fullPage: true });

  // Finalize from the page (a session write: cookie and CSRF token).
  const sizeBefore = Number(await page.textContent("#log-size"));
  await page.click("#finalize");
  await page.waitForFunction(() => document.getElementById("detail-state").textContent === "finalized");
  await page.waitForFunction((n) => Number(document.getElementById("log-size").textContent) > n, sizeBefore);
  const log = await page.textContent("#log-table tbody");
  check(log.includes("finalized") && log.includes("olivia"), `the log shows the finalization by olivia: ${log}`);
  // The metrics section: figures from the log and three charts that load.
  await page.waitForFunction(() => /\d+ proposals: [1-9]\d* finalized/.test(document.getElementById("metrics-summary").textContent));
  await page.waitForFunction(() => ["stages", "outcomes", "signers"].every((n) => {
    const img = document.getElementById(`chart-${n}`);
    return img.complete && img.naturalWidth > 0;
  }), null, { timeout: 30000 });
  if (shots) await page.screenshot({ path: join(shots, "dashboard-overview.png"), fullPage: true });

  // A session write without the CSRF token is refused.
  const forged = await page.request.post(`${url}/api/v1/proposals`, {
    headers: { "Content-Type": "application/json" },
    data: JSON.stringify({ vault: "treasury", transfers: [{ destination: "mallory", amount: 1 }] }),
  });
  check(forged.status() === 403, `a session write without CSRF token: ${forged.status()}`);

  // Readable on a phone.
  await page.setViewportSize({ width: 390, height: 844 });
  await page.evaluate(() => window.scrollTo(0, 0));
  if (shots) await page.screenshot({ path: join(shots, "dashboard-phone.png"), fullPage: false });
  // Keyboard: the drop zone and the proposal rows are reachable and labelled.
  const zoneRole = await page.getAttribute("#dropzone", "role");
  check(zoneRole === "button" && (await page.getAttribute("#dropzone", "tabindex")) === "0", "the drop zone is a keyboard button");
  check(external.length === 0, `the page loaded nothing from elsewhere: ${external}`);
  check(errors.length === 0, `no script errors: ${errors}`);
  console.log("dashboard flow: ok");
} finally {
  await browser.close();
}
