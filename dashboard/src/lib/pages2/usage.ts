// Usage page logic: the shapes of GET /v1/usage, /v1/usage/invoice and
// /v1/pool, totals, chart series and the export link.
import { formatCents, formatNumber, percent } from './format';

export type UsageBy = 'day' | 'hour' | 'sandbox' | 'template' | 'team';

export interface UsageEntry {
	key: string;
	template?: string;
	running_seconds: number;
	paused_seconds: number;
	vcpu_seconds: number;
	memory_gib_seconds: number;
	storage_gib_hours: number;
	guest_cpu_seconds: number;
}

export interface Usage {
	by: UsageBy;
	start: string;
	end: string;
	entries: UsageEntry[];
}

export interface Invoice {
	plan: string | null;
	period: string;
	start: string;
	end: string;
	price_cents: number;
	burst_vcpu_hours: number;
	burst_cents_per_vcpu_hour: number;
	burst_cents: number;
	total_cents: number;
}

export interface PoolAmounts {
	vcpus: number;
	memory_mib: number;
	storage_mib: number;
	running: number;
	paused: number;
}

export interface Plan {
	name: string;
	vcpus: number;
	memory_gib: number;
	storage_gib: number;
	max_running: number;
	max_paused: number;
	price_cents: number;
	period: 'hour' | 'day' | 'week' | 'month';
	overflow: 'refuse' | 'queue' | 'burst';
	burst_vcpus: number;
	burst_cents_per_vcpu_hour: number;
	queue_wait_secs: number;
}

export interface Pool {
	team_id: string;
	plan: Plan | null;
	size: PoolAmounts | null;
	used: PoolAmounts;
	over: boolean;
	updated_at: string | null;
}

/** The sum of every entry, as hours and GiB-hours a person reads. */
export interface UsageTotals {
	running_hours: number;
	paused_hours: number;
	vcpu_hours: number;
	memory_gib_hours: number;
	storage_gib_hours: number;
	guest_cpu_hours: number;
}

export function totals(entries: readonly UsageEntry[]): UsageTotals {
	const sum = (f: (e: UsageEntry) => number) => entries.reduce((acc, e) => acc + (f(e) || 0), 0);
	return {
		running_hours: sum((e) => e.running_seconds) / 3600,
		paused_hours: sum((e) => e.paused_seconds) / 3600,
		vcpu_hours: sum((e) => e.vcpu_seconds) / 3600,
		memory_gib_hours: sum((e) => e.memory_gib_seconds) / 3600,
		storage_gib_hours: sum((e) => e.storage_gib_hours),
		guest_cpu_hours: sum((e) => e.guest_cpu_seconds) / 3600
	};
}

/** One bar of a chart. */
export interface Bar {
	label: string;
	value: number;
}

/** Which figure a chart shows. */
export type Metric = 'vcpu_hours' | 'memory_gib_hours' | 'storage_gib_hours' | 'running_hours';

export const METRICS: { id: Metric; label: string }[] = [
	{ id: 'vcpu_hours', label: 'vCPU-hours' },
	{ id: 'memory_gib_hours', label: 'Memory GiB-hours' },
	{ id: 'storage_gib_hours', label: 'Storage GiB-hours (paused)' },
	{ id: 'running_hours', label: 'Sandbox running hours' }
];

export function metricOf(entry: UsageEntry, metric: Metric): number {
	switch (metric) {
		case 'vcpu_hours':
			return entry.vcpu_seconds / 3600;
		case 'memory_gib_hours':
			return entry.memory_gib_seconds / 3600;
		case 'storage_gib_hours':
			return entry.storage_gib_hours;
		case 'running_hours':
			return entry.running_seconds / 3600;
	}
}

const DAY_MS = 86_400_000;

/** UTC day start of an instant, as `YYYY-MM-DD`. */
export function dayKey(ms: number): string {
	return new Date(ms).toISOString().slice(0, 10);
}

/**
 * Bars per UTC day over `[start, end)`, days without usage at 0, so the
 * chart's axis is continuous.
 */
export function dailySeries(usage: Usage, metric: Metric): Bar[] {
	const byDay = new Map<string, number>();
	for (const e of usage.entries) {
		const t = Date.parse(e.key);
		if (Number.isNaN(t)) continue;
		const k = dayKey(t);
		byDay.set(k, (byDay.get(k) ?? 0) + metricOf(e, metric));
	}
	const start = Date.parse(usage.start);
	const end = Date.parse(usage.end);
	const bars: Bar[] = [];
	if (Number.isNaN(start) || Number.isNaN(end)) {
		for (const [label, value] of [...byDay].sort()) bars.push({ label, value });
		return bars;
	}
	let day = Math.floor(start / DAY_MS) * DAY_MS;
	// At most 400 days (the API's own limit).
	for (let i = 0; day < end && i < 401; i++, day += DAY_MS) {
		const k = dayKey(day);
		bars.push({ label: k, value: byDay.get(k) ?? 0 });
	}
	return bars;
}

/** Bars per template, largest first. */
export function templateSeries(usage: Usage, metric: Metric): Bar[] {
	const by = new Map<string, number>();
	for (const e of usage.entries) {
		const k = e.key || e.template || '(none)';
		by.set(k, (by.get(k) ?? 0) + metricOf(e, metric));
	}
	return [...by]
		.map(([label, value]) => ({ label, value }))
		.sort((a, b) => b.value - a.value || a.label.localeCompare(b.label));
}

/** Geometry of a vertical bar chart in an SVG of `width` × `height`. */
export interface BarRect {
	x: number;
	y: number;
	width: number;
	height: number;
	label: string;
	value: number;
}

