// The REST client every page uses. It adds the session's CSRF token to
// mutations and the chosen team (X-Team-Id), sends the cookie, and turns
// every non-2xx answer into an ApiError carrying the server's code and
// message. The session cookie is HttpOnly: no credential lives here.

export class ApiError extends Error {
	readonly status: number;
	readonly code: string;
	readonly requestId: string | null;

	constructor(status: number, code: string, message: string, requestId: string | null = null) {
		super(message);
		this.name = 'ApiError';
		this.status = status;
		this.code = code;
		this.requestId = requestId;
	}
}

/** What the client needs from the session for each request. */
export interface ApiContext {
	csrfToken: string | null;
	teamId: string | null;
}

let context: () => ApiContext = () => ({ csrfToken: null, teamId: null });
let onUnauthenticated: (err: ApiError) => void = () => {};

/** Wired once by the session module. */
export function configureApi(opts: {
	context: () => ApiContext;
	onUnauthenticated?: (err: ApiError) => void;
}): void {
	context = opts.context;
	if (opts.onUnauthenticated) onUnauthenticated = opts.onUnauthenticated;
}

export function isMutation(method: string): boolean {
	const m = method.toUpperCase();
	return m !== 'GET' && m !== 'HEAD' && m !== 'OPTIONS';
}

/** Headers of one request: CSRF on mutations, the team when one is chosen. */
export function requestHeaders(
	method: string,
	ctx: ApiContext,
	contentType: string | null = null
): Record<string, string> {
	const h: Record<string, string> = { Accept: 'application/json' };
	if (contentType) h['Content-Type'] = contentType;
	if (isMutation(method) && ctx.csrfToken) h['X-CSRF-Token'] = ctx.csrfToken;
	if (ctx.teamId) h['X-Team-Id'] = ctx.teamId;
	return h;
}

/** The server's `{error:{code,message}}`, or a readable stand-in when the body is not that. */
export function errorFromBody(
	status: number,
	bodyText: string,
	requestId: string | null = null,
	statusText = ''
): ApiError {
	try {
		const body = JSON.parse(bodyText);
		if (body && typeof body === 'object') {
			const e = body.error;
			if (e && typeof e === 'object' && typeof e.message === 'string') {
				return new ApiError(status, String(e.code ?? 'unknown'), e.message, requestId);
			}
			// The sandbox proxy and E2B routes answer {code, message}.
			if (typeof body.message === 'string') {
				return new ApiError(status, String(body.code ?? status), body.message, requestId);
			}
		}
	} catch {
		/* not JSON: fall through */
	}
	const text = bodyText.trim().slice(0, 300);
	const message = text || `${status} ${statusText || 'request failed'}`.trim();
	return new ApiError(status, status >= 500 ? 'internal' : 'http_' + status, message, requestId);
}

export async function parseError(res: Response): Promise<ApiError> {
	let text = '';
	try {
		text = await res.text();
	} catch {
		/* body unreadable */
	}
	return errorFromBody(res.status, text, res.headers.get('X-Request-Id'), res.statusText);
}

/** Query string from a plain object; `metadata` becomes `metadata[k]=v`. Empty values are left out. */
export function queryString(
	params: Record<string, string | number | boolean | null | undefined | Record<string, string>>
): string {
	const q = new URLSearchParams();
	for (const [k, v] of Object.entries(params)) {
		if (v === null || v === undefined || v === '') continue;
		if (typeof v === 'object') {
			for (const [mk, mv] of Object.entries(v)) q.append(`${k}[${mk}]`, mv);
		} else {
			q.append(k, String(v));
		}
	}
	const s = q.toString();
	return s ? '?' + s : '';
}

export interface RequestOptions {
	body?: unknown;
	/** A raw body (a file); sent as application/octet-stream. */
	raw?: BodyInit;
	headers?: Record<string, string>;
	signal?: AbortSignal;
}

/** Sends one request; resolves the JSON body (undefined for 204), rejects with ApiError. */
export async function request<T>(method: string, path: string, opts: RequestOptions = {}): Promise<T> {
	const res = await send(method, path, opts);
	if (res.status === 204) return undefined as T;
	const text = await res.text();
	if (!text) return undefined as T;
	try {
		return JSON.parse(text) as T;
	} catch {
		return text as T;
	}
}

/** Like request but answers the Response itself (files, CSV). */
export async function send(method: string, path: string, opts: RequestOptions = {}): Promise<Response> {
	const json = opts.body !== undefined;
	const contentType = json ? 'application/json' : opts.raw !== undefined ? 'application/octet-stream' : null;
	const headers = { ...requestHeaders(method, context(), contentType), ...opts.headers };
	let res: Response;
	try {
		res = await fetch(path, {
			method,
			headers,
			body: json ? JSON.stringify(opts.body) : opts.raw,
			credentials: 'same-origin',
			signal: opts.signal
		});
	} catch (e) {
		if (e instanceof DOMException && e.name === 'AbortError') throw e;
		throw new ApiError(0, 'network', 'The control plane could not be reached: ' + String(e));
	}
	if (!res.ok) {
		const err = await parseError(res);
		if (res.status === 401) onUnauthenticated(err);
		throw err;
	}
	return res;
}

export const api = {
	get: <T>(path: string, opts?: RequestOptions) => request<T>('GET', path, opts),
	post: <T>(path: string, body?: unknown, opts?: RequestOptions) =>
		request<T>('POST', path, { ...opts, body }),
	put: <T>(path: string, body?: unknown, opts?: RequestOptions) =>
		request<T>('PUT', path, { ...opts, body }),
	patch: <T>(path: string, body?: unknown, opts?: RequestOptions) =>
		request<T>('PATCH', path, { ...opts, body }),
	del: <T = void>(path: string, opts?: RequestOptions) => request<T>('DELETE', path, opts)
};

/** Message for any thrown value, the server's message for an ApiError. */
export function errorMessage(e: unknown): string {
	if (e instanceof ApiError) return e.message;
	if (e instanceof Error) return e.message;
	return String(e);
}

/**
 * Upload with progress (fetch has no upload progress): PUT a raw body via
 * XMLHttpRequest with the same headers as every other mutation.
 */
export function uploadWithProgress(
	path: string,
	body: Blob,
	onProgress: (loaded: number, total: number) => void,
	method = 'PUT'
): { promise: Promise<unknown>; abort: () => void } {
	const xhr = new XMLHttpRequest();
	const promise = new Promise<unknown>((resolve, reject) => {
		xhr.open(method, path);
		xhr.withCredentials = true;
		for (const [k, v] of Object.entries(requestHeaders(method, context(), 'application/octet-stream'))) {
			xhr.setRequestHeader(k, v);
		}
		xhr.upload.onprogress = (ev) => onProgress(ev.loaded, ev.lengthComputable ? ev.total : body.size);
		xhr.onload = () => {
			if (xhr.status >= 200 && xhr.status < 300) {
				onProgress(body.size, body.size);
				try {
					resolve(xhr.responseText ? JSON.parse(xhr.responseText) : undefined);
				} catch {
					resolve(xhr.responseText);
				}
			} else {
				const err = errorFromBody(xhr.status, xhr.responseText, xhr.getResponseHeader('X-Request-Id'), xhr.statusText);
				if (xhr.status === 401) onUnauthenticated(err);
				reject(err);
			}
		};
		xhr.onerror = () => reject(new ApiError(0, 'network', 'The upload failed: the connection was lost'));
		xhr.onabort = () => reject(new ApiError(0, 'aborted', 'The upload was cancelled'));
		xhr.send(body);
	});
	return { promise, abort: () => xhr.abort() };
}
