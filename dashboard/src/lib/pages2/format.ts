// Small number, money and time formatters shared by the team, usage,
// hosts, audit and admin pages.

/** Cents as a currency amount, e.g. 123456 → "$1,234.56". */
export function formatCents(cents: number, currency = 'USD'): string {
	const value = Number.isFinite(cents) ? cents / 100 : 0;
	return new Intl.NumberFormat('en-US', { style: 'currency', currency }).format(value);
}

/** A figure with at most `digits` decimals and thousands separators. */
export function formatNumber(value: number, digits = 2): string {
	if (!Number.isFinite(value)) return '0';
	return new Intl.NumberFormat('en-US', { maximumFractionDigits: digits }).format(value);
}

/** MiB as a human size: 512 → "512 MiB", 2048 → "2 GiB". */
export function formatMib(mib: number): string {
	if (!Number.isFinite(mib)) return '0 MiB';
	if (Math.abs(mib) >= 1024 * 1024) return `${formatNumber(mib / (1024 * 1024), 1)} TiB`;
	if (Math.abs(mib) >= 1024) return `${formatNumber(mib / 1024, 1)} GiB`;
	return `${formatNumber(mib, 0)} MiB`;
}

/** Seconds as a short duration: 42 → "42 s", 3700 → "1 h 1 min", 90000 → "1 d 1 h". */
export function formatDuration(totalSeconds: number): string {
	const s = Math.max(0, Math.floor(totalSeconds));
	if (s < 60) return `${s} s`;
	const m = Math.floor(s / 60);
	if (m < 60) return `${m} min`;
	const h = Math.floor(m / 60);
	if (h < 24) return m % 60 ? `${h} h ${m % 60} min` : `${h} h`;
	const d = Math.floor(h / 24);
	return h % 24 ? `${d} d ${h % 24} h` : `${d} d`;
}

/** How long ago `iso` was, relative to `now` (ms): "just now", "5 s ago", "3 min ago". */
export function formatAge(iso: string | null | undefined, now: number): string {
	if (!iso) return 'never';
	const at = Date.parse(iso);
	if (Number.isNaN(at)) return 'unknown';
	const secs = Math.round((now - at) / 1000);
	if (secs < 1) return 'just now';
	return `${formatDuration(secs)} ago`;
}

/** An RFC 3339 instant as "2026-12-02 01:44:52 UTC" (stable, locale-free). */
export function formatInstant(iso: string | null | undefined): string {
	if (!iso) return '—';
	const t = Date.parse(iso);
	if (Number.isNaN(t)) return iso;
	return new Date(t).toISOString().replace('T', ' ').replace(/\.\d+Z$/, ' UTC').replace(/Z$/, ' UTC');
}

/** A part of a whole as a bounded percentage (0 when the whole is 0 or absent). */
export function percent(used: number, size: number | null | undefined): number {
	if (!size || size <= 0 || !Number.isFinite(used)) return 0;
	return Math.max(0, (used / size) * 100);
}
