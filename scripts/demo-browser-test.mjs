#!/usr/bin/env node
// The demo page in a real browser: starts `gravida demo` on a free loopback port, drives
// Debian's headless Chromium with playwright-core (tests/browser), and checks what a physician
// would see. Saves a screenshot to target/demo-screenshot.png, and the motivating case's card as
// the CDS Hooks sandbox shows it (a 624-px column) to target/motivating-case-card.png (copied to
// docs/motivating-case-card.png for the README). Card Markdown must read as an EHR's CommonMark
// renderer reads it (backslash escapes gone) and raw HTML in a card must stay text.
//
//   (cd tests/browser && npm ci) && node scripts/demo-browser-test.mjs
//
// GRAVIDA_BIN picks the binary (default target/debug/gravida); CHROMIUM the browser
// (default /usr/bin/chromium).
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const requireHere = createRequire(join(root, "tests/browser/package.json"));
const { chromium } = requireHere("playwright-core");
const bin = process.env.GRAVIDA_BIN || join(root, "target/debug/gravida");
const screenshot = join(root, "target/demo-screenshot.png");
const cardShot = join(root, "target/motivating-case-card.png");
const corpusFile = join(root, "target/card-corpus.json");
const heightsFile = join(root, "target/card-heights");
const publicShot = join(root, "target/public-cards.png");
// The narrower column some EHRs give a CDS card (issue 31 item 6).
const NARROW_COLUMN_PX = 436;
// The CDS Hooks sandbox's card column, and how far down its buttons may start (issue 17).
const SANDBOX_COLUMN_PX = 624;
const BUTTONS_WITHIN_PX = 600;

function check(condition, message) {
  if (!condition) throw new Error(`FAILED: ${message}`);
  console.log(`ok: ${message}`);
}

// Starts the demo in a scratch folder (its audit store goes there) and resolves with the page URL
// from its "demo ready" log line.
function startDemo() {
  const child = spawn(bin, ["demo", "--listen", "127.0.0.1:0"], {
    cwd: mkdtempSync(join(tmpdir(), "gravida-demo-")),
    env: { PATH: process.env.PATH, GRAVIDA_LOG__FORMAT: "json" },
    stdio: ["ignore", "pipe", "inherit"],
  });
  const ready = new Promise((resolveUrl, reject) => {
    let buffer = "";
    const timer = setTimeout(() => reject(new Error("gravida demo did not start in 30 s")), 30000);
    child.stdout.on("data", (chunk) => {
      buffer += chunk;
      for (const line of buffer.split("\n").slice(0, -1)) {
        const match = line.includes("demo ready") && line.match(/"page":"([^"]+)"/);
        if (match) {
          clearTimeout(timer);
          resolveUrl(match[1]);
        }
      }
      buffer = buffer.slice(buffer.lastIndexOf("\n") + 1);
    });
    child.on("exit", (code) => reject(new Error(`gravida demo exited with ${code}`)));
  });
  return { child, ready };
}

// The page's markdown-it is the pinned npm package's browser build (its "./browser" export, the
// UMD file), byte for byte.
const vendored = readFileSync(join(root, "crates/server/src/demo/assets/markdown-it.umd.min.js"));
const packaged = readFileSync(requireHere.resolve("markdown-it/browser"));
check(vendored.equals(packaged), "the vendored markdown-it is the npm package's file, unchanged");

