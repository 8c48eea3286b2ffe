import { describe, expect, it } from 'vitest';
import { appendById, directoryPath } from './admin';

describe('admin directory', () => {
	it('builds the search and page path', () => {
		expect(directoryPath('users', '', null)).toBe('/v1/admin/users?limit=50');
		expect(directoryPath('teams', ' Lab & co ', 'c=', 20)).toBe('/v1/admin/teams?limit=20&q=Lab+%26+co&cursor=c%3D');
	});
	it('appends pages without repeats', () => {
		expect(appendById([{ id: 'a' }, { id: 'b' }], [{ id: 'b' }, { id: 'c' }]).map((x) => x.id)).toEqual(['a', 'b', 'c']);
	});
});
