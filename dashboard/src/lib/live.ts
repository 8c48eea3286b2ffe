// The sandboxes list as a pure state: polled pages merged in, local updates
// from actions applied at once, the selection kept across polls (ids that
// disappeared leave it).

import type { Sandbox } from './types';

export interface LiveList {
	sandboxes: Sandbox[];
	selected: Set<string>;
	loaded: boolean;
}

export function emptyList(): LiveList {
	return { sandboxes: [], selected: new Set(), loaded: false };
}

function same(a: Sandbox, b: Sandbox): boolean {
	return (
		a.state === b.state &&
		a.updated_at === b.updated_at &&
		a.timeout_at === b.timeout_at &&
		a.reason === b.reason
	);
}

/**
 * A fresh poll (every page concatenated, server order) replaces the list.
 * Unchanged rows keep their object so keyed rendering does no work for them.
 */
export function mergePoll(prev: LiveList, polled: Sandbox[]): LiveList {
	const old = new Map(prev.sandboxes.map((s) => [s.id, s]));
	const seen = new Set<string>();
	const sandboxes: Sandbox[] = [];
	for (const s of polled) {
		if (seen.has(s.id)) continue; // a row that moved between pages while paging
		seen.add(s.id);
		const o = old.get(s.id);
		sandboxes.push(o && same(o, s) ? o : s);
	}
	const selected = new Set([...prev.selected].filter((id) => seen.has(id)));
	return { sandboxes, selected, loaded: true };
}

/** An action's answer (pause, resume, ...) shown before the next poll. */
export function applyLocal(prev: LiveList, updated: Sandbox[]): LiveList {
	const byId = new Map(updated.map((s) => [s.id, s]));
	const sandboxes = prev.sandboxes.map((s) => byId.get(s.id) ?? s);
	const known = new Set(prev.sandboxes.map((s) => s.id));
	const added = updated.filter((s) => !known.has(s.id));
	return { ...prev, sandboxes: [...added, ...sandboxes] };
}

/** Killed sandboxes: stopped at once, deselected. */
export function markStopped(prev: LiveList, ids: string[]): LiveList {
	const gone = new Set(ids);
	const sandboxes = prev.sandboxes.map((s) => (gone.has(s.id) ? { ...s, state: 'stopped' as const } : s));
	const selected = new Set([...prev.selected].filter((id) => !gone.has(id)));
	return { ...prev, sandboxes, selected };
}

export function toggleSelected(prev: LiveList, id: string): LiveList {
	const selected = new Set(prev.selected);
	if (selected.has(id)) selected.delete(id);
	else selected.add(id);
	return { ...prev, selected };
}

/** Select every id given (the visible rows), or clear when all are selected already. */
export function toggleAll(prev: LiveList, ids: string[]): LiveList {
	const all = ids.length > 0 && ids.every((id) => prev.selected.has(id));
	return { ...prev, selected: all ? new Set() : new Set(ids) };
}

export interface Filters {
	state: string;
	template: string;
	metadata: string;
}

/** "k=v, k2=v2" → {k: v, k2: v2}; an entry without "=" or key is an error. */
export function parseMetadataFilter(text: string): { ok: true; value: Record<string, string> } | { ok: false; error: string } {
	const value: Record<string, string> = {};
	for (const raw of text.split(/[,\n]/)) {
		const part = raw.trim();
		if (!part) continue;
		const eq = part.indexOf('=');
		if (eq <= 0) return { ok: false, error: `"${part}" is not key=value` };
		value[part.slice(0, eq).trim()] = part.slice(eq + 1).trim();
	}
	return { ok: true, value };
}

/** Filters the server cannot apply (template) on the polled rows. */
export function visibleRows(list: LiveList, f: Filters): Sandbox[] {
	return f.template ? list.sandboxes.filter((s) => s.template === f.template) : list.sandboxes;
}

/** Which row actions make sense in a state. */
export function actionsFor(state: Sandbox['state']): { pause: boolean; resume: boolean; kill: boolean; fork: boolean; snapshot: boolean } {
	return {
		pause: state === 'running',
		resume: state === 'paused',
		kill: state !== 'stopped' && state !== 'error',
		fork: state === 'running',
		snapshot: state === 'running'
	};
}
