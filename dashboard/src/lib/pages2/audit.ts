// Audit page logic: the AuditEvent shape and the filters. GET /v1/audit
// filters on the server (actor id, action or `prefix.*`, target id,
// outcome, since, until) and pages by cursor; `auditPath` builds that
// query. `applyFilter` is the same test in the browser, for held events.

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

/** An instant field as RFC 3339 for the API; '' when empty or unreadable. */
function rfc3339(text: string): string {
	const ms = instantMs(text);
	return Number.isNaN(ms) ? '' : new Date(ms).toISOString();
}

/**
 * The page path with the filters the server applies: `actor` and `target`
 * are ids (exact), `action` exact or `prefix.*`, times as RFC 3339.
 */
export function auditPath(cursor: string | null, limit = 100, f: AuditFilter = emptyFilter()): string {
	const q = new URLSearchParams({ limit: String(limit) });
	const params: [string, string][] = [
		['actor', f.actor.trim()],
		['action', f.action.trim()],
		['target', f.target.trim()],
		['outcome', f.outcome],
		['since', rfc3339(f.from)],
		['until', rfc3339(f.to)]
	];
	for (const [name, value] of params) if (value) q.set(name, value);
	if (cursor) q.set('cursor', cursor);
	return `/v1/audit?${q.toString()}`;
}
