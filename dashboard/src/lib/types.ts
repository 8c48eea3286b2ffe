// Shapes of the REST API (docs/api.md, "Shapes"), as the dashboard reads them.

export type SandboxState =
	| 'pending'
	| 'starting'
	| 'running'
	| 'paused'
	| 'stopped'
	| 'error'
	| 'lost';

export const SANDBOX_STATES: SandboxState[] = [
	'pending',
	'starting',
	'running',
	'paused',
	'stopped',
	'error',
	'lost'
];

export interface Sandbox {
	id: string;
	team_id: string;
	template: string;
	state: SandboxState;
	reason: string | null;
	vcpus: number;
	memory_mb: number;
	disk_mb: number | null;
	metadata: Record<string, string>;
	host_id: string | null;
	created_at: string;
	started_at: string | null;
	timeout_at: string | null;
	updated_at: string;
	from_snapshot?: boolean | string | null;
	auto_resume?: boolean;
	public_traffic?: boolean;
	domain?: string | null;
	envd_access_token?: string;
	traffic_access_token?: string;
}

export interface SandboxList {
	sandboxes: Sandbox[];
	next_cursor: string | null;
}

export interface CreateSandbox {
	template: string;
	vcpus?: number;
	memory_mb?: number;
	timeout_secs?: number;
	internet?: boolean;
	metadata?: Record<string, string>;
}

export interface Template {
	name: string;
	builtin: boolean;
	team_id: string | null;
	vcpus: number;
	memory_mb: number;
	disk_mb: number | null;
	has_memory_snapshot: boolean;
	created_at: string;
	source_sandbox_id: string | null;
}

export interface User {
	id: string;
	email: string;
	name: string | null;
	is_admin: boolean;
	created_at: string;
}

export interface Team {
	id: string;
	name: string;
	personal?: boolean;
	[k: string]: unknown;
}

export interface TeamRef {
	id: string;
	name: string;
	role: 'owner' | 'member' | string;
	personal?: boolean;
}

/** `POST/GET /v1/auth/session` and (without csrf_token) `GET /v1/me`. */
export interface SessionInfo {
	user: User;
	team: Team;
	teams: TeamRef[];
	csrf_token?: string;
	expires_at?: string;
}

export interface ApiKey {
	id: string;
	name: string;
	prefix: string;
	created_at: string;
	expires_at: string | null;
	last_used_at: string | null;
	revoked_at: string | null;
	created_by: string | null;
	owner: 'user' | 'team';
}

export interface NewApiKey {
	id: string;
	name: string;
	prefix: string;
	key: string;
	created_at: string;
	expires_at: string | null;
	owner: 'user' | 'team';
}

export interface FileEntry {
	name: string;
	path: string;
	type: 'file' | 'dir' | 'symlink';
	size: number;
	mode: number | string;
	modified_at: string | null;
}

export interface MetricSample {
	timestamp: string;
	timestamp_unix: number;
	cpu_count: number;
	cpu_used_pct: number;
	mem_total_mb: number;
	mem_used_mb: number;
	disk_total_mb: number;
	disk_used_mb: number;
}

export interface SandboxEvent {
	at: string;
	kind: string;
	from_state?: string | null;
	to_state?: string | null;
	detail?: unknown;
}

export interface AuditEvent {
	id: string;
	at: string;
	team_id: string | null;
	actor_type: 'user' | 'api_key' | 'system';
	actor_id: string | null;
	action: string;
	resource_type: string;
	resource_id: string | null;
	outcome: 'ok' | 'denied' | 'failed';
	detail: unknown;
}

export interface Host {
	id: string;
	name: string;
	team_id: string | null;
	byoc: boolean;
	status: 'pending' | 'online' | 'unreachable';
	status_reason: string | null;
	draining: boolean;
	address: string | null;
	specs: {
		arch: string;
		cpus: number;
		memory_mb: number;
		disk_mb: number;
		backend: string;
		accelerator: string | null;
		agent_version: string;
	} | null;
	load: {
		free_vcpus: number;
		free_memory_mb: number;
		free_disk_mb: number;
		sandboxes_running: number;
		sandboxes_paused: number;
	} | null;
	tags: string[];
	tls_fingerprint: string | null;
	clock_skew_ms: number | null;
	last_heartbeat_at: string | null;
	registered_at: string | null;
	created_at: string;
}
