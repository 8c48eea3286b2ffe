// Path helpers of the file browser.

export function joinPath(dir: string, name: string): string {
	return (dir.endsWith('/') ? dir : dir + '/') + name.replace(/^\/+/, '');
}

export function parentPath(path: string): string {
	const trimmed = path.replace(/\/+$/, '');
	const i = trimmed.lastIndexOf('/');
	return i <= 0 ? '/' : trimmed.slice(0, i);
}

/** "/home/user/x" → [{name:"/",path:"/"},{name:"home",path:"/home"},...]. */
export function breadcrumbs(path: string): { name: string; path: string }[] {
	const parts = path.split('/').filter(Boolean);
	const out = [{ name: '/', path: '/' }];
	let acc = '';
	for (const p of parts) {
		acc += '/' + p;
		out.push({ name: p, path: acc });
	}
	return out;
}

const IMAGE = /\.(png|jpe?g|gif|webp|bmp|ico|svg)$/i;
const TEXT =
	/\.(txt|md|markdown|py|js|mjs|ts|tsx|jsx|json|ya?ml|toml|ini|cfg|conf|sh|bash|zsh|c|h|cc|cpp|hpp|rs|go|java|rb|php|pl|lua|sql|csv|tsv|log|html?|css|xml|env|dockerfile|makefile|gitignore)$/i;

export type PreviewKind = 'image' | 'text' | 'none';

/** What a preview can show: images by extension; text by extension or for small files without one. */
export function previewKind(name: string, size: number): PreviewKind {
	if (IMAGE.test(name)) return size <= 20 * 1024 * 1024 ? 'image' : 'none';
	if (size > 1024 * 1024) return 'none';
	if (TEXT.test(name) || !name.includes('.') || /^\.[^.]+$/.test(name)) return 'text';
	return 'none';
}

/** MIME type for an image blob (the API answers application/octet-stream). */
export function imageMime(name: string): string {
	const ext = name.split('.').pop()?.toLowerCase() ?? '';
	if (ext === 'svg') return 'image/svg+xml';
	if (ext === 'jpg') return 'image/jpeg';
	return 'image/' + ext;
}

/** Text that looks binary (a NUL in the first 8 KiB). */
export function looksBinary(bytes: Uint8Array): boolean {
	const n = Math.min(bytes.length, 8192);
	for (let i = 0; i < n; i++) if (bytes[i] === 0) return true;
	return false;
}
