// Swagger UI's "Try it out" with a token, in a real browser: the service runs as a process with
// API_TOKENS on a real socket, and Debian's chromium (driven by playwright-core, no downloaded
// browser) opens /docs, runs GET /users/{userId}/segments, is refused, authorizes and sees 200.
import { execFileSync, execSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { createTestDatabase, type TestDatabase } from '../support/database';
import { startServiceProcess, waitUntilReady, type ServiceProcess } from '../support/serviceProcess';

const found = (command: string): string | undefined => {
  try {
    return execSync(`command -v ${command}`, { encoding: 'utf8' }).trim() || undefined;
  } catch {
    return undefined;
  }
};

// Without chromium the test installs it with apt; only where neither is there is it skipped.
const canRun = found('chromium') !== undefined || found('apt-get') !== undefined;
const describeWithBrowser = canRun ? describe : describe.skip;
if (!canRun) console.warn('swaggerUiTryItOut: skipped, there is no chromium and no apt-get to install it with (Debian package "chromium")');

/** Debian's chromium, installed first when missing (as root, which apt-get needs). */
function chromiumExecutable(): string {
  const present = found('chromium');
  if (present) return present;
  const apt = (...args: string[]) => execFileSync('apt-get', args, { stdio: 'inherit', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
  try {
    apt('install', '-y', 'chromium');
  } catch {
    // A machine whose package lists are missing or stale: fetch them, then try once more.
    apt('update');
    apt('install', '-y', 'chromium');
  }
  const installed = found('chromium');
  if (!installed) throw new Error('apt-get installed chromium, but there is no chromium on PATH');
  return installed;
}

const READ_TOKEN = 'swagger-reader-0123456789';
const WRITE_TOKEN = 'analyst-writer-0123456789';

describeWithBrowser('Swagger UI "Try it out" with a token, in headless chromium', () => {
  let db: TestDatabase;
  let service: ServiceProcess;
  let profile: string;
  let browser: BrowserContext;
  let page: Page;

  beforeAll(async () => {
    const executablePath = chromiumExecutable();
    db = await createTestDatabase();
    service = await startServiceProcess({ DATABASE_URL: db.url, API_TOKENS: `swagger:${READ_TOKEN}:read,analyst:${WRITE_TOKEN}:write` });
    await waitUntilReady(service);
    const write = (route: string, body: unknown) =>
      fetch(`${service.url}${route}`, {
        method: 'POST',
        headers: { authorization: `Bearer ${WRITE_TOKEN}`, 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
    expect((await write('/segments', { slug: 'AVITO_VOICE_MESSAGES' })).status).toBe(201);
    expect((await write('/users/1000/segments', { add: ['AVITO_VOICE_MESSAGES'] })).status).toBe(200);

    profile = fs.mkdtempSync(path.join(os.tmpdir(), 'segments-chromium-'));
    browser = await chromium.launchPersistentContext(profile, {
      executablePath,
      headless: true,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
    page = browser.pages()[0] ?? (await browser.newPage());
  }, 600_000);

  afterAll(async () => {
    await browser?.close();
    if (profile) fs.rmSync(profile, { recursive: true, force: true });
    const code = await service?.stop();
    await db?.drop();
    expect(code).toBe(0);
  }, 60_000);

  /** Runs the operation's "Execute" and answers the status Swagger UI shows. */
  async function execute(operation: ReturnType<Page['locator']>): Promise<string> {
    await operation.locator('button.execute').click();
    const status = operation.locator('.live-responses-table .response .response-col_status').first();
    await status.waitFor({ timeout: 15_000 });
    return (await status.innerText()).trim();
  }

  it('is refused without a token, then answers 200 with the user\'s segments once authorized', async () => {
    await page.goto(`${service.url}/docs`);
    const operation = page.locator('.opblock-get', { has: page.locator('[data-path="/users/{userId}/segments"]') });
    await operation.locator('.opblock-summary').first().click();
    await operation.locator('button.try-out__btn').click();
    // The document's example fills the path parameter.
    await expect(operation.locator('tr[data-param-name="userId"] input').inputValue()).resolves.toBe('1000');

    expect(await execute(operation)).toBe('401');

    await page.locator('.scheme-container button.authorize').click();
    const dialog = page.locator('.dialog-ux');
    await dialog.locator('input').first().fill(READ_TOKEN);
    await dialog.locator('.auth-btn-wrapper button.authorize').click();
    await dialog.locator('.auth-btn-wrapper button.btn-done').click();

    expect(await execute(operation)).toBe('200');
    const body = await operation.locator('.live-responses-table .response-col_description pre').first().innerText();
    expect(JSON.parse(body)).toMatchObject({ userId: 1000, segments: [{ slug: 'AVITO_VOICE_MESSAGES', source: 'manual' }] });
    await expect(operation.locator('.curl-command').innerText()).resolves.toContain(`Authorization: Bearer ${READ_TOKEN}`);
  }, 60_000);
});
