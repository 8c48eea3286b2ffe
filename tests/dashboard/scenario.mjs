// Issue #17's acceptance scenario in real Chromium against a running
// Wrenn with real VMs (tests/dashboard/run.sh starts the stack):
// sign up → create a key (shown once) → create a sandbox → `print(6*7)` in
// the terminal reads 42 → upload a file and see it in the file browser →
// pause and resume → usage moves → as admin create a host, read its token
// and agent command → kill the sandbox; plus logout, CSRF, console errors,
// axe on every route and phone-width screenshots.
// Prints one line per check and `dashboard: N passed, M failed`.
import { randomBytes } from 'node:crypto';
import { writeFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ARTIFACTS, BASE, Checks, api, axe, launch, until } from './lib.mjs';

const checks = new Checks('dashboard');
const email = `dash-${randomBytes(4).toString('hex')}@example.com`;
const password = `dash-pw-${randomBytes(9).toString('base64url')}`;
const state = {};

// Console errors and uncaught exceptions, by page. Chromium logs "Failed
// to load resource" for every 4xx a fetch gets; two are expected: the
// session probe's 401 once logged out (how the app learns it must show
// /login) and the 403s the CSRF probe provokes on purpose. Every other
// error line fails the run.
const consoleErrors = [];
const expectedFailures = [
    [/\/v1\/auth\/session$/, 401],
    [/\/v1\/keys$/, 403],
];
function watch(page) {
    page.on('console', (msg) => {
        if (msg.type() !== 'error') return;
        const text = msg.text();
        const where = msg.location()?.url ?? '';
        const expected = expectedFailures.some(([re, status]) => re.test(where) && text.includes(`status of ${status}`));
        if (text.startsWith('Failed to load resource') && expected) return;
        consoleErrors.push(`${pathOf(page.url())}: console.error: ${text}${where ? ` (${where})` : ''}`);
    });
    page.on('pageerror', (err) => consoleErrors.push(`${pathOf(page.url())}: uncaught: ${err.message}`));
}
const pathOf = (url) => {
    try {
        return new URL(url).pathname;
    } catch {
        return url;
    }
};

const shot = (page, name) => page.screenshot({ path: join(ARTIFACTS, `${name}.png`), fullPage: true });

async function visit(page, path) {
    await page.goto(BASE + path, { waitUntil: 'load' });
    await page.waitForLoadState('networkidle', { timeout: 10_000 }).catch(() => {});
}

/** The terminal's visible text: xterm's DOM rows, one line per row. */
async function terminalText(page) {
    return page.evaluate(() => {
        const root = document.querySelector('[data-testid=terminal]');
        if (!root) return '';
        const rows = root.querySelector('.xterm-rows') ?? root.querySelector('.xterm-accessibility-tree') ?? root;
        return [...rows.children].map((r) => r.textContent.replace(/\u00a0/g, ' ')).join('\n');
    });
}

/**
 * Where the sandbox's `testid` action button is: the detail page's, else
 * its row in the list (both are the dashboard's own buttons).
 */
async function actionsScope(page, id, testid) {
    await visit(page, `/sandboxes/${id}`);
    const detail = page.locator('main');
    if (await detail.getByTestId(testid).first().waitFor({ timeout: 5_000 }).then(() => true, () => false)) {
        return { scope: detail, where: 'detail page' };
    }
    await visit(page, '/sandboxes');
    const row = page.locator(`[data-testid=sandbox-row][data-sandbox-id="${id}"]`);
    await row.getByTestId(testid).first().waitFor({ timeout: 15_000 });
    return { scope: row, where: 'list row' };
}

/** Clicks a confirm button when the action opened a dialog. */
async function confirmIfAsked(page, name) {
    const dialog = page.getByRole('dialog');
    if (await dialog.count().catch(() => 0)) {
        const visible = await dialog.first().isVisible().catch(() => false);
        if (visible) await dialog.first().getByRole('button', { name }).last().click();
    }
}

