import adapter from '@sveltejs/adapter-static';
import { vitePreprocess } from '@sveltejs/vite-plugin-svelte';

/** A single-page app: wrenn-cp serves index.html for every client route. */
const config = {
	preprocess: vitePreprocess(),
	kit: {
		adapter: adapter({ pages: 'build', assets: 'build', fallback: 'index.html', strict: true }),
		// Absolute asset paths: the fallback page is served at any depth (/sandboxes/<id>).
		paths: { relative: false },
		output: { preloadStrategy: 'modulepreload' },
		version: { pollInterval: 0 }
	}
};

export default config;
