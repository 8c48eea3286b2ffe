// The browser session: who is signed in, the team requests act on, and the
// CSRF token for mutations. The credential itself is the HttpOnly cookie
// (POST /v1/auth/session); only the chosen team id is kept, in
// sessionStorage, because it is not a credential.

import { ApiError, api, configureApi } from './api';
import type { SessionInfo, Team, TeamRef, User } from './types';

const TEAM_KEY = 'wrenn.team';

interface SessionState {
	/** The first GET /v1/auth/session has answered. */
	loaded: boolean;
	user: User | null;
	team: Team | null;
	teams: TeamRef[];
	csrfToken: string | null;
	expiresAt: string | null;
	/** The team the session acts on without X-Team-Id (WebSockets cannot send it). */
	homeTeamId: string | null;
}

export const session: SessionState = $state({
	loaded: false,
	user: null,
	team: null,
	teams: [],
	csrfToken: null,
	expiresAt: null,
	homeTeamId: null
});

function storedTeam(): string | null {
	try {
		return sessionStorage.getItem(TEAM_KEY);
	} catch {
		return null;
	}
}

function storeTeam(id: string | null): void {
	try {
		if (id) sessionStorage.setItem(TEAM_KEY, id);
		else sessionStorage.removeItem(TEAM_KEY);
	} catch {
		/* storage disabled */
	}
}

let expiredHandler: () => void = () => {};

configureApi({
	context: () => ({ csrfToken: session.csrfToken, teamId: session.team?.id ?? storedTeam() }),
	onUnauthenticated: () => {
		if (session.user) {
			clear();
			expiredHandler();
		}
	}
});

/** Called (by the layout) when a request finds the session gone. */
export function onSessionExpired(handler: () => void): void {
	expiredHandler = handler;
}

function apply(info: SessionInfo): void {
	session.user = info.user;
	session.teams = info.teams ?? [];
	if (info.csrf_token) session.csrfToken = info.csrf_token;
	if (info.expires_at) session.expiresAt = info.expires_at;
	session.team = info.team;
	session.homeTeamId = info.team?.id ?? null;
	session.loaded = true;
}

function clear(): void {
	session.user = null;
	session.team = null;
	session.teams = [];
	session.csrfToken = null;
	session.expiresAt = null;
	session.homeTeamId = null;
	session.loaded = true;
}

/** Loads the current session; false when there is none. */
export async function loadSession(): Promise<boolean> {
	try {
		const info = await api.get<SessionInfo>('/v1/auth/session');
		apply(info);
		await applyStoredTeam();
		return true;
	} catch (e) {
		clear();
		if (e instanceof ApiError && (e.status === 401 || e.status === 404)) return false;
		throw e;
	}
}

/** A team chosen earlier in this tab wins over the session's default, if still a member. */
async function applyStoredTeam(): Promise<void> {
	const id = storedTeam();
	if (!id || id === session.team?.id) return;
	if (!session.teams.some((t) => t.id === id)) {
		storeTeam(null);
		return;
	}
	await switchTeam(id);
}

export async function login(email: string, password: string): Promise<void> {
	storeTeam(null);
	const info = await api.post<SessionInfo>('/v1/auth/session', { email, password });
	apply(info);
}

export async function signup(email: string, password: string, name?: string): Promise<void> {
	await api.post('/v1/auth/signup', { email, password, name: name || undefined });
	await login(email, password);
}

export async function logout(): Promise<void> {
	try {
		await api.del('/v1/auth/session');
	} finally {
		storeTeam(null);
		clear();
	}
}

/** Acts on another team from now on (X-Team-Id), refreshing what /v1/me says. */
export async function switchTeam(id: string): Promise<void> {
	const previous = session.team;
	storeTeam(id);
	session.team = { ...(session.teams.find((t) => t.id === id) ?? { id, name: id }) };
	try {
		const me = await api.get<SessionInfo>('/v1/me');
		session.team = me.team;
		session.teams = me.teams ?? session.teams;
	} catch (e) {
		session.team = previous;
		storeTeam(previous?.id ?? null);
		throw e;
	}
}

/** The caller's role in the current team. */
export function currentRole(): string | null {
	const id = session.team?.id;
	return session.teams.find((t) => t.id === id)?.role ?? null;
}
