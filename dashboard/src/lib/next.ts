// Where to go after signing in: the `next` parameter when it is a local path.
export function safeNext(next: string | null, fallback = '/sandboxes'): string {
	if (!next || !next.startsWith('/') || next.startsWith('//') || next.startsWith('/\\')) return fallback;
	if (next.startsWith('/login') || next.startsWith('/signup')) return fallback;
	return next;
}
