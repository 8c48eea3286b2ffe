import { describe, expect, it } from 'vitest';
import {
	agentCommand,
	cpUrlFrom,
	freeText,
	heartbeatAge,
	heartbeatStale,
	hostBadge,
	parseTags,
	previewSummary,
	sandboxCount,
	shellWord,
	specsText
} from './hosts';

describe('host state', () => {
	it('shows draining over online', () => {
		expect(hostBadge({ status: 'online', draining: true })).toBe('draining');
		expect(hostBadge({ status: 'online', draining: false })).toBe('online');
		expect(hostBadge({ status: 'pending', draining: true })).toBe('pending');
	});
	it('flags a stale heartbeat', () => {
		const now = Date.parse('2026-12-02T01:00:00Z');
		expect(heartbeatStale({ status: 'online', last_heartbeat_at: '2026-12-02T00:59:30Z' }, now)).toBe(false);
		expect(heartbeatStale({ status: 'online', last_heartbeat_at: '2026-12-02T00:58:00Z' }, now)).toBe(true);
		expect(heartbeatStale({ status: 'online', last_heartbeat_at: null }, now)).toBe(true);
		expect(heartbeatStale({ status: 'pending', last_heartbeat_at: null }, now)).toBe(false);
		expect(heartbeatAge({ last_heartbeat_at: '2026-12-02T00:59:30Z' }, now)).toBe('30 s ago');
	});
});

describe('host figures', () => {
	it('describes specs and free capacity', () => {
		expect(
			specsText({ arch: 'x86_64', cpus: 16, memory_mb: 65536, disk_mb: 512000, backend: 'qemu', accelerator: 'kvm', agent_version: '0.1.0' })
		).toBe('16 vCPU · 64 GiB · 500 GiB disk · x86_64 · qemu/kvm');
		expect(specsText(null)).toBe('not registered');
		expect(specsText({ arch: '', cpus: 0, memory_mb: 0, disk_mb: 0, backend: '', accelerator: '', agent_version: '' })).toBe(
			'not registered'
		);
		const load = { free_vcpus: 8, free_memory_mb: 2048, free_disk_mb: 1024, sandboxes_running: 2, sandboxes_paused: 1 };
		expect(freeText(load)).toBe('8 vCPU · 2 GiB · 1 GiB disk');
		expect(freeText(null)).toBe('—');
		expect(sandboxCount(load)).toBe(3);
		expect(sandboxCount(null)).toBe(0);
	});
});

describe('agent command', () => {
	it('is the docs/hosts.md command with the page origin', () => {
		const url = cpUrlFrom({ protocol: 'https:', host: 'cp.example:8443' });
		expect(url).toBe('https://cp.example:8443');
		expect(agentCommand('wrh_abc123', url, '10.0.0.5:50051')).toBe(
			'wrenn-agent serve --register wrh_abc123 --address 10.0.0.5:50051 --cp-url https://cp.example:8443'
		);
	});
	it('uses a placeholder address and quotes odd words', () => {
		expect(agentCommand('wrh_x', 'http://h:8000')).toBe('wrenn-agent serve --register wrh_x --address AGENT_IP:50051 --cp-url http://h:8000');
		expect(shellWord("a b'c")).toBe(`'a b'\\''c'`);
		expect(shellWord('[::1]:50051')).toBe(`'[::1]:50051'`);
	});
});

describe('tags and preview', () => {
	it('parses tags', () => {
		expect(parseTags(' gpu, fast  gpu,,x ')).toEqual(['gpu', 'fast', 'x']);
		expect(parseTags('')).toEqual([]);
	});
	it('summarises what a force delete destroys', () => {
		expect(previewSummary([])).toMatch(/No sandboxes/);
		expect(
			previewSummary([
				{ id: 'a', team_id: 't', state: 'running', template: 'base' },
				{ id: 'b', team_id: 't', state: 'paused', template: 'base' },
				{ id: 'c', team_id: 't', state: 'running', template: 'base' }
			])
		).toBe('Force delete destroys 3 sandboxes (1 paused, 2 running).');
	});
});
