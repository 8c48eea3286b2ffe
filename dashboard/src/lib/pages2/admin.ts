// Admin page logic: the platform directory (GET /v1/admin/users and
// /v1/admin/teams, newest first, searched by `q`, paged by cursor).
import type { User } from '$lib/types';

export interface AdminTeam {
	id: string;
	name: string;
	personal: boolean;
	created_at: string;
	member_count: number;
}

export interface UserPage {
	users: User[];
	next_cursor: string | null;
}

export interface TeamPage {
	teams: AdminTeam[];
	next_cursor: string | null;
}

export function directoryPath(kind: 'users' | 'teams', search: string, cursor: string | null, limit = 50): string {
	const q = new URLSearchParams({ limit: String(limit) });
	const text = search.trim();
	if (text) q.set('q', text);
	if (cursor) q.set('cursor', cursor);
	return `/v1/admin/${kind}?${q.toString()}`;
}

/** Appends a page, dropping ids already held. */
export function appendById<T extends { id: string }>(held: readonly T[], page: readonly T[]): T[] {
	const ids = new Set(held.map((x) => x.id));
	return [...held, ...page.filter((x) => !ids.has(x.id))];
}
