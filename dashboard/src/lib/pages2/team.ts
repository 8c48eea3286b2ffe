// Team page logic: roles and what the caller may do.

export type Role = 'owner' | 'member';

export interface TeamSummary {
	id: string;
	name: string;
	role: Role;
	personal?: boolean;
}

export interface Member {
	user_id: string;
	email: string;
	role: Role;
}

export function isOwner(team: Pick<TeamSummary, 'role'> | null | undefined): boolean {
	return team?.role === 'owner';
}

/** What the caller may do to one member row. */
export function memberActions(
	member: Member,
	me: { user_id: string; role: Role },
	team: { personal?: boolean },
	members: readonly Member[]
): { remove: boolean; leave: boolean } {
	const self = member.user_id === me.user_id;
	if (self) {
		// The last owner of a team with other members cannot leave it; a
		// personal team goes only with its user.
		const owners = members.filter((m) => m.role === 'owner').length;
		const lastOwner = member.role === 'owner' && owners <= 1 && members.length > 1;
		return { remove: false, leave: !team.personal && !lastOwner };
	}
	return { remove: me.role === 'owner', leave: false };
}

export function validEmail(email: string): boolean {
	return /^[^\s@]+@[^\s@]+$/.test(email.trim());
}

export function sortMembers(members: readonly Member[]): Member[] {
	return [...members].sort((a, b) => (a.role === b.role ? a.email.localeCompare(b.email) : a.role === 'owner' ? -1 : 1));
}