async function sandboxState(id) {
    const r = await api(state.key, 'GET', `/v1/sandboxes/${id}`);
    if (r.status === 404) return 'gone';
    if (r.status !== 200) throw new Error(`GET /v1/sandboxes/${id}: ${r.status} ${r.text}`);
    return r.json.state;
}

async function usageTotal(page) {
    await visit(page, '/usage');
    const total = page.getByTestId('usage-total');
    await total.first().waitFor({ timeout: 15_000 });
    return (await total.first().innerText()).trim();
}

const browser = await launch();
const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
context.setDefaultTimeout(15_000);
const page = await context.newPage();
watch(page);

try {
    await checks.check('signup through the form lands on /sandboxes', async () => {
        await visit(page, '/signup');
        await page.getByLabel(/e-?mail/i).first().fill(email);
        const passwords = page.locator('input[type=password]');
        for (let i = 0; i < (await passwords.count()); i += 1) await passwords.nth(i).fill(password);
        await page.getByRole('button', { name: /sign ?up|create account|register/i }).first().click();
        await page.waitForURL(/\/sandboxes\/?$/, { timeout: 20_000 });
        await page.getByRole('heading', { level: 1 }).first().waitFor();
        await shot(page, 'sandboxes-empty');
        state.signedUp = true;
        const me = await page.request.get(`${BASE}/v1/auth/session`);
        if (me.status() !== 200) throw new Error(`GET /v1/auth/session after signup: ${me.status()}`);
        const body = await me.json();
        state.csrf = body.csrf_token;
        if (!body.user?.is_admin) throw new Error('the stack\'s first user should be its platform admin');
        const cookies = await context.cookies();
        const session = cookies.find((c) => c.name === 'wrenn_session');
        if (!session) throw new Error('no wrenn_session cookie');
        if (!session.httpOnly || session.sameSite !== 'Lax') {
            throw new Error(`cookie flags: httpOnly=${session.httpOnly} sameSite=${session.sameSite}`);
        }
        const stored = await page.evaluate(() => JSON.stringify({ ...localStorage }) + JSON.stringify({ ...sessionStorage }));
        if (/wrn_|eyJ|wrenn_session/.test(stored)) throw new Error(`a credential in web storage: ${stored}`);
        return email;
    });

    if (state.signedUp) {
        await checks.check('usage page answers a baseline usage-total', async () => {
            state.usageBefore = await usageTotal(page);
            return `usage-total ${JSON.stringify(state.usageBefore)}`;
        });

        await checks.check('create an API key, shown once, and it works', async () => {
            await visit(page, '/keys');
            await page.getByRole('button', { name: /create|new key|add key/i }).first().click();
            // A dialog, or a form on the page itself.
            const dialog = page.getByRole('dialog');
            await dialog.first().waitFor({ timeout: 3_000 }).catch(() => {});
            const scope = (await dialog.count()) ? dialog.first() : page;
            const name = scope.getByLabel(/name/i);
            if (await name.count()) await name.first().fill('dashboard-test');
            const submit = scope.getByRole('button', { name: /^(create|create key|save)$/i });
            if (await submit.count()) await submit.last().click();
            const value = page.getByTestId('new-key-value').first();
            await value.waitFor({ timeout: 15_000 });
            const key = ((await value.inputValue().catch(() => null)) ?? (await value.innerText())).trim();
            if (!/^(wrn_[A-Za-z0-9]{32}|e2b_[0-9a-f]{40})$/.test(key)) throw new Error(`new-key-value reads ${JSON.stringify(key)}`);
            await shot(page, 'keys-created');
            const list = await api(key, 'GET', '/v1/sandboxes');
            if (list.status !== 200) throw new Error(`the shown key does not authenticate: ${list.status} ${list.text}`);
            state.key = key;
            await visit(page, '/keys');
            const html = await page.content();
            if (html.includes(key)) throw new Error('the key is still on the page after a reload');
            if (!html.includes('dashboard-test') && !html.includes(key.slice(0, 8))) {
                throw new Error('the key list shows neither the key\'s name nor its prefix');
            }
            await shot(page, 'keys');
            return `${key.slice(0, 8)}…`;
        });
    } else {
        checks.blocked('usage baseline', 'signup');
        checks.blocked('API key', 'signup');
    }

    if (state.key) {
        await checks.check('create a sandbox from the dialog; its row turns running', async () => {
            await visit(page, '/sandboxes');
            await page.getByTestId('create-sandbox').first().click();
            const dialog = page.getByRole('dialog').first();
            await dialog.waitFor({ timeout: 10_000 });
            await shot(page, 'sandboxes-create-dialog');
            await dialog.getByRole('button', { name: /^create( sandbox)?$/i }).last().click();
            const row = page.getByTestId('sandbox-row').first();
            await row.waitFor({ timeout: 120_000 });
            const id = await row.getAttribute('data-sandbox-id');
            if (!id) throw new Error('sandbox-row has no data-sandbox-id');
            state.sandbox = id;
            await until('the sandbox to run', async () => (await sandboxState(id)) === 'running', 120_000);
            await until('the row to say running', async () => /running/i.test(await row.innerText()), 30_000);
            await shot(page, 'sandboxes');
            return id;
        });
    } else {
        checks.blocked('create a sandbox', 'an API key');
    }

    if (state.sandbox) {
        const id = state.sandbox;
        await checks.check('terminal: python3 -c \'print(6*7)\' reads 42', async () => {
            await visit(page, `/sandboxes/${id}`);
            const term = page.getByTestId('terminal').first();
            await term.waitFor({ timeout: 20_000 });
            await until('a prompt in the terminal', async () => /\S/.test(await terminalText(page)), 30_000);
            await term.click();
            await page.keyboard.type("python3 -c 'print(6*7)'");
            await page.keyboard.press('Enter');
            await until('42 in the terminal', async () => /(^|\n)\s*42\s*(\n|$)/.test(await terminalText(page)), 30_000);
            await shot(page, 'sandbox-detail-terminal');
            return 'read 42';
        });

        await checks.check('upload a file; it shows in the file browser and in the guest', async () => {
            const name = `dashtest-${randomBytes(3).toString('hex')}.txt`;
            const content = `uploaded by the dashboard test ${randomBytes(6).toString('hex')}\n`;
            const file = join(mkdtempSync(join(tmpdir(), 'dashtest-')), name);
            writeFileSync(file, content);
            const upload = page.getByTestId('file-upload').first();
            await upload.waitFor({ state: 'attached', timeout: 15_000 });
            const tag = await upload.evaluate((el) => el.tagName);
            const inner = upload.locator('input[type=file]');
            if (tag === 'INPUT') await upload.setInputFiles(file);
            else if (await inner.count()) await inner.first().setInputFiles(file);
            else {
                const chooser = page.waitForEvent('filechooser', { timeout: 10_000 });
                await upload.click();
                await (await chooser).setFiles(file);
            }
            await page.getByTestId('file-row').filter({ hasText: name }).first().waitFor({ timeout: 30_000 });
            await shot(page, 'sandbox-detail-files');
            const found = await api(state.key, 'POST', `/v1/sandboxes/${id}/exec`, {
                command: `find / -xdev -name ${name} -exec cat {} \\; 2>/dev/null`,
            });
            if (found.status !== 200 || !found.json.stdout.includes(content.trim())) {
                throw new Error(`the guest does not hold the file's bytes: ${found.status} ${found.text.slice(0, 300)}`);
            }
            return name;
        });

        await checks.check('pause and resume from the dashboard', async () => {
            const { scope, where } = await actionsScope(page, id, 'pause');
            await scope.getByTestId('pause').first().click();
            await confirmIfAsked(page, /pause|confirm|yes/i);
            await until('the sandbox to pause', async () => (await sandboxState(id)) === 'paused', 120_000);
            const resume = scope.getByTestId('resume').first();
            await resume.waitFor({ timeout: 30_000 });
            await until('the page to say paused', async () => /paused/i.test(await scope.innerText()), 30_000);
            await shot(page, 'sandbox-paused');
            await resume.click();
            await until('the sandbox to run again', async () => (await sandboxState(id)) === 'running', 120_000);
            await scope.getByTestId('pause').first().waitFor({ timeout: 30_000 });
            return `paused, then running (${where})`;
        });

        await checks.check('usage moves', async () => {
            let now = '';
            let template = false;
            await until(
                'usage-total to change or the usage page to show the base template',
                async () => {
                    now = await usageTotal(page);
                    template = (await page.getByRole('cell', { name: /^base$/ }).count()) > 0;
                    return now !== state.usageBefore || template;
                },
                90_000,
                3_000,
            );
            await shot(page, 'usage');
            return `usage-total ${JSON.stringify(state.usageBefore)} → ${JSON.stringify(now)}${template ? ', base listed' : ''}`;
        });
    } else {
        for (const name of ['terminal', 'upload', 'pause and resume', 'usage moves']) checks.blocked(name, 'a sandbox');
    }

    if (state.signedUp) {
        await checks.check('as admin: create a host, read its token and agent command', async () => {
            await visit(page, '/hosts');
            const hostName = `dash-host-${randomBytes(3).toString('hex')}`;
            await page.getByRole('button', { name: /(create|add|new|register) host|^add$|^create$/i }).first().click();
            const dialog = page.getByRole('dialog');
            await dialog.first().waitFor({ timeout: 3_000 }).catch(() => {});
            const scope = (await dialog.count()) ? dialog.first() : page;
            await scope.getByLabel(/name/i).first().fill(hostName);
            await scope.getByRole('button', { name: /^(create|create host|add|add host|register)$/i }).last().click();
            const token = page.getByTestId('host-token').first();
            await token.waitFor({ timeout: 15_000 });
            const tokenText = ((await token.inputValue().catch(() => null)) ?? (await token.innerText())).trim();
            const command = page.getByTestId('agent-command').first();
            const commandText = ((await command.inputValue().catch(() => null)) ?? (await command.innerText())).trim();
            if (tokenText.length < 16) throw new Error(`host-token reads ${JSON.stringify(tokenText)}`);
            if (!commandText.includes(tokenText)) throw new Error(`agent-command does not carry the token: ${commandText}`);
            if (!/wrenn-agent/.test(commandText)) throw new Error(`agent-command does not run wrenn-agent: ${commandText}`);
            await shot(page, 'hosts-created');
            const hosts = await page.request.get(`${BASE}/v1/hosts`);
            const listed = (await hosts.json()).hosts?.find((h) => h.name === hostName);
            if (!listed) throw new Error(`GET /v1/hosts does not list ${hostName}`);
            if (listed.status !== 'pending') throw new Error(`${hostName} is ${listed.status}, not pending`);
            return `${hostName}, token ${tokenText.slice(0, 6)}…`;
        });

        await checks.check('a cookie-authenticated POST without X-CSRF-Token is 403', async () => {
            const answers = await page.evaluate(async (csrf) => {
                const post = (headers) =>
                    fetch('/v1/keys', {
                        method: 'POST',
                        credentials: 'same-origin',
                        headers: { 'Content-Type': 'application/json', ...headers },
                        body: JSON.stringify({ name: 'csrf-probe' }),
                    }).then(async (r) => ({ status: r.status, body: await r.text() }));
                return { without: await post({}), wrong: await post({ 'X-CSRF-Token': 'x' + csrf }), with: await post({ 'X-CSRF-Token': csrf }) };
            }, state.csrf ?? '');
            if (answers.without.status !== 403 || !answers.without.body.includes('csrf_failed')) {
                throw new Error(`without the header: ${answers.without.status} ${answers.without.body}`);
            }
            if (answers.wrong.status !== 403) throw new Error(`with a wrong token: ${answers.wrong.status}`);
            if (answers.with.status !== 201) throw new Error(`with the session's token (control): ${answers.with.status} ${answers.with.body}`);
            return '403 csrf_failed without, 403 wrong, 201 with the token';
        });

        // Every route: one <h1>, a screenshot, axe (serious/critical fail).
        const routes = ['/sandboxes', ...(state.sandbox ? [`/sandboxes/${state.sandbox}`] : []), '/templates', '/keys', '/team', '/usage', '/hosts', '/audit', '/admin'];
        for (const route of routes) {
            await checks.check(`page ${route}: one h1, no serious/critical axe violations`, async () => {
                await visit(page, route);
                await page.getByRole('heading', { level: 1 }).first().waitFor({ timeout: 15_000 });
                if (!pathOf(page.url()).startsWith(route)) throw new Error(`landed on ${page.url()}`);
                const name = route === '/sandboxes' ? 'sandboxes' : route.startsWith('/sandboxes/') ? 'sandbox-detail' : route.slice(1);
                await shot(page, `page-${name}`);
                const h1 = await page.locator('h1').count();
                if (h1 !== 1) throw new Error(`${h1} <h1> elements`);
                const bad = await axe(page);
                if (bad.length) throw new Error(`axe:\n${bad.join('\n')}`);
                // The dark theme too (prefers-color-scheme), same rules.
                await page.emulateMedia({ colorScheme: 'dark' });
                const dark = await axe(page);
                await page.emulateMedia({ colorScheme: 'light' });
                if (dark.length) throw new Error(`axe (dark):\n${dark.join('\n')}`);
                return `${(await page.locator('h1').innerText()).trim()}`;
            });
        }

        await checks.check('phone width (390 px): every page fits without sideways scroll', async () => {
            const phone = await context.newPage();
            watch(phone);
            await phone.setViewportSize({ width: 390, height: 844 });
            const pages = [['/sandboxes', 'phone-sandboxes'], [state.sandbox ? `/sandboxes/${state.sandbox}` : '/keys', 'phone-detail'],
                ...['/templates', '/keys', '/team', '/usage', '/hosts', '/audit', '/admin'].map((r) => [r, `phone-${r.slice(1)}`])];
            const wide = [];
            for (const [route, name] of pages) {
                await visit(phone, route);
                await phone.getByRole('heading', { level: 1 }).first().waitFor({ timeout: 15_000 });
                await phone.screenshot({ path: join(ARTIFACTS, `${name}.png`), fullPage: true });
                const width = await phone.evaluate(() => document.documentElement.scrollWidth);
                if (width > 391) wide.push(`${route} is ${width} px wide`);
            }
            await phone.close();
            if (wide.length) throw new Error(wide.join('; '));
            return pages.map(([, name]) => `${name}.png`).join(', ');
        });
    } else {
        for (const name of ['host', 'csrf', 'routes', 'phone']) checks.blocked(name, 'signup');
    }

    await checks.check('assets reach the browser gzip-encoded (the build\'s .gz copies)', async () => {
        const probe = await context.newPage();
        const scripts = [];
        const pending = [];
        probe.on('response', (r) => {
            if (!new URL(r.url()).pathname.endsWith('.js')) return;
            pending.push(r.allHeaders().then((h) => scripts.push([r.url(), h['content-encoding']])));
        });
        await visit(probe, '/login');
        await Promise.all(pending);
        await probe.close();
        if (!scripts.length) throw new Error('the login page loaded no script');
        const plain = scripts.filter(([, enc]) => enc !== 'gzip');
        // Files under 1 KiB have no copy: at least the large bundles must be zipped.
        if (plain.length === scripts.length) throw new Error(`no script came gzip-encoded: ${plain.map(([u]) => u).join(', ')}`);
        return `${scripts.length - plain.length} of ${scripts.length} scripts gzip`;
    });

    await checks.check('/docs (Redoc, served by wrenn-cp): no third-party requests, axe', async () => {
        const docs = await context.newPage();
        watch(docs);
        const foreign = [];
        docs.on('request', (r) => {
            if (!r.url().startsWith(BASE) && !r.url().startsWith('data:') && !r.url().startsWith('blob:')) foreign.push(r.url());
        });
        await visit(docs, '/docs');
        const rendered = await docs.locator('h1').first().waitFor({ timeout: 30_000 }).then(() => true, () => false);
        await docs.screenshot({ path: join(ARTIFACTS, 'page-docs.png') });
        if (foreign.length) throw new Error(`requests to other origins: ${foreign.join(', ')}`);
        if (!rendered) throw new Error('Redoc rendered no <h1> in 30 s');
        const csp = (await docs.request.get(`${BASE}/docs`)).headers()['content-security-policy'] ?? '';
        const bad = await axe(docs);
        await docs.close();
        if (!csp) throw new Error('/docs has no Content-Security-Policy');
        if (bad.length) throw new Error(`axe:\n${bad.join('\n')}`);
        return `CSP ${csp.slice(0, 60)}…`;
    });

    if (state.sandbox) {
        await checks.check('kill the sandbox from the detail page', async () => {
            const id = state.sandbox;
            const { scope, where } = await actionsScope(page, id, 'kill');
            await scope.getByTestId('kill').first().click();
            await confirmIfAsked(page, /kill|confirm|yes|delete/i);
            await until('the sandbox to stop', async () => ['stopped', 'gone'].includes(await sandboxState(id)), 120_000);
            await visit(page, '/sandboxes');
            await shot(page, 'sandboxes-after-kill');
            return `stopped (${where})`;
        });
    } else {
        checks.blocked('kill the sandbox', 'a sandbox');
    }

    if (state.signedUp) {
        await checks.check('logout; a protected page then redirects to /login', async () => {
            await visit(page, '/sandboxes');
            const logout = page.getByRole('button', { name: /log ?out|sign ?out/i }).or(page.getByRole('link', { name: /log ?out|sign ?out/i }));
            if (!(await logout.first().isVisible().catch(() => false))) {
                // Behind an account menu: open the menu that holds it.
                await page.getByRole('button', { name: new RegExp(`account|user|menu|${email.split('@')[0]}`, 'i') }).first().click();
            }
            await logout.first().click();
            await page.waitForURL(/\/login/, { timeout: 15_000 });
            const after = await page.request.get(`${BASE}/v1/auth/session`);
            if (after.status() !== 401) throw new Error(`GET /v1/auth/session after logout: ${after.status()}`);
            await visit(page, '/keys');
            await page.waitForURL(/\/login/, { timeout: 15_000 });
            await page.getByRole('heading', { level: 1 }).first().waitFor();
            await shot(page, 'page-login');
            const bad = await axe(page);
            if (bad.length) throw new Error(`axe on /login:\n${bad.join('\n')}`);
            await visit(page, '/signup');
            await shot(page, 'page-signup');
            const badSignup = await axe(page);
            if (badSignup.length) throw new Error(`axe on /signup:\n${badSignup.join('\n')}`);
            return '/keys → /login';
        });
    } else {
        checks.blocked('logout', 'signup');
    }

    await checks.check('no console errors or uncaught exceptions on any page', async () => {
        if (consoleErrors.length) throw new Error(consoleErrors.join('\n'));
    });
} catch (err) {
    checks.failed += 1;
    checks.failures.push(`scenario aborted: ${err.stack ?? err}`);
    console.log(`FAIL scenario aborted: ${err.stack ?? err}`);
} finally {
    await browser.close().catch(() => {});
}
console.log(`screenshots in ${ARTIFACTS}`);
process.exit(checks.summary());
