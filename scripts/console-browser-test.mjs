#!/usr/bin/env node
// The governance console in a real browser, after a demo month: fills a fresh audit store with
// `gravida demo --days 30 --fill-only`, reads the store's numbers with
// `gravida report --format json`, starts `gravida demo` on that store with the console behind a
// token, and opens /admin in Debian's headless Chromium (playwright-core, tests/browser) with
// JavaScript off. Checks that each plot is there (one SVG per plot, with its title, and drawn),
// that every number in the tables equals the store's, that the console refuses a request
// without the token, and that print hides the navigation. Saves target/admin-console.png
// (copied to docs/admin-console.png for the README).
//
//   (cd tests/browser && npm ci) && node scripts/console-browser-test.mjs
//
// GRAVIDA_BIN picks the binary (default target/debug/gravida); CHROMIUM the browser
// (default /usr/bin/chromium).
import { execFileSync, spawn } from "node:child_process";
import { copyFileSync, mkdtempSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const requireHere = createRequire(join(root, "tests/browser/package.json"));
const { chromium } = requireHere("playwright-core");
const bin = process.env.GRAVIDA_BIN || join(root, "target/debug/gravida");
const screenshot = join(root, "target/admin-console.png");
const docsShot = join(root, "docs/admin-console.png");
const TOKEN = "console-browser-test-token";
const PLOTS = ["fired", "answers", "share", "reasons"];

function check(condition, message) {
  if (!condition) throw new Error(`FAILED: ${message}`);
  console.log(`ok: ${message}`);
}

const scratch = mkdtempSync(join(tmpdir(), "gravida-console-"));
const env = {
  PATH: process.env.PATH,
  GRAVIDA_LOG__FORMAT: "json",
  GRAVIDA_STORE__URL: `sqlite://${join(scratch, "gravida.db")}`,
  GRAVIDA_STORE__DATA_DIR: scratch,
};

// A month of synthetic activity, then the store's own numbers.
const filled = execFileSync(bin, ["demo", "--days", "30", "--fill-only"], { cwd: scratch, env }).toString();
console.log(filled.trim());
const store = JSON.parse(execFileSync(bin, ["report", "--format", "json"], { cwd: scratch, env }).toString());
check(store.weeks.length >= 5, `the store holds ${store.weeks.length} weeks of activity`);
// The demo's first weeks run one rule silently under a dry-run profile version, then the
// profile as shipped: the console must show silent cards and the change of version.
const silentOf = (week) => week.rules.reduce((n, rule) => n + rule.fired_silent, 0);
const totalSilent = store.weeks.reduce((n, week) => n + silentOf(week), 0);
check(totalSilent > 0, `the store holds ${totalSilent} silent cards`);
const versions = new Set(store.weeks.flatMap((week) => week.profile_versions));
check(versions.size >= 2, `the store names ${versions.size} profile versions`);

// The demo on that store, its console on a free loopback port behind a token.
function startConsole() {
  const child = spawn(bin, ["demo", "--listen", "127.0.0.1:0", "--admin", "127.0.0.1:0"], {
    cwd: scratch,
    env: { ...env, GRAVIDA_ADMIN__TOKEN: TOKEN },
    stdio: ["ignore", "pipe", "inherit"],
  });
  const ready = new Promise((resolveUrl, reject) => {
    let buffer = "";
    const timer = setTimeout(() => reject(new Error("the console did not start in 30 s")), 30000);
    child.stdout.on("data", (chunk) => {
      buffer += chunk;
      for (const line of buffer.split("\n").slice(0, -1)) {
        const match = line.includes("governance console ready") && line.match(/"admin":"([^"]+)"/);
        if (match) {
          clearTimeout(timer);
          resolveUrl(`http://${match[1]}/admin`);
        }
      }
      buffer = buffer.slice(buffer.lastIndexOf("\n") + 1);
    });
    child.on("exit", (code) => reject(new Error(`gravida demo exited with ${code}`)));
  });
  return { child, ready };
}

