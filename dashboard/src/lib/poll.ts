// Runs `tick` every `intervalMs` while the tab is visible: stops when it is
// hidden, ticks at once when it shows again. Ticks never overlap.

export function startPolling(tick: () => Promise<void>, intervalMs: number): () => void {
	let timer: ReturnType<typeof setTimeout> | null = null;
	let running = false;
	let stopped = false;

	const schedule = () => {
		if (stopped || document.visibilityState === 'hidden') return;
		timer = setTimeout(run, intervalMs);
	};
	const run = async () => {
		timer = null;
		if (running || stopped) return;
		running = true;
		try {
			await tick();
		} finally {
			running = false;
			schedule();
		}
	};
	const onVisibility = () => {
		if (document.visibilityState === 'hidden') {
			if (timer) clearTimeout(timer);
			timer = null;
		} else if (!timer && !running) {
			run();
		}
	};

	document.addEventListener('visibilitychange', onVisibility);
	run();
	return () => {
		stopped = true;
		if (timer) clearTimeout(timer);
		document.removeEventListener('visibilitychange', onVisibility);
	};
}
