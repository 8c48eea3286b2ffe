import { afterEach, describe, expect, it, vi } from 'vitest';
import { ApiError, api, configureApi, errorFromBody, queryString, requestHeaders } from './api';

function jsonResponse(status: number, body: unknown, headers: Record<string, string> = {}) {
	return new Response(body === undefined ? null : JSON.stringify(body), {
		status,
		headers: { 'Content-Type': 'application/json', ...headers }
	});
}

afterEach(() => {
	vi.unstubAllGlobals();
	configureApi({ context: () => ({ csrfToken: null, teamId: null }) });
});

describe('requestHeaders', () => {
	it('adds the CSRF token to mutations only', () => {
		const ctx = { csrfToken: 'tok', teamId: null };
		expect(requestHeaders('POST', ctx)['X-CSRF-Token']).toBe('tok');
		expect(requestHeaders('DELETE', ctx)['X-CSRF-Token']).toBe('tok');
		expect(requestHeaders('put', ctx)['X-CSRF-Token']).toBe('tok');
		expect(requestHeaders('GET', ctx)['X-CSRF-Token']).toBeUndefined();
		expect(requestHeaders('HEAD', ctx)['X-CSRF-Token']).toBeUndefined();
	});

	it('names the chosen team on every request', () => {
		const ctx = { csrfToken: null, teamId: 'team_1' };
		expect(requestHeaders('GET', ctx)['X-Team-Id']).toBe('team_1');
		expect(requestHeaders('GET', { csrfToken: null, teamId: null })['X-Team-Id']).toBeUndefined();
	});
});

describe('request', () => {
	it('sends the CSRF header, JSON body and cookie on a POST', async () => {
		const fetch = vi.fn(async () => jsonResponse(201, { id: 'k1' }));
		vi.stubGlobal('fetch', fetch);
		configureApi({ context: () => ({ csrfToken: 'csrf-1', teamId: 't1' }) });
		const out = await api.post<{ id: string }>('/v1/keys', { name: 'ci' });
		expect(out.id).toBe('k1');
		const [url, init] = fetch.mock.calls[0] as unknown as [string, RequestInit];
		expect(url).toBe('/v1/keys');
		const h = init.headers as Record<string, string>;
		expect(h['X-CSRF-Token']).toBe('csrf-1');
		expect(h['X-Team-Id']).toBe('t1');
		expect(h['Content-Type']).toBe('application/json');
		expect(init.credentials).toBe('same-origin');
		expect(init.body).toBe('{"name":"ci"}');
	});

	it('answers undefined for 204', async () => {
		vi.stubGlobal('fetch', vi.fn(async () => new Response(null, { status: 204 })));
		await expect(api.del('/v1/keys/k1')).resolves.toBeUndefined();
	});

	it('rejects with the server code and message', async () => {
		vi.stubGlobal(
			'fetch',
			vi.fn(async () =>
				jsonResponse(
					429,
					{ error: { code: 'pool_exhausted', message: 'the team\'s pool is exhausted' } },
					{ 'X-Request-Id': 'req_9' }
				)
			)
		);
		const err = (await api.post('/v1/sandboxes', { template: 'base' }).catch((e) => e)) as ApiError;
		expect(err).toBeInstanceOf(ApiError);
		expect(err.status).toBe(429);
		expect(err.code).toBe('pool_exhausted');
		expect(err.message).toBe("the team's pool is exhausted");
		expect(err.requestId).toBe('req_9');
	});

	it('calls the unauthenticated hook on 401', async () => {
		const hook = vi.fn();
		configureApi({ context: () => ({ csrfToken: null, teamId: null }), onUnauthenticated: hook });
		vi.stubGlobal(
			'fetch',
			vi.fn(async () => jsonResponse(401, { error: { code: 'unauthenticated', message: 'no session' } }))
		);
		await expect(api.get('/v1/me')).rejects.toThrow('no session');
		expect(hook).toHaveBeenCalledOnce();
	});

	it('turns a network failure into an ApiError', async () => {
		vi.stubGlobal('fetch', vi.fn(async () => Promise.reject(new TypeError('Failed to fetch'))));
		const err = (await api.get('/v1/me').catch((e) => e)) as ApiError;
		expect(err).toBeInstanceOf(ApiError);
		expect(err.code).toBe('network');
	});
});

describe('errorFromBody', () => {
	it('reads the proxy shape {code, message}', () => {
		const e = errorFromBody(502, '{"sandboxId":"x","message":"sandbox is paused","code":502}');
		expect(e.message).toBe('sandbox is paused');
		expect(e.code).toBe('502');
	});

	it('falls back to the text of a non-JSON body', () => {
		expect(errorFromBody(502, 'Bad Gateway').message).toBe('Bad Gateway');
		expect(errorFromBody(500, '', null, 'Internal Server Error').message).toBe('500 Internal Server Error');
	});
});

describe('queryString', () => {
	it('drops empty values and expands metadata', () => {
		expect(queryString({ state: 'running', cursor: null, limit: 50, metadata: { env: 'ci', team: 'a b' } })).toBe(
			'?state=running&limit=50&metadata%5Benv%5D=ci&metadata%5Bteam%5D=a+b'
		);
		expect(queryString({ state: '' })).toBe('');
	});
});
