#!/usr/bin/env bash
# Builds the dashboard into OUT (default: target/dashboard at the repo root):
# npm ci + vite build, the inline boot script moved to a file (CSP without
# 'unsafe-inline'), Redoc's standalone bundle (pinned in package-lock.json)
# copied to OUT/vendor/redoc.standalone.js. Skipped when OUT/.build-stamp
# holds the hash of package-lock.json and the sources.
# Needs only Node 20 and npm.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
root="$(cd "$here/.." && pwd)"
out="${1:-$root/target/dashboard}"
mkdir -p "$out"
out="$(cd "$out" && pwd)"

cd "$here"
stamp_of() {
	{
		find package.json package-lock.json svelte.config.js vite.config.ts tsconfig.json \
			src static scripts -type f ! -name '*.test.ts' -print0 | LC_ALL=C sort -z |
			xargs -0 sha256sum
		node --version
	} | sha256sum | cut -d' ' -f1
}
want="$(stamp_of)"
if [[ -f "$out/.build-stamp" && "$(cat "$out/.build-stamp")" == "$want" && -f "$out/index.html" ]]; then
	echo "dashboard: up to date in $out"
	exit 0
fi

npm ci --no-audit --no-fund --loglevel=error
npm run build
node scripts/externalize-boot.mjs build

# Replace OUT's contents with the new build.
find "$out" -mindepth 1 -delete
cp -R build/. "$out/"
mkdir -p "$out/vendor"
cp node_modules/redoc/bundles/redoc.standalone.js "$out/vendor/redoc.standalone.js"
printf '%s\n' "$want" >"$out/.build-stamp"
echo "dashboard: built into $out"
