// Light / dark / system theme: a display preference kept in localStorage
// (never a credential), applied as data-theme on <html>.

export type ThemeChoice = 'system' | 'light' | 'dark';
const KEY = 'wrenn.theme';

export function loadTheme(): ThemeChoice {
	try {
		const v = localStorage.getItem(KEY);
		if (v === 'light' || v === 'dark') return v;
	} catch {
		/* storage disabled */
	}
	return 'system';
}

export function applyTheme(choice: ThemeChoice): void {
	const root = document.documentElement;
	if (choice === 'system') delete root.dataset.theme;
	else root.dataset.theme = choice;
	try {
		if (choice === 'system') localStorage.removeItem(KEY);
		else localStorage.setItem(KEY, choice);
	} catch {
		/* storage disabled */
	}
}

export function nextTheme(choice: ThemeChoice): ThemeChoice {
	return choice === 'system' ? 'dark' : choice === 'dark' ? 'light' : 'system';
}
