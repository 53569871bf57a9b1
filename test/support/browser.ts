/**
 * Headless Chromium for browser tests (playwright-core with the machine's /usr/bin/chromium),
 * launched as every browser test here does: no sandbox (root), no GPU, no network of its own.
 */
import { type Browser, chromium } from 'playwright-core';

const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
] as const;

/** A fresh headless Chromium (its own temporary profile), or `undefined` without one. */
export async function launchChromium(): Promise<Browser | undefined> {
  const executablePath = process.env['STEPGATE_TEST_CHROMIUM'];
  if (!executablePath) return undefined;
  return chromium.launch({ executablePath, args: [...CHROMIUM_ARGS] });
}
