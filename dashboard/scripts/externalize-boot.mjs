// Moves SvelteKit's inline start-up <script> out of index.html into a file
// of its own, so the page runs under `script-src 'self'` (no inline script).
// Usage: node scripts/externalize-boot.mjs BUILD_DIR
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const dir = process.argv[2];
if (!dir) {
	console.error('usage: externalize-boot.mjs BUILD_DIR');
	process.exit(2);
}
const indexPath = join(dir, 'index.html');
const html = readFileSync(indexPath, 'utf8');
const re = /<script>([\s\S]*?)<\/script>/g;
const inline = [...html.matchAll(re)];
if (inline.length !== 1) {
	console.error(`expected one inline <script> in ${indexPath}, found ${inline.length}`);
	process.exit(1);
}
const code = inline[0][1].trim() + '\n';
const hash = createHash('sha256').update(code).digest('hex').slice(0, 12);
const rel = `_app/immutable/boot.${hash}.js`;
mkdirSync(join(dir, '_app', 'immutable'), { recursive: true });
writeFileSync(join(dir, rel), code);
// A classic (non-module) script: document.currentScript works in it.
writeFileSync(indexPath, html.replace(inline[0][0], `<script src="/${rel}"></script>`));
console.log(`boot script: /${rel}`);
