// Hosts page logic: the Host shape, its displayed state, free capacity,
// heartbeat age and the agent command for a registration token.
import { formatAge, formatMib } from './format';

export interface HostSpecs {
	arch: string;
	cpus: number;
	memory_mb: number;
	disk_mb: number;
	backend: string;
	accelerator: string;
	agent_version: string;
}

export interface HostLoad {
	free_vcpus: number;
	free_memory_mb: number;
	free_disk_mb: number;
	sandboxes_running: number;
	sandboxes_paused: number;
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
	specs: HostSpecs | null;
	load: HostLoad | null;
	tags: string[];
	tls_fingerprint: string | null;
	clock_skew_ms: number | null;
	last_heartbeat_at: string | null;
	registered_at: string | null;
	created_at: string;
}

export interface CreatedHost {
	host: Host;
	registration_token: string;
	token_expires_at: string;
}

export interface HostSandbox {
	id: string;
	team_id: string;
	state: string;
	template: string;
}

export type HostBadge = 'pending' | 'online' | 'unreachable' | 'draining';

/** What a person sees first: draining wins over online. */
export function hostBadge(host: Pick<Host, 'status' | 'draining'>): HostBadge {
	if (host.draining && host.status !== 'pending') return 'draining';
	return host.status;
}

/** Whether the last heartbeat is older than three intervals (default 30 s). */
export function heartbeatStale(host: Pick<Host, 'last_heartbeat_at' | 'status'>, now: number, intervalSecs = 30): boolean {
	if (host.status === 'pending') return false;
	if (!host.last_heartbeat_at) return true;
	const at = Date.parse(host.last_heartbeat_at);
	return Number.isNaN(at) || now - at > 3 * intervalSecs * 1000;
}

export function heartbeatAge(host: Pick<Host, 'last_heartbeat_at'>, now: number): string {
	return formatAge(host.last_heartbeat_at, now);
}

export function specsText(specs: HostSpecs | null): string {
	if (!specs || !specs.cpus) return 'not registered';
	return `${specs.cpus} vCPU · ${formatMib(specs.memory_mb)} · ${formatMib(specs.disk_mb)} disk · ${specs.arch} · ${specs.backend}/${specs.accelerator}`;
}

export function freeText(load: HostLoad | null): string {
	if (!load) return '—';
	return `${load.free_vcpus} vCPU · ${formatMib(load.free_memory_mb)} · ${formatMib(load.free_disk_mb)} disk`;
}

export function sandboxCount(load: HostLoad | null): number {
	return load ? load.sandboxes_running + load.sandboxes_paused : 0;
}

/** The control plane's URL as the browser reached it (`window.location`). */
export function cpUrlFrom(loc: Pick<Location, 'protocol' | 'host'>): string {
	return `${loc.protocol}//${loc.host}`;
}

/** The address placeholder when the operator has not typed one. */
export const ADDRESS_PLACEHOLDER = 'AGENT_IP:50051';

/** Single-quotes a shell word when it needs it. */
export function shellWord(word: string): string {
	if (/^[A-Za-z0-9_@%+=:,./-]+$/.test(word)) return word;
	return `'${word.replace(/'/g, `'\\''`)}'`;
}

/**
 * The command to run on the new host (docs/hosts.md, "Registration"):
 * `wrenn-agent serve --register <token> --address ip:port --cp-url <url>`.
 */
export function agentCommand(token: string, cpUrl: string, address = ''): string {
	const addr = address.trim() || ADDRESS_PLACEHOLDER;
	return `wrenn-agent serve --register ${shellWord(token)} --address ${shellWord(addr)} --cp-url ${shellWord(cpUrl)}`;
}

/** Tags as typed in a field: split on commas and spaces, trimmed, deduplicated. */
export function parseTags(text: string): string[] {
	const seen = new Set<string>();
	for (const t of text.split(/[\s,]+/)) if (t) seen.add(t);
	return [...seen];
}

/** A summary of a delete preview: counts per state. */
export function previewSummary(sandboxes: readonly HostSandbox[]): string {
	if (sandboxes.length === 0) return 'No sandboxes live on this host: deleting it destroys nothing else.';
	const by = new Map<string, number>();
	for (const s of sandboxes) by.set(s.state, (by.get(s.state) ?? 0) + 1);
	const parts = [...by].sort().map(([state, n]) => `${n} ${state}`);
	const noun = sandboxes.length === 1 ? 'sandbox' : 'sandboxes';
	return `Force delete destroys ${sandboxes.length} ${noun} (${parts.join(', ')}).`;
}