export function barLayout(bars: readonly Bar[], width: number, height: number, gap = 2): { rects: BarRect[]; max: number } {
	const max = bars.reduce((m, b) => Math.max(m, b.value), 0);
	if (bars.length === 0) return { rects: [], max };
	const slot = width / bars.length;
	const w = Math.max(1, slot - gap);
	const rects = bars.map((b, i) => {
		const h = max > 0 ? (b.value / max) * height : 0;
		return { x: i * slot + gap / 2, y: height - h, width: w, height: h, label: b.label, value: b.value };
	});
	return { rects, max };
}

/** A meter of the pool: one dimension's use against its size. */
export interface Meter {
	id: keyof PoolAmounts;
	label: string;
	used: number;
	size: number | null;
	percent: number;
	text: string;
	over: boolean;
}

function amountText(id: keyof PoolAmounts, value: number): string {
	if (id === 'memory_mib' || id === 'storage_mib') return `${formatNumber(value / 1024, 1)} GiB`;
	return formatNumber(value, 0);
}

export function poolMeters(pool: Pool): Meter[] {
	const dims: { id: keyof PoolAmounts; label: string }[] = [
		{ id: 'vcpus', label: 'vCPUs' },
		{ id: 'memory_mib', label: 'Memory' },
		{ id: 'storage_mib', label: 'Storage' },
		{ id: 'running', label: 'Running sandboxes' },
		{ id: 'paused', label: 'Paused sandboxes' }
	];
	return dims.map(({ id, label }) => {
		const used = pool.used[id] ?? 0;
		const size = pool.size ? pool.size[id] : null;
		const text = size === null ? `${amountText(id, used)} (no limit)` : `${amountText(id, used)} of ${amountText(id, size)}`;
		return { id, label, used, size, percent: percent(used, size), text, over: size !== null && used > size };
	});
}

/** The invoice preview as labelled lines. */
export function invoiceLines(inv: Invoice): { label: string; amount: string }[] {
	const lines = [
		{ label: inv.plan ? `Plan ${inv.plan} (per ${inv.period})` : 'No plan', amount: formatCents(inv.price_cents) }
	];
	if (inv.burst_vcpu_hours > 0 || inv.burst_cents > 0) {
		lines.push({
			label: `Burst: ${formatNumber(inv.burst_vcpu_hours, 2)} vCPU-hours × ${formatCents(inv.burst_cents_per_vcpu_hour)}`,
			amount: formatCents(inv.burst_cents)
		});
	}
	lines.push({ label: 'Total', amount: formatCents(inv.total_cents) });
	return lines;
}

/** `[start, end)` of the last `days` days ending at `now` (ms), RFC 3339. */
export function lastDays(days: number, now: number): { start: string; end: string } {
	return { start: new Date(now - days * DAY_MS).toISOString(), end: new Date(now).toISOString() };
}

/**
 * A same-origin link to the ledger export; a plain link sends the session
 * cookie (a GET needs no CSRF token).
 */
export function exportUrl(opts: { start?: string; end?: string; format?: 'csv' | 'json' } = {}): string {
	const q = new URLSearchParams();
	if (opts.start) q.set('start', opts.start);
	if (opts.end) q.set('end', opts.end);
	q.set('format', opts.format ?? 'csv');
	return `/v1/usage/export?${q.toString()}`;
}

/** The query of GET /v1/usage. */
export function usagePath(by: UsageBy, range: { start?: string; end?: string }, admin = false): string {
	const q = new URLSearchParams({ by });
	if (range.start) q.set('start', range.start);
	if (range.end) q.set('end', range.end);
	return `${admin ? '/v1/admin/usage' : '/v1/usage'}?${q.toString()}`;
}

export const PERIODS = ['hour', 'day', 'week', 'month'] as const;
export const OVERFLOWS = ['refuse', 'queue', 'burst'] as const;

/** A blank plan for the create form. */
export function emptyPlan(): Plan {
	return {
		name: '',
		vcpus: 4,
		memory_gib: 8,
		storage_gib: 50,
		max_running: 4,
		max_paused: 10,
		price_cents: 0,
		period: 'month',
		overflow: 'refuse',
		burst_vcpus: 0,
		burst_cents_per_vcpu_hour: 0,
		queue_wait_secs: 0
	};
}

/** Client-side checks of a plan form (the server checks again). */
export function planProblems(plan: Plan): string[] {
	const problems: string[] = [];
	if (!/^[a-z0-9_-]{1,64}$/.test(plan.name)) problems.push("a plan name is 1 to 64 of a-z, 0-9, '-' and '_'");
	for (const f of ['vcpus', 'memory_gib', 'storage_gib', 'max_running', 'max_paused'] as const) {
		if (!Number.isInteger(plan[f]) || plan[f] <= 0) problems.push(`${f} must be a positive whole number`);
	}
	for (const f of ['price_cents', 'burst_vcpus', 'burst_cents_per_vcpu_hour', 'queue_wait_secs'] as const) {
		if (!Number.isInteger(plan[f]) || plan[f] < 0) problems.push(`${f} must be 0 or more`);
	}
	if (plan.queue_wait_secs > 600) problems.push('queue_wait_secs must be at most 600');
	if (plan.overflow === 'burst' && plan.burst_vcpus <= 0) problems.push('burst_vcpus must be positive with overflow burst');
	return problems;
}

/** What a plan does when its pool is full, in words. */
export function overflowText(plan: Plan): string {
	switch (plan.overflow) {
		case 'burst':
			return `burst: +${plan.burst_vcpus} vCPU at ${formatCents(plan.burst_cents_per_vcpu_hour)} per vCPU-hour`;
		case 'queue':
			return `queue: creates wait up to ${plan.queue_wait_secs} s`;
		default:
			return 'refuse';
	}
}
