// Plays a WAV file as the microphone of a headless Chromium, uses tierd's demo page to transcribe it, then
// follows the same session on the captions page. Prints what both pages showed as JSON.
// usage: node demo.mjs BASE_URL WAV SCREENSHOT_DIR
import { chromium } from "playwright-core";

const [base, wav, shots] = process.argv.slice(2);
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
  args: [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--use-fake-ui-for-media-stream",
    "--use-fake-device-for-media-stream",
    `--use-file-for-fake-audio-capture=${wav}%noloop`,
    "--autoplay-policy=no-user-gesture-required",
  ],
});
try {
  const context = await browser.newContext({ permissions: ["microphone"] });
  const page = await context.newPage();
  const logs = [];
  page.on("console", (m) => logs.push(m.text()));
  await page.goto(base);
  await page.waitForSelector("#tier option", { state: "attached" });
  await page.selectOption("#tier", "fast");
  await page.click("#start");
  await page.waitForSelector("#captions-link:not([hidden])", { timeout: 20000 });
  const captionsUrl = await page.getAttribute("#captions-link", "href");
  const captions = await context.newPage();
  await captions.goto(new URL(captionsUrl, base).href);
  // The fixture ends with silence: wait for its final, then stop.
  await page.waitForSelector("#finals li", { timeout: 60000 });
  await captions.waitForFunction(() => document.querySelector("#lines").textContent.trim().length > 0, null, { timeout: 20000 });
  await page.screenshot({ path: `${shots}/demo.png`, fullPage: true });
  await captions.screenshot({ path: `${shots}/captions.png` });
  const finals = await page.$$eval("#finals li", (lis) => lis.map((li) => li.firstChild.textContent));
  const captionText = await captions.textContent("#lines");
  await page.click("#stop");
  await page.waitForSelector("#start:not([disabled])", { timeout: 20000 });
  const error = await page.textContent("#error");
  console.log(JSON.stringify({ finals, captions: captionText, error: error.trim(), logs }));
} finally {
  await browser.close();
}