const server = startConsole();
let browser;
try {
  const url = await server.ready;
  const refused = await fetch(url);
  check(refused.status === 401, `the console answers ${refused.status} without its token`);
  const wrong = await fetch(url, { headers: { Authorization: "Bearer not-the-token-at-all" } });
  check(wrong.status === 401, `the console answers ${wrong.status} with a wrong token`);

  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    headless: true,
    args: [
      "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync",
    ],
  });
  // No JavaScript: the console must read without it.
  const context = await browser.newContext({
    viewport: { width: 1100, height: 900 },
    javaScriptEnabled: false,
    extraHTTPHeaders: { Authorization: `Bearer ${TOKEN}` },
  });
  const page = await context.newPage();
  const response = await page.goto(url);
  check(response.status() === 200, "the console opens with its token");
  check((await page.locator("script").count()) === 0, "the page has no script");

  // One SVG per plot, each with its title, and each drawn (bars, lines or points).
  const svgs = page.locator("svg.plot");
  check((await svgs.count()) === PLOTS.length, `${PLOTS.length} plots`);
  for (const name of PLOTS) {
    const svg = page.locator(`svg.plot[data-plot="${name}"]`);
    check((await svg.count()) === 1, `the "${name}" plot is one SVG`);
    const title = (await svg.locator("title").first().textContent()) || "";
    const caption = (await page.locator(`figure[data-plot="${name}"] figcaption`).textContent()) || "";
    check(title.length > 10 && title === caption, `the "${name}" plot has its title ("${title}")`);
    const marks = await svg.locator("rect, polyline, path, circle").count();
    check(marks > 10, `the "${name}" plot is drawn (${marks} marks)`);
    const box = await svg.boundingBox();
    check(box && box.width > 400 && box.height > 150, `the "${name}" plot is visible (${box && Math.round(box.width)}×${box && Math.round(box.height)} px)`);
  }
  // The plots' text is the store's weeks.
  const fired = (await page.locator('svg.plot[data-plot="fired"]').textContent()) || "";
  for (const week of store.weeks) {
    const label = week.week.split("-")[1];
    check(fired.includes(label), `the fired plot labels week ${label}`);
  }

  // Every number in the tables is the store's.
  const cell = async (row, field) =>
    (await page.locator(`${row} td[data-field="${field}"]`).textContent())?.trim();
  // The share's exact value (data-value) is the store's, and its text that value in percent.
  const share = async (row, expected) => {
    const td = page.locator(`${row} td[data-field="share_fired"]`);
    const value = await td.getAttribute("data-value");
    const text = ((await td.textContent()) || "").trim();
    if (expected === null) return value === null && text === "n/a";
    return Number(value) === expected && Math.abs(parseFloat(text) - expected * 100) <= 0.051;
  };
  let compared = 0;
  for (const week of store.weeks) {
    const weekRow = `table.weeks tr[data-week="${week.week}"]`;
    check(await cell(weekRow, "calls") === String(week.calls), `${week.week}: ${week.calls} calls`);
    // Each profile version of the week by its hash, with its version and change note.
    for (const hash of week.profile_versions) {
      const known = store.profiles.find((p) => p.profile_version === hash);
      check(known !== undefined, `${week.week}: the store knows what ${hash} is`);
      const said = (await page.locator(`${weekRow} td[data-field="profile_versions"] span[data-profile="${hash}"]`).textContent())?.trim();
      check(said === `version ${known.version} (${hash}): ${known.change_note}`, `${week.week}: profile version ${known.version} (${hash})`);
    }
    check(await cell(weekRow, "fired_silent") === String(silentOf(week)), `${week.week}: ${silentOf(week)} silent cards`);
    for (const rule of week.rules) {
      const row = `table.rules tr[data-week="${week.week}"][data-rule="${rule.rule}"]`;
      for (const field of ["fired_active", "fired_silent", "calls_fired", "accepted", "overridden"]) {
        const shown = await cell(row, field);
        if (shown !== String(rule[field])) throw new Error(`FAILED: ${week.week} ${rule.rule} ${field}: page ${shown}, store ${rule[field]}`);
        compared += 1;
      }
      if (!(await share(row, rule.share_fired))) throw new Error(`FAILED: ${week.week} ${rule.rule} share`);
      compared += 1;
    }
    for (const hook of week.hooks) {
      const row = `table.hooks tr[data-week="${week.week}"][data-hook="${hook.hook}"]`;
      for (const field of ["calls", "calls_fired", "cards_active", "cards_silent"]) {
        if (await cell(row, field) !== String(hook[field])) throw new Error(`FAILED: ${week.week} ${hook.hook} ${field}`);
        compared += 1;
      }
      if (!(await share(row, hook.share_fired))) throw new Error(`FAILED: ${week.week} ${hook.hook} share`);
      compared += 1;
    }
    const rows = await page.locator(`table.rules tr[data-week="${week.week}"]`).count();
    check(rows === week.rules.length, `${week.week}: ${rows} rule rows, as in the store`);
  }
  check(compared > 100, `${compared} numbers on the page equal the store's`);
  const text = await page.locator("body").innerText();
  check(!/[0-9a-f]{64}/.test(text), "no patient hash on the page");

  // The summary and the plots: what the README shows (the tables below hold their numbers).
  const tables = await page.locator("#rules").boundingBox();
  await page.screenshot({ path: screenshot, fullPage: true, clip: { x: 0, y: 0, width: 1100, height: Math.round(tables.y) } });
  copyFileSync(screenshot, docsShot);
  console.log(`console screenshot: ${screenshot} (copied to ${docsShot})`);

  await page.emulateMedia({ media: "print" });
  check(!(await page.locator("nav").isVisible()), "print hides the navigation");
  console.log("console browser test: PASSED");
} catch (e) {
  console.error(e.message || e);
  process.exitCode = 1;
} finally {
  if (browser) await browser.close();
  server.child.kill("SIGTERM");
}
