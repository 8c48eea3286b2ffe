import { describe, expect, it } from 'vitest';
import { setFlash, takeFlash } from './flash';

describe('flash', () => {
	it('is read once', () => {
		expect(takeFlash()).toBe('');
		setFlash('You left the team.');
		expect(takeFlash()).toBe('You left the team.');
		expect(takeFlash()).toBe('');
	});
});
