import { describe, expect, it } from 'vitest';
import { isOwner, memberActions, sortMembers, validEmail, type Member } from './team';

const members: Member[] = [
	{ user_id: 'u2', email: 'b@x', role: 'member' },
	{ user_id: 'u1', email: 'a@x', role: 'owner' },
	{ user_id: 'u3', email: 'c@x', role: 'member' }
];

describe('team', () => {
	it('knows owners', () => {
		expect(isOwner({ role: 'owner' })).toBe(true);
		expect(isOwner({ role: 'member' })).toBe(false);
		expect(isOwner(null)).toBe(false);
	});
	it('lets owners remove others and members leave', () => {
		expect(memberActions(members[0], { user_id: 'u1', role: 'owner' }, {}, members)).toEqual({ remove: true, leave: false });
		expect(memberActions(members[2], { user_id: 'u2', role: 'member' }, {}, members)).toEqual({ remove: false, leave: false });
		expect(memberActions(members[0], { user_id: 'u2', role: 'member' }, {}, members)).toEqual({ remove: false, leave: true });
	});
	it('keeps the last owner and personal teams', () => {
		expect(memberActions(members[1], { user_id: 'u1', role: 'owner' }, {}, members).leave).toBe(false);
		expect(memberActions(members[0], { user_id: 'u2', role: 'member' }, { personal: true }, members).leave).toBe(false);
	});
	it('checks emails and sorts owners first', () => {
		expect(validEmail(' a@b.c ')).toBe(true);
		expect(validEmail('nope')).toBe(false);
		expect(sortMembers(members).map((m) => m.email)).toEqual(['a@x', 'b@x', 'c@x']);
	});
});
