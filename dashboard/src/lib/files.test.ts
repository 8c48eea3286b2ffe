import { describe, expect, it } from 'vitest';
import { breadcrumbs, imageMime, joinPath, looksBinary, parentPath, previewKind } from './files';

describe('file paths', () => {
	it('joins and climbs', () => {
		expect(joinPath('/home/user', 'a.txt')).toBe('/home/user/a.txt');
		expect(joinPath('/', 'etc')).toBe('/etc');
		expect(parentPath('/home/user')).toBe('/home');
		expect(parentPath('/home')).toBe('/');
		expect(parentPath('/')).toBe('/');
	});
	it('makes breadcrumbs', () => {
		expect(breadcrumbs('/home/user')).toEqual([
			{ name: '/', path: '/' },
			{ name: 'home', path: '/home' },
			{ name: 'user', path: '/home/user' }
		]);
	});
	it('chooses previews', () => {
		expect(previewKind('cat.PNG', 1000)).toBe('image');
		expect(previewKind('main.py', 1000)).toBe('text');
		expect(previewKind('Makefile', 10)).toBe('text');
		expect(previewKind('.bashrc', 10)).toBe('text');
		expect(previewKind('big.log', 5 * 1024 * 1024)).toBe('none');
		expect(previewKind('archive.tar.gz', 10)).toBe('none');
		expect(imageMime('a.jpg')).toBe('image/jpeg');
		expect(imageMime('a.svg')).toBe('image/svg+xml');
	});
	it('spots binary content', () => {
		expect(looksBinary(new Uint8Array([65, 0, 66]))).toBe(true);
		expect(looksBinary(new TextEncoder().encode('hello'))).toBe(false);
	});
});
