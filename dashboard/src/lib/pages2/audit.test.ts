import { describe, expect, it } from 'vitest';
import { appendPage, applyFilter, auditPath, emptyFilter, instantMs, isFiltered, olderCanMatch, type AuditEvent } from './audit';

function ev(id: string, at: string, extra: Partial<AuditEvent> = {}): AuditEvent {
	return {
		id,
		at,
		team_id: 't',
		actor_type: 'user',
		actor_id: 'usr_1',
		action: 'sandbox.create',
		resource_type: 'sandbox',
		resource_id: 'sb_1',
		outcome: 'ok',
		detail: '',
		...extra
	};
}

const events = [
	ev('3', '2026-12-02T03:00:00Z', { action: 'key.create', resource_type: 'api_key', resource_id: 'key_9' }),
	ev('2', '2026-12-02T02:00:00Z', { actor_type: 'api_key', actor_id: 'key_9', outcome: 'denied' }),
	ev('1', '2026-12-02T01:00:00Z')
];

describe('audit filters', () => {
	it('passes everything without a filter', () => {
		expect(applyFilter(events, emptyFilter())).toHaveLength(3);
		expect(isFiltered(emptyFilter())).toBe(false);
	});
	it('filters by actor, action, target and outcome (case-insensitive)', () => {
		expect(applyFilter(events, { ...emptyFilter(), actor: 'API_KEY' }).map((e) => e.id)).toEqual(['2']);
		expect(applyFilter(events, { ...emptyFilter(), action: 'sandbox.' }).map((e) => e.id)).toEqual(['2', '1']);
		expect(applyFilter(events, { ...emptyFilter(), target: 'key_9' }).map((e) => e.id)).toEqual(['3']);
		expect(applyFilter(events, { ...emptyFilter(), outcome: 'denied' }).map((e) => e.id)).toEqual(['2']);
	});
	it('filters by time, from inclusive and to exclusive', () => {
		const f = { ...emptyFilter(), from: '2026-12-02T02:00', to: '2026-12-02T03:00' };
		expect(applyFilter(events, f).map((e) => e.id)).toEqual(['2']);
		expect(isFiltered(f)).toBe(true);
		expect(instantMs('2026-12-02T02:00')).toBe(Date.parse('2026-12-02T02:00:00Z'));
		expect(instantMs('2026-12-02T02:00:00+01:00')).toBe(Date.parse('2026-12-02T01:00:00Z'));
		expect(Number.isNaN(instantMs(''))).toBe(true);
	});
});

describe('audit paging', () => {
	it('appends pages without repeats', () => {
		const held = appendPage([], { events: events.slice(0, 2), next_cursor: 'c' });
		const more = appendPage(held, { events: events.slice(1), next_cursor: null });
		expect(more.map((e) => e.id)).toEqual(['3', '2', '1']);
	});
	it('stops looking once past the from bound', () => {
		expect(olderCanMatch(events, { ...emptyFilter(), from: '2026-12-02T01:30' })).toBe(false);
		expect(olderCanMatch(events, { ...emptyFilter(), from: '2026-12-02T00:30' })).toBe(true);
		expect(olderCanMatch(events, emptyFilter())).toBe(true);
	});
	it('builds the page path', () => {
		expect(auditPath(null)).toBe('/v1/audit?limit=100');
		expect(auditPath('ab=', 50)).toBe('/v1/audit?limit=50&cursor=ab%3D');
	});
	it('sends the filters to the server', () => {
		const f = {
			...emptyFilter(),
			actor: ' usr_1 ',
			action: 'sandbox.*',
			outcome: 'denied',
			from: '2026-12-02T02:00',
			to: 'not a time'
		};
		expect(auditPath('c', 100, f)).toBe(
			'/v1/audit?limit=100&actor=usr_1&action=sandbox.*&outcome=denied&since=2026-12-02T02%3A00%3A00.000Z&cursor=c'
		);
	});
});
