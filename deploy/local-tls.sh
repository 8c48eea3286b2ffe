#!/usr/bin/env bash
# TLS and names for one machine (docs/e2b.md, "TLS and names"), run by
# deploy/quickstart.sh as root; safe to re-run, it keeps what is still good:
#   1. a local certificate authority, /etc/wrenn/tls/ca.{crt,key} (10 years;
#      the key root's, 0600), name-constrained to DOMAIN and the names under
#      it (it cannot vouch for any other site, even if its key leaks),
#      installed in the system trust store (/usr/local/share/ca-certificates,
#      update-ca-certificates);
#   2. a certificate for *.DOMAIN and DOMAIN signed by it,
#      /etc/wrenn/tls/DOMAIN.{crt,key} (the key 0600, owned by the control
#      plane's user), made again when it expires within 30 days, names other
#      names or was signed by another CA;
#   3. *.DOMAIN resolving to loopback: libnss-myhostname answers every name
#      under .localhost with 127.0.0.1 and ::1; `myhostname` goes before
#      `dns` in /etc/nsswitch.conf's hosts: line.
# Wildcards need two labels after the star (OpenSSL refuses *.localhost),
# hence wrenn.localhost.
#   deploy/local-tls.sh [DOMAIN] [CP_USER]     (wrenn.localhost, wrenn)
# Environment: WRENN_TLS_DIR (/etc/wrenn/tls); WRENN_TLS_SYSTEM=no leaves the
# trust store and nsswitch.conf alone (tests/e2b: a throw-away CA, trusted
# through SSL_CERT_FILE / NODE_EXTRA_CA_CERTS), and only checks that names
# resolve. Prints nothing but steps.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
WRENN_BUILDER=${WRENN_BUILDER:-local-tls}
. "$root/images/lib.sh"

domain=${1:-wrenn.localhost}
cp_user=${2:-wrenn}
dir=${WRENN_TLS_DIR:-/etc/wrenn/tls}
ca_key=$dir/ca.key
ca_crt=$dir/ca.crt
key=$dir/$domain.key
crt=$dir/$domain.crt
trust=/usr/local/share/ca-certificates/wrenn-local-ca.crt

system=${WRENN_TLS_SYSTEM:-yes}
[ "$system" = no ] || [ "$(id -u)" -eq 0 ] ||
    die "local-tls.sh must run as root (it writes the system trust store and nsswitch.conf)" "sudo $0"
require_cmd openssl "apt-get install openssl"
case $domain in
    *.localhost) ;;
    *) die "'$domain' is not under .localhost: only names under .localhost resolve to this machine without DNS" "use wrenn.localhost, or your own domain with DNS and a certificate from your CA" ;;
esac
mkdir -p "$dir"
chmod 755 "$dir"

# ---- 1. the local CA ---------------------------------------------------------
ca_valid() {
    [ -s "$ca_key" ] && [ -s "$ca_crt" ] && openssl x509 -in "$ca_crt" -noout -checkend $((30 * 86400)) >/dev/null 2>&1 &&
        openssl x509 -in "$ca_crt" -noout -ext nameConstraints 2>/dev/null | grep -q "DNS:$domain\$" &&
        [ "$(openssl x509 -in "$ca_crt" -noout -pubkey | openssl sha256)" = "$(openssl pkey -in "$ca_key" -pubout | openssl sha256)" ]
}
if ca_valid; then
    step "local CA $ca_crt (kept)"
