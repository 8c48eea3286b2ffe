// The PTY WebSocket protocol (docs/api.md, "WebSocket: GET /v1/sandboxes/{id}/pty"):
// server binary frames are terminal output, text frames are JSON
// {type:"started"|"exit"|"error"}; client binary frames are keystrokes,
// text frames {type:"resize"} and {type:"kill"}.

export type ServerFrame =
	| { kind: 'output'; bytes: Uint8Array }
	| { kind: 'started'; pid: number }
	| { kind: 'exit'; exitCode: number; status: string }
	| { kind: 'error'; code: string; message: string }
	| { kind: 'unknown'; raw: string };

const encoder = new TextEncoder();

export function encodeInput(data: string): Uint8Array {
	return encoder.encode(data);
}

export function resizeMessage(cols: number, rows: number): string {
	return JSON.stringify({ type: 'resize', cols: Math.max(1, Math.floor(cols)), rows: Math.max(1, Math.floor(rows)) });
}

export function killMessage(): string {
	return JSON.stringify({ type: 'kill' });
}

export function parseServerFrame(data: ArrayBuffer | Uint8Array | string): ServerFrame {
	if (typeof data !== 'string') {
		return { kind: 'output', bytes: data instanceof Uint8Array ? data : new Uint8Array(data) };
	}
	try {
		const m = JSON.parse(data);
		if (m && m.type === 'started') return { kind: 'started', pid: Number(m.pid) };
		if (m && m.type === 'exit')
			return { kind: 'exit', exitCode: Number(m.exit_code), status: String(m.status ?? `exit status ${m.exit_code}`) };
		if (m && m.type === 'error') return { kind: 'error', code: String(m.code ?? 'error'), message: String(m.message ?? '') };
	} catch {
		/* not JSON */
	}
	return { kind: 'unknown', raw: data };
}

/**
 * ws(s)://<this origin>/v1/sandboxes/<id>/pty?cols=..&rows=..[&team_id=..].
 * The cookie authenticates it; a browser cannot set X-Team-Id on a
 * WebSocket, so the chosen team travels as `team_id` (docs/api.md).
 */
export function ptyUrl(
	loc: { protocol: string; host: string },
	id: string,
	cols: number,
	rows: number,
	teamId: string | null = null
): string {
	const scheme = loc.protocol === 'https:' ? 'wss:' : 'ws:';
	const q = new URLSearchParams({ cols: String(cols), rows: String(rows) });
	if (teamId) q.set('team_id', teamId);
	return `${scheme}//${loc.host}/v1/sandboxes/${encodeURIComponent(id)}/pty?${q}`;
}

/** Reconnect delays: 1 s, 2 s, 4 s, then give up (the button stays). */
export function reconnectDelay(attempt: number): number | null {
	return attempt < 3 ? 1000 * 2 ** attempt : null;
}
