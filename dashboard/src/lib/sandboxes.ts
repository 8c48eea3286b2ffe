// Sandbox calls the pages share.
import { api, queryString } from './api';
import type { Sandbox, SandboxList, Template } from './types';

/** Every page of GET /v1/sandboxes for the filters (at most `maxPages`). */
export async function listAllSandboxes(
	state: string,
	metadata: Record<string, string>,
	signal?: AbortSignal,
	maxPages = 20
): Promise<Sandbox[]> {
	const out: Sandbox[] = [];
	let cursor: string | null = null;
	for (let i = 0; i < maxPages; i++) {
		const page: SandboxList = await api.get<SandboxList>(
			'/v1/sandboxes' + queryString({ state, metadata, limit: 100, cursor }),
			{ signal }
		);
		out.push(...page.sandboxes);
		cursor = page.next_cursor;
		if (!cursor) break;
	}
	return out;
}

export async function listTemplates(): Promise<Template[]> {
	return (await api.get<{ templates: Template[] }>('/v1/templates')).templates;
}

const base = (id: string) => `/v1/sandboxes/${encodeURIComponent(id)}`;

export const sandboxActions = {
	pause: (id: string) => api.post<Sandbox>(base(id) + '/pause'),
	resume: (id: string) => api.post<Sandbox>(base(id) + '/resume'),
	kill: (id: string) => api.del(base(id)),
	fork: (id: string, count = 1) => api.post<{ sandboxes: Sandbox[] }>(base(id) + '/fork', { count }),
	snapshot: (id: string, name?: string) => api.post<Template>(base(id) + '/snapshots', name ? { name } : {})
};

export function sandboxPath(id: string): string {
	return base(id);
}
