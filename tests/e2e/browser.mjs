// Shared Playwright setup: Debian's Chromium, headless, never a downloaded browser.
import { chromium } from "playwright-core";
import { mkdirSync } from "node:fs";
import { fileURLToPath } from "node:url";

export const BASE_URL = process.env.CHRONIK_URL ?? "http://127.0.0.1:8080/";
export const ARTIFACTS = fileURLToPath(new URL("../artifacts/", import.meta.url));
mkdirSync(ARTIFACTS, { recursive: true });

export function launch() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
}
