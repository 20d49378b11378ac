// The dashboard shows a vault's witness set and a halt in force (issue 14): run by
// tests/dashboard.rs against a service whose vault "guarded" names a witness that halted it.
// Exits non-zero with the reason on the first failure.
import { join } from "node:path";
import { createRequire } from "node:module";

const env = process.env;
const require = createRequire(join(env.PLAYWRIGHT_DIR, "node_modules") + "/");
const { chromium } = require("playwright-core");

const browser = await chromium.launch({
  executablePath: env.CHROMIUM || "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});
try {
  const page = await browser.newPage();
  await page.goto(env.SERVICE_URL + "/");
  const banner = page.locator("#vault-list .halted");
  await banner.first().waitFor({ timeout: 20000 });
  const text = await banner.first().innerText();
  for (const needle of ["HALTED by witness witness.test/w1", "chain", env.HALT_DETAIL]) {
    if (!text.includes(needle)) throw new Error(`the halt banner lacks ${JSON.stringify(needle)}: ${text}`);
  }
  const panel = await page.locator("#vault-list").innerText();
  if (!panel.includes("1 of witness.test/w1 must cosign every checkpoint")) {
    throw new Error(`the vault panel does not show its witness set: ${panel}`);
  }
  const witnesses = await page.locator("#witness-list").innerText();
  for (const needle of ["witness.test/w1", `Cosigned size ${env.COSIGNED_SIZE} at`,
    "In the witness set of: guarded", `Halt ${env.HALT_ID.slice(0, 12)}`, "in force for guarded"]) {
    if (!witnesses.includes(needle)) throw new Error(`the witness panel lacks ${JSON.stringify(needle)}: ${witnesses}`);
  }
  if (env.SHOTS_DIR) await page.screenshot({ path: join(env.SHOTS_DIR, "dashboard-halt.png"), fullPage: true });
} finally {
  await browser.close();
}
