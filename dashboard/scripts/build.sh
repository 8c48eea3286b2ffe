#!/usr/bin/env bash
# Builds the dashboard into OUT (default: target/dashboard at the repo root):
# npm ci + vite build, the inline boot script moved to a file (CSP without
# 'unsafe-inline'), Redoc's standalone bundle (pinned in package-lock.json)
# copied to OUT/vendor/redoc.standalone.js with its cdn.redoc.ly logo URL
# pointed at OUT/vendor/logo-mini.svg, and a NAME.gz copy of each larger
# text file (served to gzip clients). Skipped when OUT/.build-stamp
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
# Redoc points at its logo on cdn.redoc.ly (a third-party request the CSP
# blocks): serve our own copy (static/vendor/logo-mini.svg) instead, and fail
# if any other cdn.redoc.ly asset URL is left.
sed 's#https://cdn\.redoc\.ly/redoc/logo-mini\.svg#/vendor/logo-mini.svg#g' \
	node_modules/redoc/bundles/redoc.standalone.js >"$out/vendor/redoc.standalone.js"
[[ -f "$out/vendor/logo-mini.svg" ]] || { echo "dashboard: $out/vendor/logo-mini.svg is missing" >&2; exit 1; }
if grep -o 'https://cdn\.redoc\.ly[^"'"'"' )]*' "$out/vendor/redoc.standalone.js" >&2; then
	echo "dashboard: redoc.standalone.js still loads assets from cdn.redoc.ly (above)" >&2
	exit 1
fi
# A gzip copy beside every text file worth compressing: wrenn-cp serves it
# to clients that accept gzip (no per-request compression). -n: no name or
# time inside, so a rebuild of the same sources gives the same bytes.
find "$out" -type f -size +1k \( -name '*.js' -o -name '*.mjs' -o -name '*.css' -o -name '*.html' \
	-o -name '*.svg' -o -name '*.json' -o -name '*.map' -o -name '*.txt' \) -exec gzip -9 -k -n -f {} +
printf '%s\n' "$want" >"$out/.build-stamp"
echo "dashboard: built into $out"
