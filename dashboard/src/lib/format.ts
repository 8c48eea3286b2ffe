// Formatters for sizes, durations and instants shown across the pages.

const UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];

/** 1536 → "1.5 KiB"; binary units, at most one decimal, integers below 1 KiB. */
export function formatBytes(bytes: number | null | undefined): string {
	if (bytes === null || bytes === undefined || !Number.isFinite(bytes)) return '—';
	if (bytes < 0) return '-' + formatBytes(-bytes);
	let v = bytes;
	let i = 0;
	while (v >= 1024 && i < UNITS.length - 1) {
		v /= 1024;
		i++;
	}
	if (i === 0) return `${Math.round(v)} B`;
	const s = v >= 100 ? v.toFixed(0) : v.toFixed(1).replace(/\.0$/, '');
	return `${s} ${UNITS[i]}`;
}

/** Sizes the API gives in MiB (`*_mb`). */
export function formatMb(mb: number | null | undefined): string {
	if (mb === null || mb === undefined || !Number.isFinite(mb)) return '—';
	return formatBytes(mb * 1024 * 1024);
}

/** Seconds → "45s", "5m", "1h 30m", "2d 3h"; two units at most. */
export function formatDuration(totalSecs: number | null | undefined): string {
	if (totalSecs === null || totalSecs === undefined || !Number.isFinite(totalSecs)) return '—';
	const neg = totalSecs < 0;
	let s = Math.round(Math.abs(totalSecs));
	const parts: [number, string][] = [
		[86400, 'd'],
		[3600, 'h'],
		[60, 'm'],
		[1, 's']
	];
	const out: string[] = [];
	for (const [size, unit] of parts) {
		if (s >= size || (size === 1 && out.length === 0)) {
			const n = Math.floor(s / size);
			s -= n * size;
			if (n > 0 || out.length === 0) out.push(`${n}${unit}`);
		}
		if (out.length === 2) break;
	}
	return (neg ? '-' : '') + out.join(' ');
}

/** An instant relative to now: "just now", "5 min ago", "in 3 h", "2 days ago". */
export function relativeTime(iso: string | null | undefined, now: number = Date.now()): string {
	if (!iso) return '—';
	const t = Date.parse(iso);
	if (Number.isNaN(t)) return '—';
	const diff = Math.round((t - now) / 1000);
	const abs = Math.abs(diff);
	if (abs < 10) return 'just now';
	let text: string;
	if (abs < 60) text = `${abs} s`;
	else if (abs < 3600) text = `${Math.floor(abs / 60)} min`;
	else if (abs < 86400) text = `${Math.floor(abs / 3600)} h`;
	else {
		const d = Math.floor(abs / 86400);
		text = d === 1 ? '1 day' : `${d} days`;
	}
	return diff < 0 ? `${text} ago` : `in ${text}`;
}

/** Full local date and time, for title attributes beside relative times. */
export function formatInstant(iso: string | null | undefined): string {
	if (!iso) return '';
	const t = Date.parse(iso);
	if (Number.isNaN(t)) return '';
	return new Date(t).toLocaleString();
}

export function formatPercent(v: number | null | undefined): string {
	if (v === null || v === undefined || !Number.isFinite(v)) return '—';
	return `${v < 10 ? v.toFixed(1) : Math.round(v)}%`;
}
