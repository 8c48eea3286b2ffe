import { describe, expect, it } from 'vitest';
import { encodeInput, parseServerFrame, ptyUrl, reconnectDelay, resizeMessage } from './pty';

describe('pty frames', () => {
	it('treats binary frames as output', () => {
		const f = parseServerFrame(new TextEncoder().encode('42\r\n').buffer);
		expect(f.kind).toBe('output');
		if (f.kind === 'output') expect(new TextDecoder().decode(f.bytes)).toBe('42\r\n');
	});

	it('parses started, exit and error text frames', () => {
		expect(parseServerFrame('{"type":"started","pid":7}')).toEqual({ kind: 'started', pid: 7 });
		expect(parseServerFrame('{"type":"exit","exit_code":1,"status":"exit status 1"}')).toEqual({
			kind: 'exit',
			exitCode: 1,
			status: 'exit status 1'
		});
		expect(parseServerFrame('{"type":"error","code":"not_found","message":"gone"}')).toEqual({
			kind: 'error',
			code: 'not_found',
			message: 'gone'
		});
		expect(parseServerFrame('hello').kind).toBe('unknown');
	});

	it('encodes keystrokes as UTF-8 and resize as JSON', () => {
		expect([...encodeInput('é\r')]).toEqual([0xc3, 0xa9, 0x0d]);
		expect(JSON.parse(resizeMessage(120.7, 0))).toEqual({ type: 'resize', cols: 120, rows: 1 });
	});

	it('builds the socket URL from the page origin', () => {
		expect(ptyUrl({ protocol: 'https:', host: 'w.example:8443' }, 'sb_1', 80, 24)).toBe(
			'wss://w.example:8443/v1/sandboxes/sb_1/pty?cols=80&rows=24'
		);
		expect(ptyUrl({ protocol: 'http:', host: 'localhost' }, 'sb_1', 80, 24, 'team_9')).toBe(
			'ws://localhost/v1/sandboxes/sb_1/pty?cols=80&rows=24&team_id=team_9'
		);
		expect(ptyUrl({ protocol: 'http:', host: 'localhost' }, 'sb 1', 100, 30)).toBe(
			'ws://localhost/v1/sandboxes/sb%201/pty?cols=100&rows=30'
		);
	});

	it('backs off reconnects and then stops', () => {
		expect([0, 1, 2, 3].map(reconnectDelay)).toEqual([1000, 2000, 4000, null]);
	});
});