else
    tmp=$(mktemp -d "$dir/.ca.XXXXXX")
    (umask 077 && openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$tmp/ca.key" 2>/dev/null)
    openssl req -x509 -new -key "$tmp/ca.key" -sha256 -days 3650 \
        -subj "/O=Wrenn/CN=Wrenn local CA ($(hostname))" \
        -addext "basicConstraints=critical,CA:TRUE,pathlen:0" \
        -addext "keyUsage=critical,keyCertSign,cRLSign" \
        -addext "nameConstraints=critical,permitted;DNS:$domain" \
        -addext "subjectKeyIdentifier=hash" \
        -out "$tmp/ca.crt" 2>/dev/null || die "openssl could not make the local CA" "check: openssl version"
    chmod 600 "$tmp/ca.key"
    chmod 644 "$tmp/ca.crt"
    mv -f "$tmp/ca.key" "$ca_key"
    mv -f "$tmp/ca.crt" "$ca_crt"
    rmdir "$tmp"
    rm -f "$crt" # signed by the CA before
    step "made a local CA: $ca_crt"
fi
if [ "$system" != no ] && ! cmp -s "$ca_crt" "$trust"; then
    install -m 0644 "$ca_crt" "$trust"
    update-ca-certificates >/dev/null 2>&1 || die "update-ca-certificates failed" "apt-get install ca-certificates, then re-run"
    step "trusted by the system: $trust"
fi

# ---- 2. the certificate for *.DOMAIN -----------------------------------------
cert_valid() {
    [ -s "$key" ] && [ -s "$crt" ] || return 1
    openssl x509 -in "$crt" -noout -checkend $((30 * 86400)) >/dev/null 2>&1 || return 1
    openssl verify -CAfile "$ca_crt" "$crt" >/dev/null 2>&1 || return 1
    local names
    names=$(openssl x509 -in "$crt" -noout -ext subjectAltName 2>/dev/null | tail -n +2 | tr -d ' ')
    [ "$names" = "DNS:*.$domain,DNS:$domain" ] || return 1
    [ "$(openssl x509 -in "$crt" -noout -pubkey | openssl sha256)" = "$(openssl pkey -in "$key" -pubout | openssl sha256)" ]
}
if cert_valid; then
    step "certificate for *.$domain: $crt (kept)"
else
    tmp=$(mktemp -d "$dir/.leaf.XXXXXX")
    (umask 077 && openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$tmp/leaf.key" 2>/dev/null)
    openssl req -new -key "$tmp/leaf.key" -subj "/O=Wrenn/CN=*.$domain" -out "$tmp/leaf.csr" 2>/dev/null
    printf '%s\n' \
        "basicConstraints=critical,CA:FALSE" \
        "keyUsage=critical,digitalSignature" \
        "extendedKeyUsage=serverAuth" \
        "subjectAltName=DNS:*.$domain,DNS:$domain" \
        "subjectKeyIdentifier=hash" \
        "authorityKeyIdentifier=keyid" >"$tmp/ext"
    openssl x509 -req -in "$tmp/leaf.csr" -CA "$ca_crt" -CAkey "$ca_key" -CAcreateserial \
        -days 825 -sha256 -extfile "$tmp/ext" -out "$tmp/leaf.crt" 2>/dev/null ||
        die "openssl could not sign the certificate for *.$domain" "delete $dir and re-run"
    chmod 644 "$tmp/leaf.crt"
    chown "$cp_user:$cp_user" "$tmp/leaf.key"
    chmod 600 "$tmp/leaf.key"
    mv -f "$tmp/leaf.key" "$key"
    mv -f "$tmp/leaf.crt" "$crt"
    rm -rf "$tmp" "$dir/ca.srl"
    step "made a certificate for *.$domain and $domain: $crt"
fi
# Owner and mode also on a kept key (an earlier run, another user).
chown "$cp_user:$cp_user" "$key"
chmod 600 "$key"
chmod 600 "$ca_key"

# ---- 3. names under DOMAIN resolve to loopback --------------------------------
if [ "$system" != no ] && ! dpkg-query -W -f='${Status}' libnss-myhostname 2>/dev/null | grep -q "install ok installed"; then
    step "installing libnss-myhostname (names under .localhost resolve to this machine)"
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -q --no-install-recommends libnss-myhostname >/tmp/wrenn-apt.log 2>&1 ||
        { apt-get update -q >/dev/null && apt-get install -y -q --no-install-recommends libnss-myhostname >/tmp/wrenn-apt.log 2>&1; } ||
        { tail -n 20 /tmp/wrenn-apt.log >&2; die "apt-get install libnss-myhostname failed" "fix the error above and re-run"; }
fi
# The hosts: line with `myhostname` right after `files` (before `dns`: a
# resolver would be asked about .localhost names first, and slowly).
nss=/etc/nsswitch.conf
hosts_line=$(grep -E '^hosts:' "$nss" | head -n1 || true)
if [ "$system" = no ]; then
    :
elif [ -z "$hosts_line" ]; then
    printf 'hosts:          files myhostname dns\n' >>"$nss"
    step "added a hosts: line to $nss"
else
    # shellcheck disable=SC2001 # one substitution over one line
    sources=$(echo "$hosts_line" | sed -E 's/^hosts:[[:space:]]*//')
    wanted=$(echo " $sources " | sed -E 's/ myhostname( \[[^]]*\])? / /; s/ files / files myhostname /' | sed -E 's/^ +| +$//g')
    case " $wanted " in *" myhostname "*) ;; *) wanted="files myhostname $wanted" ;; esac
    if [ "$wanted" != "$sources" ]; then
        tmp=$(mktemp "$nss.XXXXXX")
        awk -v line="hosts:          $wanted" 'BEGIN { done = 0 } /^hosts:/ && !done { print line; done = 1; next } { print }' "$nss" >"$tmp"
        chmod 644 "$tmp"
        mv -f "$tmp" "$nss"
        step "$nss: hosts: $wanted"
    fi
fi
probe=3000-wrenn-check.$domain
answer=$(getent hosts "$probe" || true)
case $answer in
    127.0.0.1* | ::1*) step "$probe resolves to loopback (${answer%% *})" ;;
    *) die "$probe does not resolve to 127.0.0.1 or ::1 (got: '${answer:-nothing}')" "check the hosts: line of $nss (it needs myhostname) and that libnss-myhostname is installed" ;;
esac
