// Issue #17's figures (reported, not asserted), in the stack run.sh starts:
// - the built dashboard's size (total and gzip, Redoc's bundle apart);
// - first load of /sandboxes in a fresh browser context (empty cache):
//   bytes transferred (performance API) and time from navigation start to
//   the first rendered sandbox row (≈ time to interactive);
// - terminal keystroke echo latency through the PTY WebSocket: keydown in
//   the page → the character in xterm's rows, median of 40.
// Prints `name<TAB>value<TAB>unit<TAB>note` rows for bench/run.
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { gzipSync } from 'node:zlib';
import { randomBytes } from 'node:crypto';
import { BASE, launch, until } from './lib.mjs';

const DIR = process.env.DASHBOARD_DIR ?? 'target/dashboard';
const LOADS = 5;
const KEYSTROKES = 40;

const row = (name, value, unit, note) => console.log(`dashboard-${name}\t${value}\t${unit}\t${note}`);
const median = (xs) => {
    const s = [...xs].sort((a, b) => a - b);
    return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const kib = (n) => (n / 1024).toFixed(1);

function files(dir) {
    return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
        e.isDirectory() ? files(join(dir, e.name)) : e.isFile() ? [join(dir, e.name)] : [],
    );
}

// Built asset size.
{
    let total = 0;
    let gz = 0;
    let redoc = 0;
    let redocGz = 0;
    let count = 0;
    for (const f of files(DIR)) {
        const rel = relative(DIR, f);
        if (rel.startsWith('.')) continue; // the build's stamp
        if (rel.endsWith('.gz')) continue; // the build's gzip copies (counted below)
        const bytes = readFileSync(f);
        const z = gzipSync(bytes, { level: 9 }).length;
        if (rel.startsWith('vendor/')) {
            redoc += bytes.length;
            redocGz += z;
        } else {
            total += bytes.length;
            gz += z;
            count += 1;
        }
    }
    row('assets-total', kib(total), 'KiB', `${count} files, without vendor/ (Redoc)`);
    row('assets-gzip', kib(gz), 'KiB', 'the same, each file gzip -9');
    row('redoc-total', kib(redoc), 'KiB', `vendor/, gzip ${kib(redocGz)} KiB`);
}

