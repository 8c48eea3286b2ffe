// Audit page logic: the AuditEvent shape and the filters. GET /v1/audit
// pages by cursor only (limit, cursor), so actor, action, target and time
// filters apply to the pages loaded so far.

export interface AuditEvent {
	id: string;
	at: string;
	team_id: string | null;
	actor_type: string;
	actor_id: string;
	action: string;
	resource_type: string;
	resource_id: string;
	outcome: string;
	detail: string;
}

export interface AuditPage {
	events: AuditEvent[];
	next_cursor: string | null;
}

export interface AuditFilter {
	actor: string;
	action: string;
	target: string;
	outcome: string;
	/** `datetime-local` value or RFC 3339; inclusive. */
	from: string;
	/** Exclusive. */
	to: string;
}

export function emptyFilter(): AuditFilter {
	return { actor: '', action: '', target: '', outcome: '', from: '', to: '' };
}

/** A `datetime-local` value (read as UTC) or RFC 3339 as ms; NaN when empty. */
export function instantMs(text: string): number {
	const t = text.trim();
	if (!t) return NaN;
	const withZone = /[zZ]|[+-]\d\d:?\d\d$/.test(t) ? t : `${t}Z`;
	return Date.parse(withZone);
}

function has(hay: string, needle: string): boolean {
	return hay.toLowerCase().includes(needle.trim().toLowerCase());
}

export function matches(e: AuditEvent, f: AuditFilter): boolean {
	if (f.actor.trim() && !has(`${e.actor_type}:${e.actor_id}`, f.actor)) return false;
	if (f.action.trim() && !has(e.action, f.action)) return false;
	if (f.target.trim() && !has(`${e.resource_type}:${e.resource_id}`, f.target)) return false;
	if (f.outcome && e.outcome !== f.outcome) return false;
	const at = Date.parse(e.at);
	const from = instantMs(f.from);
	const to = instantMs(f.to);
	if (!Number.isNaN(from) && !(at >= from)) return false;
	if (!Number.isNaN(to) && !(at < to)) return false;
	return true;
}

export function applyFilter(events: readonly AuditEvent[], f: AuditFilter): AuditEvent[] {
	return events.filter((e) => matches(e, f));
}

export function isFiltered(f: AuditFilter): boolean {
	return Object.values(f).some((v) => v.trim() !== '');
}

/** Appends a page, dropping ids already held (a page boundary may repeat). */
export function appendPage(held: readonly AuditEvent[], page: AuditPage): AuditEvent[] {
	const ids = new Set(held.map((e) => e.id));
	return [...held, ...page.events.filter((e) => !ids.has(e.id))];
}

/**
 * Whether loading further pages can still find matches: pages come newest
 * first, so once the oldest held event is before `from` nothing older can match.
 */
export function olderCanMatch(held: readonly AuditEvent[], f: AuditFilter): boolean {
	const from = instantMs(f.from);
	if (Number.isNaN(from) || held.length === 0) return true;
	return Date.parse(held[held.length - 1].at) >= from;
}

export function auditPath(cursor: string | null, limit = 100): string {
	const q = new URLSearchParams({ limit: String(limit) });
	if (cursor) q.set('cursor', cursor);
	return `/v1/audit?${q.toString()}`;
}
