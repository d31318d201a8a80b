// A thin bridge from the Python tests (and bench/bench_html.py) to a real browser: Debian's
// chromium driven by playwright-core. One JSON request a line on stdin, one JSON answer a line on
// stdout. The tests decide what to check; this only does what it is told.
//
// Every page is opened with the network blocked: any request that is not file: is aborted and
// recorded, so a page that tries to load anything is seen to.
import { createInterface } from "node:readline";
import { chromium } from "playwright-core";

const executablePath = process.env.CAB_CHROMIUM || "/usr/bin/chromium";
const browser = await chromium.launch({
  executablePath,
  headless: true,
  args: [
    "--no-sandbox",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
    "--disable-default-apps",
    "--disable-extensions",
    "--metrics-recording-only",
    "--no-default-browser-check",
  ],
});

let context = null;
let page = null;
let seen = { console: [], pageErrors: [], blocked: [] };

async function open({ url, width = 1400, height = 1000 }) {
  if (context) await context.close();
  seen = { console: [], pageErrors: [], blocked: [] };
  context = await browser.newContext({ viewport: { width, height }, deviceScaleFactor: 1 });
  await context.route("**/*", (route) => {
    const target = route.request().url();
    if (target.startsWith("file:") || target.startsWith("data:") || target.startsWith("blob:")) return route.continue();
    seen.blocked.push(target);
    return route.abort();
  });
  page = await context.newPage();
  page.on("console", (msg) => {
    if (msg.type() === "error" || msg.type() === "warning") seen.console.push(`${msg.type()}: ${msg.text()}`);
  });
  page.on("pageerror", (err) => seen.pageErrors.push(String(err)));
  const started = Date.now();
  await page.goto(url, { waitUntil: "load" });
  return { loadMs: Date.now() - started };
}

const ops = {
  open,
  async eval({ expr, arg }) {
    return page.evaluate(
      ([source, value]) => {
        const fn = new Function("arg", `return (async () => (${source}))();`);
        return fn(value);
      },
      [expr, arg ?? null],
    );
  },
  async press({ key, times = 1 }) {
    for (let i = 0; i < times; i++) await page.keyboard.press(key);
    return null;
  },
  async click({ selector }) {
    await page.click(selector);
    return null;
  },
  async text({ selector }) {
    return page.locator(selector).allTextContents();
  },
  async screenshot({ path, selector, fullPage = false }) {
    if (selector) await page.locator(selector).first().screenshot({ path });
    else await page.screenshot({ path, fullPage });
    return path;
  },
  async seen() {
    return seen;
  },
  async version() {
    return browser.version();
  },
  async close() {
    if (context) await context.close();
    context = null;
    page = null;
    return null;
  },
};

const lines = createInterface({ input: process.stdin, crlfDelay: Infinity });
process.stdout.write(JSON.stringify({ ok: true, value: "ready" }) + "\n");
for await (const line of lines) {
  if (!line.trim()) continue;
  let request;
  try {
    request = JSON.parse(line);
  } catch (err) {
    process.stdout.write(JSON.stringify({ ok: false, error: `not JSON: ${err}` }) + "\n");
    continue;
  }
  if (request.op === "quit") break;
  const op = ops[request.op];
  try {
    if (!op) throw new Error(`no such op: ${request.op}`);
    const value = await op(request);
    process.stdout.write(JSON.stringify({ ok: true, value: value ?? null }) + "\n");
  } catch (err) {
    process.stdout.write(JSON.stringify({ ok: false, error: String(err && err.stack ? err.stack : err) }) + "\n");
  }
}
await browser.close();