// A signed-up user with a browser session, and one running sandbox.
async function json(method, path, body, headers = {}) {
    const res = await fetch(BASE + path, {
        method,
        headers: { 'Content-Type': 'application/json', ...headers },
        body: body ? JSON.stringify(body) : undefined,
    });
    if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${await res.text()}`);
    return { res, body: res.status === 204 ? null : await res.json() };
}
const email = `bench-${randomBytes(4).toString('hex')}@example.com`;
const password = `bench-pw-${randomBytes(9).toString('base64url')}`;
const { body: signup } = await json('POST', '/v1/auth/signup', { email, password });
const auth = { Authorization: `Bearer ${signup.token}` };
const { body: sandbox } = await json('POST', '/v1/sandboxes', { template: 'base', timeout_secs: 900 }, auth);
const { res: sessionRes } = await json('POST', '/v1/auth/session', { email, password });
const cookie = (sessionRes.headers.get('set-cookie') ?? '').match(/wrenn_session=([^;]+)/)?.[1];
if (!cookie) throw new Error('POST /v1/auth/session set no wrenn_session cookie');
const host = new URL(BASE).hostname;

const browser = await launch();
try {
    // First load, cold: a fresh context (no cache) per load.
    const sizes = [];
    const times = [];
    const apiBytes = [];
    for (let i = 0; i < LOADS; i += 1) {
        const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
        await context.addCookies([{ name: 'wrenn_session', value: cookie, domain: host, path: '/', httpOnly: true, sameSite: 'Lax' }]);
        // Evaluated before the app's scripts (through the DevTools protocol,
        // not an inline script, so the CSP stays on): the moment the first
        // row is in the DOM, on the page's own clock.
        await context.addInitScript(() => {
            new MutationObserver((_, obs) => {
                if (document.querySelector('[data-testid=sandbox-row]')) {
                    window.__firstRow = performance.now();
                    obs.disconnect();
                }
            }).observe(document, { subtree: true, childList: true });
        });
        const page = await context.newPage();
        await page.goto(`${BASE}/sandboxes`, { waitUntil: 'load' });
        await page.getByTestId('sandbox-row').first().waitFor({ timeout: 30_000 });
        await page.waitForLoadState('networkidle', { timeout: 10_000 }).catch(() => {});
        const m = await page.evaluate(() => {
            const nav = performance.getEntriesByType('navigation')[0];
            const res = performance.getEntriesByType('resource');
            const sum = (xs) => xs.reduce((n, r) => n + (r.transferSize || 0), 0);
            return {
                first: window.__firstRow,
                bytes: (nav?.transferSize ?? 0) + sum(res.filter((r) => !new URL(r.name).pathname.startsWith('/v1/'))),
                api: sum(res.filter((r) => new URL(r.name).pathname.startsWith('/v1/'))),
            };
        });
        times.push(m.first);
        sizes.push(m.bytes);
        apiBytes.push(m.api);
        await context.close();
    }
    row('first-load-transfer', kib(median(sizes)), 'KiB', `/sandboxes, empty cache, HTML+JS+CSS+fonts (API answers ${kib(median(apiBytes))} KiB more), median of ${LOADS}`);
    row('first-load-first-row', median(times).toFixed(0), 'ms', `navigation start → first sandbox-row in the DOM, median of ${LOADS} (min ${Math.min(...times).toFixed(0)}, max ${Math.max(...times).toFixed(0)})`);

    // Keystroke echo through the PTY WebSocket.
    const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    await context.addCookies([{ name: 'wrenn_session', value: cookie, domain: host, path: '/', httpOnly: true, sameSite: 'Lax' }]);
    const page = await context.newPage();
    await page.goto(`${BASE}/sandboxes/${sandbox.id}`, { waitUntil: 'load' });
    const term = page.getByTestId('terminal').first();
    await term.waitFor({ timeout: 20_000 });
    // One line per xterm row (the DOM renderer's rows).
    const rowsText = () =>
        page.evaluate(() =>
            [...(document.querySelector('[data-testid=terminal] .xterm-rows')?.children ?? [])]
                .map((r) => r.textContent.replace(/\u00a0/g, ' '))
                .join('\n'),
        );
    await until('a prompt in the terminal', async () => /[$#]\s*$/m.test(await rowsText()), 30_000);
    await term.click();
    const samples = [];
    const alphabet = 'abcdefghijklmnopqrstuvwxyz';
    let typed = '';
    for (let i = 0; i < KEYSTROKES; i += 1) {
        if (typed.length === 20) {
            await page.keyboard.press('Control+U');
            await until('the line to clear', async () => !(await rowsText()).includes(`%${typed}`), 10_000, 20);
            typed = '';
        }
        if (!typed) {
            await page.keyboard.type('%');
            await until('the marker', async () => (await rowsText()).includes('%'), 10_000, 20);
        }
        const ch = alphabet[i % alphabet.length];
        const expect = `%${typed}${ch}`;
        await page.evaluate((want) => {
            const rows = document.querySelector('[data-testid=terminal] .xterm-rows');
            window.__echo = new Promise((resolve, reject) => {
                let t0 = null;
                const text = () => [...rows.children].map((r) => r.textContent.replace(/\u00a0/g, ' ')).join('\n');
                const seen = () => t0 !== null && text().includes(want);
                const obs = new MutationObserver(() => {
                    if (seen()) {
                        obs.disconnect();
                        resolve(performance.now() - t0);
                    }
                });
                obs.observe(rows, { subtree: true, childList: true, characterData: true });
                document.addEventListener('keydown', () => (t0 = performance.now()), { capture: true, once: true });
                setTimeout(() => reject(new Error(`no echo of ${want}`)), 10_000);
            });
        }, expect);
        await page.keyboard.press(ch);
        samples.push(await page.evaluate(() => window.__echo));
        typed += ch;
    }
    await context.close();
    row('keystroke-echo-median', median(samples).toFixed(1), 'ms', `keydown → the character in xterm's rows, PTY WebSocket through wrenn-cp, ${KEYSTROKES} keystrokes (p90 ${[...samples].sort((a, b) => a - b)[Math.floor(samples.length * 0.9)].toFixed(1)})`);
} finally {
    await browser.close().catch(() => {});
    await fetch(`${BASE}/v1/sandboxes/${sandbox.id}`, { method: 'DELETE', headers: auth }).catch(() => {});
}
