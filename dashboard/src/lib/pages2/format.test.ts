import { describe, expect, it } from 'vitest';
import { formatAge, formatCents, formatDuration, formatInstant, formatMib, formatNumber, percent } from './format';

describe('format', () => {
	it('formats cents as dollars', () => {
		expect(formatCents(123456)).toBe('$1,234.56');
		expect(formatCents(0)).toBe('$0.00');
		expect(formatCents(Number.NaN)).toBe('$0.00');
	});
	it('formats numbers with bounded decimals', () => {
		expect(formatNumber(1234.5678)).toBe('1,234.57');
		expect(formatNumber(2, 0)).toBe('2');
		expect(formatNumber(Infinity)).toBe('0');
	});
	it('formats MiB', () => {
		expect(formatMib(512)).toBe('512 MiB');
		expect(formatMib(2048)).toBe('2 GiB');
		expect(formatMib(1536)).toBe('1.5 GiB');
		expect(formatMib(3 * 1024 * 1024)).toBe('3 TiB');
	});
	it('formats durations', () => {
		expect(formatDuration(42)).toBe('42 s');
		expect(formatDuration(125)).toBe('2 min');
		expect(formatDuration(3600)).toBe('1 h');
		expect(formatDuration(3700)).toBe('1 h 1 min');
		expect(formatDuration(90000)).toBe('1 d 1 h');
		expect(formatDuration(-5)).toBe('0 s');
	});
	it('formats ages', () => {
		const now = Date.parse('2026-12-02T01:00:00Z');
		expect(formatAge(null, now)).toBe('never');
		expect(formatAge('garbage', now)).toBe('unknown');
		expect(formatAge('2026-12-02T01:00:00Z', now)).toBe('just now');
		expect(formatAge('2026-12-02T00:59:55Z', now)).toBe('5 s ago');
		expect(formatAge('2026-12-02T00:57:00Z', now)).toBe('3 min ago');
	});
	it('formats instants in UTC', () => {
		expect(formatInstant('2026-12-02T01:44:52Z')).toBe('2026-12-02 01:44:52 UTC');
		expect(formatInstant('2026-12-02T01:44:52.123Z')).toBe('2026-12-02 01:44:52 UTC');
		expect(formatInstant(null)).toBe('—');
	});
	it('computes percentages', () => {
		expect(percent(1, 4)).toBe(25);
		expect(percent(5, 4)).toBe(125);
		expect(percent(3, 0)).toBe(0);
		expect(percent(3, null)).toBe(0);
	});
});
