// The navigation: every client route of the dashboard, in order.
export interface NavItem {
	href: string;
	label: string;
	/** Only platform admins see it. */
	admin?: boolean;
}

export const NAV: NavItem[] = [
	{ href: '/sandboxes', label: 'Sandboxes' },
	{ href: '/templates', label: 'Templates' },
	{ href: '/keys', label: 'API keys' },
	{ href: '/team', label: 'Team' },
	{ href: '/usage', label: 'Usage' },
	{ href: '/hosts', label: 'Hosts' },
	{ href: '/audit', label: 'Audit log' },
	{ href: '/admin', label: 'Admin', admin: true }
];

/** Routes that work without a session. */
export const PUBLIC_ROUTES = ['/login', '/signup'];

export function isActive(pathname: string, href: string): boolean {
	return pathname === href || pathname.startsWith(href + '/');
}
