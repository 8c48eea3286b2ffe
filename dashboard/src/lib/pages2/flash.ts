// A one-shot message that outlives a page's re-mount (the layout mounts
// the page afresh when the team changes, e.g. after creating or leaving one).
let pending = '';

export function setFlash(text: string): void {
	pending = text;
}

/** The pending message, once; '' when there is none. */
export function takeFlash(): string {
	const text = pending;
	pending = '';
	return text;
}