const demo = startDemo();
let browser;
try {
  const url = await demo.ready;
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    headless: true,
    args: [
      "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync",
    ],
  });
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  const problems = [];
  page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
  page.on("console", (m) => m.type() === "error" && problems.push(`console: ${m.text()}`));

  await page.goto(url);
  await page.click('[data-patient="demo01"]');
  const card = page.locator('[data-testid="card"]').first();
  await card.waitFor({ timeout: 15000 });
  const text = await card.innerText();
  check(/warning/i.test(await card.locator(".indicator").innerText()), "the 12-week card is a warning");
  check(text.includes("12w0d") && /ectopic pregnancy not excluded/i.test(text), "the card names 12w0d and the ectopic risk");
  check(/implausible/i.test(text), "the card says the implantation label is implausible");
  const suggestions = await card.locator("button.suggestion").allInnerTexts();
  check(suggestions.some((s) => /ultrasound/i.test(s)), `an ultrasound suggestion (${suggestions.join(" | ")})`);
  check(suggestions.some((s) => /hCG/.test(s)), "an hCG suggestion");
  check((await card.locator(".source a").count()) === 1, "the source is a link");

  // The motivating cases' cards in the sandbox's column: nothing sticks out, and every button
  // is reached without scrolling past 600 px of card.
  for (const patient of ["demo01", "pub01"]) {
    if (patient !== "demo01") {
      await page.click(`[data-patient="${patient}"]`);
      await page.locator('[data-testid="card"]').first().waitFor({ timeout: 15000 });
    }
    const first = page.locator('[data-testid="card"]').first();
    const fit = await first.evaluate((node, width) => {
      node.style.width = `${width}px`;
      node.style.boxSizing = "border-box";
      const box = node.getBoundingClientRect();
      const below = [...node.querySelectorAll("button")].map((b) => b.getBoundingClientRect().bottom - box.top);
      const wide = [...node.querySelectorAll("*")].filter((e) => e.getBoundingClientRect().right > box.right + 0.5);
      return { width: box.width, height: box.height, below, wide: wide.length, overflow: node.scrollWidth - node.clientWidth };
    }, SANDBOX_COLUMN_PX);
    check(fit.width <= SANDBOX_COLUMN_PX && fit.overflow <= 0 && fit.wide === 0,
      `${patient}'s card fits a ${SANDBOX_COLUMN_PX}-px column (${fit.width} px wide, ${fit.height} px high)`);
    const lowest = Math.max(...fit.below);
    check(fit.below.length >= 3 && lowest <= BUTTONS_WITHIN_PX,
      `${patient}'s ${fit.below.length} buttons end ${Math.round(lowest)} px below the card's top (at most ${BUTTONS_WITHIN_PX})`);
    if (patient === "pub01") {
      await first.screenshot({ path: cardShot });
      console.log(`card screenshot: ${cardShot}`);
    }
    await first.evaluate((node) => { node.style.width = ""; node.style.boxSizing = ""; });
  }
  // Every card of the corpus, through the page's own card code, at both column widths: the
  // summary, the first action and every button within 600 px of the card's top at 624 px.
  check(existsSync(corpusFile), `${corpusFile} exists (cargo test --test it card_corpus writes it)`);
  const corpus = JSON.parse(readFileSync(corpusFile, "utf8"));
  const measured = await page.evaluate(({ corpus, widths }) => {
    const container = document.getElementById("cards");
    return corpus.map((entry) => {
      const row = { chart: entry.chart, public: entry.public, rule: entry.rule,
        chars: (entry.card.summary || "").length + (entry.card.detail || "").length };
      for (const width of widths) {
        container.replaceChildren();
        const node = renderCard("gravida-patient-view", entry.card);
        node.style.width = `${width}px`;
        node.style.boxSizing = "border-box";
        container.append(node);
        const top = node.getBoundingClientRect().top;
        const bottom = (e) => (e ? e.getBoundingClientRect().bottom - top : 0);
        row[`height${width}`] = Math.round(node.getBoundingClientRect().height);
        row[`summary${width}`] = Math.round(bottom(node.querySelector(".summary")));
        row[`firstAction${width}`] = Math.round(bottom(node.querySelector("button.suggestion")));
        row[`buttons${width}`] = Math.round(Math.max(0, ...[...node.querySelectorAll("button")].map(bottom)));
      }
      return row;
    });
  }, { corpus, widths: [SANDBOX_COLUMN_PX, NARROW_COLUMN_PX] });
  const table = ["| chart | rule | chars | height 624 | height 436 | last button 624 |", "|---|---|---|---|---|---|",
    ...measured.map((r) => `| ${r.chart} | ${r.rule} | ${r.chars} | ${r.height624} | ${r.height436} | ${r.buttons624} |`)];
  writeFileSync(`${heightsFile}.json`, JSON.stringify(measured, null, 2));
  writeFileSync(`${heightsFile}.md`, table.join("\n") + "\n");
  console.log(table.join("\n"));
  console.log(`card heights: ${heightsFile}.json and .md`);
  const tooLow = measured.filter((r) =>
    Math.max(r.summary624, r.firstAction624, r.buttons624) > BUTTONS_WITHIN_PX);
  check(tooLow.length === 0,
    `the summary, first action and every button of all ${measured.length} cards lie within ${BUTTONS_WITHIN_PX} px at ${SANDBOX_COLUMN_PX} px (${tooLow.map((r) => `${r.chart} ${r.rule} ${r.buttons624} px`).join(", ")})`);
  const rules = new Set(measured.map((r) => r.rule));
  check(["R2", "R2E", "R3", "R4", "R6", "R7", "R9", "R13", "R14", "R15", "R16", "R2R", "D1"].every((r) => rules.has(r)),
    `a card of every rule the charts give is measured (${[...rules].sort().join(" ")})`);
  // The public scenarios' cards one under another at 624 px, for the record.
  await page.evaluate(({ corpus, width }) => {
    const container = document.getElementById("cards");
    container.replaceChildren();
    for (const entry of corpus.filter((e) => e.public)) {
      const node = renderCard("gravida-patient-view", entry.card);
      node.style.width = `${width}px`;
      node.style.boxSizing = "border-box";
      container.append(node);
    }
  }, { corpus, width: SANDBOX_COLUMN_PX });
  await page.locator("#cards").screenshot({ path: publicShot });
  console.log(`public cards screenshot: ${publicShot}`);

  await page.click('[data-patient="demo01"]');
  await page.locator('[data-testid="card"]').first().waitFor({ timeout: 15000 });

  // The chart as a physician sees it, before anything is clicked.
  await page.screenshot({ path: screenshot, fullPage: false });
  console.log(`screenshot: ${screenshot}`);

  // A suggestion shows the resource it would create, and posts feedback.
  await card.locator("button.suggestion", { hasText: /ultrasound/i }).click();
  const shown = await card.locator("pre.resource:not([hidden])").first().innerText();
  check(shown.includes("ServiceRequest") && shown.includes("76817"), "the suggestion shows the ServiceRequest it creates");
  await card.getByText("Feedback (accepted) recorded.").waitFor({ timeout: 5000 });
  check(true, "accepting a suggestion posts real feedback");

  // The exchange panel holds the exact request: no prefetch, fhirServer = the demo endpoint.
  const sent = JSON.parse(await page.locator("#request-json").inputValue());
  check(sent.fhirServer.endsWith("/demo/fhir") && !sent.prefetch, "the request sends fhirServer and no prefetch");

  // Markdown from a card cannot become markup.
  const rendered = await page.evaluate(() => {
    const node = renderMarkdown('<img src=x onerror="window.pwned=1"> **bold** [bad](javascript:alert(1)) [good](https://example.org)');
    return { html: node.innerHTML, links: [...node.querySelectorAll("a")].map((a) => a.href) };
  });
  check(!rendered.html.includes("<img") && rendered.html.includes("&lt;img"), "HTML in a card is shown as text");
  check(rendered.html.includes("<strong>bold</strong>"), "markdown bold is rendered");
  check(rendered.links.length === 1 && rendered.links[0] === "https://example.org/", "only http(s) links survive");

  // Overriding posts the card's override reason as feedback. Not the first reason, "already
  // addressed": that would hide this card when demo01 is opened again below (README "Cards shown
  // once").
  await card.locator("button.override").click();
  await card.locator("select").selectOption({ index: 2 });
  await card.getByRole("button", { name: "Override" }).click();
  await card.getByText("Feedback (overridden) recorded.").waitFor({ timeout: 5000 });
  check(true, "overriding with a reason posts real feedback");

  // A patient where nothing is wrong: no card at all.
  await page.click('[data-patient="pub02"]');
  await page.locator('[data-testid="no-cards"]').waitFor({ timeout: 15000 });
  check((await page.locator('[data-testid="card"]').count()) === 0, "an implantation bleed at 3w4d shows no card");

  // Methotrexate from the order panel on the 12-week patient: the critical card.
  await page.click('[data-patient="demo01"]');
  await page.locator('[data-testid="card"]').first().waitFor({ timeout: 15000 });
  const answer = page.waitForResponse((r) => r.url().endsWith("/cds-services/gravida-order-select"));
  await page.locator('[data-order="MedicationRequest/demo-mtx"]').check();
  await page.locator(".card.critical").first().waitFor({ timeout: 15000 });
  const critical = await page.locator(".card.critical").first().innerText();
  check(/methotrexate/i.test(critical), "methotrexate at order-select gets a critical card");
  // The service escapes the order's text for Markdown ("50 mg\/m2 IM injection\, single dose");
  // the card must read as an EHR shows it, without the backslashes.
  const sentDetail = ((await (await answer).json()).cards || []).find((c) => c.indicator === "critical")?.detail || "";
  check(sentDetail.includes("50 mg\\/m2"), "the critical card's detail escapes the order's slash for Markdown");
  check(critical.includes("50 mg/m2 IM injection, single dose") && !critical.includes("\\"),
    "the escapes are read as Markdown: the card shows \"50 mg/m2 IM injection, single dose\" and no backslash");

  // A card is untrusted text: one answered by a stand-in for the service, full of markup and
  // Markdown, is shown through the same code as the service's cards.
  await page.route("**/cds-services/gravida-patient-view", (route) => route.fulfill({
    status: 200,
    contentType: "application/json",
    body: JSON.stringify({ cards: [{
      uuid: "hostile-1",
      summary: "<b>summary markup</b>",
      indicator: "info",
      source: { label: "<i>a source</i>" },
      detail: [
        "Dose 50 mg\\/m2, not \\*emphasis\\* and not \\_this\\_ either;",
        "1\\. not a list.",
        "",
        '<img src=x onerror="window.pwned=1"><script>window.pwned=2</script>',
        "",
        '<a href="javascript:window.pwned=3">click</a> [bad](javascript:window.pwned=4) [good](https://example.org/ok) &lt;i&gt;',
        "",
        "| GA | hCG |",
        "|---|---|",
        "| 6w2d | 1500 |",
      ].join("\n"),
    }] }),
  }));
  await page.click('[data-patient="pub03"]');
  const hostile = page.locator('[data-testid="card"]').first();
  await hostile.waitFor({ timeout: 15000 });
  const shownHostile = await hostile.evaluate((node) => ({
    text: node.innerText,
    tags: [...node.querySelectorAll("*")].map((e) => e.tagName.toLowerCase()),
    links: [...node.querySelectorAll(".detail a")].map((a) => a.href),
    emphasis: node.querySelectorAll(".detail em, .detail ol").length,
    cells: [...node.querySelectorAll(".detail td")].map((td) => td.textContent),
    pwned: window.pwned,
  }));
  await page.unroute("**/cds-services/gravida-patient-view");
  check(shownHostile.text.includes("Dose 50 mg/m2, not *emphasis* and not _this_ either;") &&
    shownHostile.text.includes("1. not a list.") &&
    shownHostile.emphasis === 0, "backslash escapes in a card are read as CommonMark reads them");
  check(!shownHostile.tags.some((t) => ["img", "script", "b", "i"].includes(t)) && shownHostile.pwned === undefined,
    `raw HTML in a card is not markup (elements: ${[...new Set(shownHostile.tags)].join(" ")})`);
  check(shownHostile.text.includes('<img src=x onerror="window.pwned=1"><script>window.pwned=2</script>') &&
    shownHostile.text.includes("<b>summary markup</b>") && shownHostile.text.includes("<i>"),
    "raw HTML in a card is shown as its text");
  check(shownHostile.links.length === 1 && shownHostile.links[0] === "https://example.org/ok",
    `only the http(s) link is a link (${shownHostile.links.join(" ")})`);
  check(shownHostile.cells.join(",") === "6w2d,1500", "a Markdown table is a table");

  check(problems.length === 0, `no page errors or CSP violations (${problems.join("; ")})`);
  console.log("demo browser test: PASSED");
} catch (e) {
  console.error(e.message || e);
  process.exitCode = 1;
} finally {
  if (browser) await browser.close();
  demo.child.kill("SIGTERM");
}
