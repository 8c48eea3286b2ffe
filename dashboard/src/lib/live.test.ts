import { describe, expect, it } from 'vitest';
import { actionsFor, applyLocal, emptyList, markStopped, mergePoll, parseMetadataFilter, toggleAll, toggleSelected, visibleRows } from './live';
import type { Sandbox } from './types';

function sb(id: string, state: Sandbox['state'] = 'running', updated = '2026-01-01T00:00:00Z', template = 'base'): Sandbox {
	return {
		id,
		team_id: 't',
		template,
		state,
		reason: null,
		vcpus: 1,
		memory_mb: 512,
		disk_mb: null,
		metadata: {},
		host_id: 'h',
		created_at: '2026-01-01T00:00:00Z',
		started_at: null,
		timeout_at: null,
		updated_at: updated
	};
}

describe('mergePoll', () => {
	it('takes the polled order and new states', () => {
		let l = mergePoll(emptyList(), [sb('a'), sb('b')]);
		l = mergePoll(l, [sb('b', 'paused', '2026-01-01T00:01:00Z'), sb('a')]);
		expect(l.loaded).toBe(true);
		expect(l.sandboxes.map((s) => [s.id, s.state])).toEqual([
			['b', 'paused'],
			['a', 'running']
		]);
	});

	it('keeps the object of an unchanged row', () => {
		const l1 = mergePoll(emptyList(), [sb('a')]);
		const l2 = mergePoll(l1, [sb('a')]);
		expect(l2.sandboxes[0]).toBe(l1.sandboxes[0]);
		const l3 = mergePoll(l2, [sb('a', 'paused', '2026-01-01T00:02:00Z')]);
		expect(l3.sandboxes[0]).not.toBe(l1.sandboxes[0]);
	});

	it('keeps the selection of rows still listed and drops the rest', () => {
		let l = mergePoll(emptyList(), [sb('a'), sb('b'), sb('c')]);
		l = toggleSelected(toggleSelected(l, 'a'), 'c');
		l = mergePoll(l, [sb('a', 'paused', 'x'), sb('b')]);
		expect([...l.selected]).toEqual(['a']);
	});

	it('drops a duplicate row that moved between pages', () => {
		const l = mergePoll(emptyList(), [sb('a'), sb('b'), sb('a')]);
		expect(l.sandboxes.map((s) => s.id)).toEqual(['a', 'b']);
	});
});

describe('local updates', () => {
	it('applies an action answer in place and prepends new sandboxes', () => {
		let l = mergePoll(emptyList(), [sb('a'), sb('b')]);
		l = applyLocal(l, [sb('b', 'paused', 'y'), sb('fork1')]);
		expect(l.sandboxes.map((s) => `${s.id}:${s.state}`)).toEqual(['fork1:running', 'a:running', 'b:paused']);
	});

	it('marks killed sandboxes stopped and deselects them', () => {
		let l = mergePoll(emptyList(), [sb('a'), sb('b')]);
		l = toggleAll(l, ['a', 'b']);
		l = markStopped(l, ['a']);
		expect(l.sandboxes[0].state).toBe('stopped');
		expect([...l.selected]).toEqual(['b']);
	});

	it('toggleAll selects the visible rows, then clears', () => {
		let l = mergePoll(emptyList(), [sb('a'), sb('b')]);
		l = toggleAll(l, ['a', 'b']);
		expect(l.selected.size).toBe(2);
		l = toggleAll(l, ['a', 'b']);
		expect(l.selected.size).toBe(0);
	});
});

describe('filters', () => {
	it('parses metadata k=v lists', () => {
		expect(parseMetadataFilter('env=ci, owner = ana')).toEqual({ ok: true, value: { env: 'ci', owner: 'ana' } });
		expect(parseMetadataFilter('')).toEqual({ ok: true, value: {} });
		expect(parseMetadataFilter('oops').ok).toBe(false);
		expect(parseMetadataFilter('=v').ok).toBe(false);
	});

	it('filters by template on the client', () => {
		const l = mergePoll(emptyList(), [sb('a', 'running', 'u', 'base'), sb('b', 'running', 'u', 'py')]);
		expect(visibleRows(l, { state: '', template: 'py', metadata: '' }).map((s) => s.id)).toEqual(['b']);
		expect(visibleRows(l, { state: '', template: '', metadata: '' }).length).toBe(2);
	});

	it('offers actions by state', () => {
		expect(actionsFor('running')).toMatchObject({ pause: true, resume: false, kill: true, fork: true });
		expect(actionsFor('paused')).toMatchObject({ pause: false, resume: true, kill: true, fork: false });
		expect(actionsFor('stopped').kill).toBe(false);
	});
});
