import { describe, expect, it } from 'vitest';
import { formatBytes, formatDuration, formatMb, formatPercent, relativeTime } from './format';

describe('formatBytes', () => {
	it('uses binary units with at most one decimal', () => {
		expect(formatBytes(0)).toBe('0 B');
		expect(formatBytes(1023)).toBe('1023 B');
		expect(formatBytes(1024)).toBe('1 KiB');
		expect(formatBytes(1536)).toBe('1.5 KiB');
		expect(formatBytes(5 * 1024 * 1024 * 1024)).toBe('5 GiB');
		expect(formatBytes(150 * 1024 * 1024)).toBe('150 MiB');
	});
	it('shows a dash for missing values', () => {
		expect(formatBytes(null)).toBe('—');
		expect(formatBytes(NaN)).toBe('—');
	});
	it('reads MiB sizes', () => {
		expect(formatMb(512)).toBe('512 MiB');
		expect(formatMb(2048)).toBe('2 GiB');
	});
});

describe('formatDuration', () => {
	it('keeps two units at most', () => {
		expect(formatDuration(0)).toBe('0s');
		expect(formatDuration(45)).toBe('45s');
		expect(formatDuration(300)).toBe('5m');
		expect(formatDuration(5400)).toBe('1h 30m');
		expect(formatDuration(3 * 86400 + 4 * 3600 + 5)).toBe('3d 4h');
		expect(formatDuration(3661)).toBe('1h 1m');
		expect(formatDuration(-90)).toBe('-1m 30s');
	});
});

describe('relativeTime', () => {
	const now = Date.parse('2026-01-01T12:00:00Z');
	it('says past and future', () => {
		expect(relativeTime('2026-01-01T11:59:58Z', now)).toBe('just now');
		expect(relativeTime('2026-01-01T11:59:30Z', now)).toBe('30 s ago');
		expect(relativeTime('2026-01-01T11:55:00Z', now)).toBe('5 min ago');
		expect(relativeTime('2026-01-01T15:00:00Z', now)).toBe('in 3 h');
		expect(relativeTime('2025-12-31T12:00:00Z', now)).toBe('1 day ago');
		expect(relativeTime('2025-12-20T12:00:00Z', now)).toBe('12 days ago');
	});
	it('shows a dash for missing or bad instants', () => {
		expect(relativeTime(null, now)).toBe('—');
		expect(relativeTime('nope', now)).toBe('—');
	});
});

describe('formatPercent', () => {
	it('rounds above 10', () => {
		expect(formatPercent(3.14159)).toBe('3.1%');
		expect(formatPercent(42.6)).toBe('43%');
	});
});
