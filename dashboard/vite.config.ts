import { sveltekit } from '@sveltejs/kit/vite';
import { defineConfig } from 'vitest/config';

// `npm run dev` proxies the API to a running control plane (WRENN_CP_URL).
const cp = process.env.WRENN_CP_URL ?? 'http://127.0.0.1:8080';

export default defineConfig({
	plugins: [sveltekit()],
	server: {
		proxy: {
			'/v1': { target: cp, changeOrigin: false, ws: true },
			'/docs': cp,
			'/openapi.json': cp,
			'/vendor': cp
		}
	},
	build: { sourcemap: false, chunkSizeWarningLimit: 1024 },
	test: {
		include: ['src/**/*.test.ts'],
		environment: 'node'
	}
});
