// Shared pieces of the dashboard scenario and bench: the browser, the
// API client (node's fetch against the same control plane), axe and the
// checks' bookkeeping. Nothing here fakes the stack: every request goes to
// the running wrenn-cp, every page is rendered by Debian's Chromium.
import { createRequire } from 'node:module';
import { mkdirSync, readFileSync } from 'node:fs';
import { chromium } from 'playwright-core';

const require = createRequire(import.meta.url);

export const BASE = process.env.WRENN_URL ?? 'http://127.0.0.1:8080';
export const ARTIFACTS = process.env.DASHBOARD_ARTIFACTS ?? 'target/test-artifacts/dashboard';
export const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';
export const AXE_SOURCE = readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');

export async function launch() {
    mkdirSync(ARTIFACTS, { recursive: true });
    // Root in CI: Chromium's own sandbox needs an unprivileged user.
    return chromium.launch({
        executablePath: CHROMIUM,
        args: ['--no-sandbox', '--disable-dev-shm-usage'],
    });
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Polls `fn` until it returns a truthy value; throws `what` after `ms`. */
export async function until(what, fn, ms = 60_000, every = 250) {
    const deadline = Date.now() + ms;
    let last;
    while (Date.now() < deadline) {
        try {
            const v = await fn();
            if (v) return v;
        } catch (err) {
            last = err;
        }
        await sleep(every);
    }
    throw new Error(`timed out waiting for ${what}${last ? ` (last error: ${last.message})` : ''}`);
}

/** The REST API with an API key (what the UI showed once). */
export async function api(key, method, path, body) {
    const res = await fetch(BASE + path, {
        method,
        headers: {
            Authorization: `Bearer ${key}`,
            ...(body === undefined ? {} : { 'Content-Type': 'application/json' }),
        },
        body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    let json = null;
    try {
        json = text ? JSON.parse(text) : null;
    } catch {
        json = null;
    }
    return { status: res.status, json, text };
}

/**
 * axe-core in the page (evaluated through the DevTools protocol, so the
 * page's Content-Security-Policy stays on); answers the serious and
 * critical violations as readable lines.
 */
export async function axe(page) {
    const hasAxe = await page.evaluate(() => typeof window.axe !== 'undefined');
    if (!hasAxe) await page.evaluate(AXE_SOURCE);
    const violations = await page.evaluate(async () => {
        const result = await window.axe.run(document, { resultTypes: ['violations'] });
        return result.violations
            .filter((v) => v.impact === 'serious' || v.impact === 'critical')
            .map((v) => ({
                id: v.id,
                impact: v.impact,
                help: v.help,
                nodes: v.nodes.slice(0, 5).map((n) => n.target.join(' ')),
                more: Math.max(0, v.nodes.length - 5),
            }));
    });
    return violations.map(
        (v) => `${v.impact} ${v.id} (${v.help}): ${v.nodes.join(' | ')}${v.more ? ` (+${v.more} more)` : ''}`,
    );
}

/** Named checks; each prints one line, the run ends with the summary. */
export class Checks {
    constructor(suite) {
        this.suite = suite;
        this.passed = 0;
        this.failed = 0;
        this.failures = [];
    }

    async check(name, fn) {
        const start = Date.now();
        try {
            const note = await fn();
            this.passed += 1;
            console.log(`ok   ${name}${note ? `: ${note}` : ''} (${Date.now() - start} ms)`);
            return true;
        } catch (err) {
            this.failed += 1;
            const why = (err && err.message ? err.message : String(err)).split('\n').slice(0, 12).join('\n     ');
            this.failures.push(`${name}: ${why}`);
            console.log(`FAIL ${name}: ${why}`);
            return false;
        }
    }

    /** A check that cannot run because an earlier one failed. */
    blocked(name, needs) {
        this.failed += 1;
        this.failures.push(`${name}: not run, needs ${needs}`);
        console.log(`FAIL ${name}: not run, needs ${needs}`);
    }

    summary() {
        if (this.failures.length) {
            console.log('\nfailures:');
            for (const f of this.failures) console.log(`  - ${f}`);
        }
        console.log(`${this.suite}: ${this.passed} passed, ${this.failed} failed`);
        return this.failed === 0 ? 0 : 1;
    }
}
