import { describe, expect, it } from 'vitest';
import {
	barLayout,
	dailySeries,
	emptyPlan,
	exportUrl,
	invoiceLines,
	overflowText,
	planProblems,
	poolMeters,
	templateSeries,
	totals,
	usagePath,
	type Pool,
	type Usage,
	type UsageEntry
} from './usage';

function entry(key: string, vcpuSeconds: number, extra: Partial<UsageEntry> = {}): UsageEntry {
	return {
		key,
		running_seconds: vcpuSeconds,
		paused_seconds: 0,
		vcpu_seconds: vcpuSeconds,
		memory_gib_seconds: vcpuSeconds / 2,
		storage_gib_hours: 0,
		guest_cpu_seconds: 0,
		...extra
	};
}

describe('usage totals', () => {
	it('sums entries as hours', () => {
		const t = totals([entry('a', 3600), entry('b', 7200, { storage_gib_hours: 1.5, paused_seconds: 1800 })]);
		expect(t.vcpu_hours).toBe(3);
		expect(t.memory_gib_hours).toBe(1.5);
		expect(t.storage_gib_hours).toBe(1.5);
		expect(t.paused_hours).toBe(0.5);
		expect(t.running_hours).toBe(3);
	});
	it('is zero without entries', () => {
		expect(totals([]).vcpu_hours).toBe(0);
	});
});

describe('daily series', () => {
	it('fills days without usage and folds hours into days', () => {
		const usage: Usage = {
			by: 'day',
			start: '2026-11-29T12:00:00Z',
			end: '2026-12-02T01:00:00Z',
			entries: [entry('2026-11-29T00:00:00Z', 3600), entry('2026-12-01T00:00:00Z', 7200), entry('2026-12-01T05:00:00Z', 3600)]
		};
		const bars = dailySeries(usage, 'vcpu_hours');
		expect(bars.map((b) => b.label)).toEqual(['2026-11-29', '2026-11-30', '2026-12-01', '2026-12-02']);
		expect(bars.map((b) => b.value)).toEqual([1, 0, 3, 0]);
	});
	it('sorts keys when the range is unknown', () => {
		const usage = { by: 'day', start: '', end: '', entries: [entry('2026-12-02T00:00:00Z', 3600), entry('2026-12-01T00:00:00Z', 0)] } as Usage;
		expect(dailySeries(usage, 'vcpu_hours').map((b) => b.label)).toEqual(['2026-12-01', '2026-12-02']);
	});
});

describe('template series', () => {
	it('orders templates by value', () => {
		const usage: Usage = { by: 'template', start: '', end: '', entries: [entry('base', 3600), entry('python', 7200), entry('zeta', 0)] };
		expect(templateSeries(usage, 'vcpu_hours')).toEqual([
			{ label: 'python', value: 2 },
			{ label: 'base', value: 1 },
			{ label: 'zeta', value: 0 }
		]);
	});
});

describe('bar layout', () => {
	it('scales bars to the tallest', () => {
		const { rects, max } = barLayout(
			[
				{ label: 'a', value: 2 },
				{ label: 'b', value: 1 },
				{ label: 'c', value: 0 }
			],
			300,
			100,
			0
		);
		expect(max).toBe(2);
		expect(rects.map((r) => [r.x, r.y, r.width, r.height])).toEqual([
			[0, 0, 100, 100],
			[100, 50, 100, 50],
			[200, 100, 100, 0]
		]);
	});
	it('draws nothing for no bars and flat zero for all-zero', () => {
		expect(barLayout([], 100, 100).rects).toEqual([]);
		expect(barLayout([{ label: 'a', value: 0 }], 100, 100).rects[0].height).toBe(0);
	});
});

describe('pool meters', () => {
	const pool: Pool = {
		team_id: 't',
		plan: null,
		size: { vcpus: 4, memory_mib: 8192, storage_mib: 51200, running: 2, paused: 5 },
		used: { vcpus: 2, memory_mib: 1024, storage_mib: 1024, running: 3, paused: 0 },
		over: true,
		updated_at: null
	};
	it('shows use against size', () => {
		const m = poolMeters(pool);
		expect(m[0]).toMatchObject({ label: 'vCPUs', percent: 50, text: '2 of 4', over: false });
		expect(m[1].text).toBe('1 GiB of 8 GiB');
		expect(m[3]).toMatchObject({ percent: 150, over: true });
	});
	it('says no limit without a size', () => {
		const m = poolMeters({ ...pool, size: null });
		expect(m[0]).toMatchObject({ text: '2 (no limit)', percent: 0, size: null, over: false });
	});
});

describe('invoice lines', () => {
	it('lists plan, burst and total', () => {
		const lines = invoiceLines({
			plan: 'pro',
			period: 'month',
			start: '',
			end: '',
			price_cents: 5000,
			burst_vcpu_hours: 2.5,
			burst_cents_per_vcpu_hour: 10,
			burst_cents: 25,
			total_cents: 5025
		});
		expect(lines).toEqual([
			{ label: 'Plan pro (per month)', amount: '$50.00' },
			{ label: 'Burst: 2.5 vCPU-hours × $0.10', amount: '$0.25' },
			{ label: 'Total', amount: '$50.25' }
		]);
	});
	it('omits burst when there is none', () => {
		const lines = invoiceLines({
			plan: null,
			period: 'month',
			start: '',
			end: '',
			price_cents: 0,
			burst_vcpu_hours: 0,
			burst_cents_per_vcpu_hour: 0,
			burst_cents: 0,
			total_cents: 0
		});
		expect(lines.map((l) => l.label)).toEqual(['No plan', 'Total']);
	});
});

describe('links', () => {
	it('builds the export link', () => {
		expect(exportUrl()).toBe('/v1/usage/export?format=csv');
		expect(exportUrl({ start: '2026-11-01T00:00:00Z', format: 'json' })).toBe(
			'/v1/usage/export?start=2026-11-01T00%3A00%3A00Z&format=json'
		);
	});
	it('builds the usage query', () => {
		expect(usagePath('template', {})).toBe('/v1/usage?by=template');
		expect(usagePath('team', { end: 'x' }, true)).toBe('/v1/admin/usage?by=team&end=x');
	});
});

describe('plan form', () => {
	it('accepts the blank plan once named', () => {
		expect(planProblems({ ...emptyPlan(), name: 'pro-1' })).toEqual([]);
	});
	it('names every bad field', () => {
		const p = planProblems({ ...emptyPlan(), name: 'Bad Name', vcpus: 0, price_cents: -1, queue_wait_secs: 601, overflow: 'burst' });
		expect(p).toHaveLength(5);
		expect(p.join(' ')).toContain('vcpus');
		expect(p.join(' ')).toContain('burst_vcpus');
	});
});

describe('overflow text', () => {
	it('says what a full pool does', () => {
		expect(overflowText({ ...emptyPlan(), overflow: 'burst', burst_vcpus: 4, burst_cents_per_vcpu_hour: 12 })).toBe(
			'burst: +4 vCPU at $0.12 per vCPU-hour'
		);
		expect(overflowText({ ...emptyPlan(), overflow: 'queue', queue_wait_secs: 60 })).toBe('queue: creates wait up to 60 s');
		expect(overflowText(emptyPlan())).toBe('refuse');
	});
});
