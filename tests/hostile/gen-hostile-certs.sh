#!/bin/sh
# The hostile suite's own certificates, with the openssl command, into $1 (the shared ones come
# from tests/certs/gen-certs.sh): a self-signed leaf for localhost, and for each depth N after
# the stamp, a chain of N intermediates between a root of its own and a localhost leaf.
set -eu
out=$1
stamp=$(realpath -m "$2")
shift 2
mkdir -p "$out"
cd "$out"

ec_key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null; }

# Self-signed: a leaf that is its own issuer, trusted by nobody.
ec_key self-signed.key
openssl req -x509 -new -key self-signed.key -sha256 -days 3650 -subj "/CN=localhost" \
    -addext basicConstraints=critical,CA:FALSE -addext subjectAltName=DNS:localhost,IP:127.0.0.1 \
    -out self-signed.pem 2>/dev/null

# Long chains: root -> int-1 -> ... -> int-N -> leaf, for each N given (chain-N-root.pem is the
# trust anchor, chain-N-leaf.pem the leaf followed by its N intermediates, as a server sends it).
printf 'basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\n' > ca.ext
printf 'basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\nsubjectAltName=DNS:localhost,IP:127.0.0.1\n' > leaf.ext
# One key signs every link (the chain's length is the point, not its keys).
ec_key chain.key
for depth in "$@"; do
    p=chain-$depth
    openssl req -x509 -new -key chain.key -sha256 -days 3650 -subj "/CN=hostile chain root $depth" \
        -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign \
        -out "$p-root.pem" 2>/dev/null
    issuer=$p-root.pem
    : > intermediates.pem
    i=1
    while [ "$i" -le "$depth" ]; do
        openssl req -new -key chain.key -subj "/CN=hostile intermediate $i of $depth" -out int.csr 2>/dev/null
        openssl x509 -req -in int.csr -CA "$issuer" -CAkey chain.key -set_serial "$((1000 + i))" \
            -days 3650 -sha256 -extfile ca.ext -out int.pem 2>/dev/null
        cat int.pem intermediates.pem > intermediates.tmp
        mv intermediates.tmp intermediates.pem
        mv int.pem issuer.pem
        issuer=issuer.pem
        i=$((i + 1))
    done
    ec_key "$p-leaf.key"
    openssl req -new -key "$p-leaf.key" -subj "/CN=localhost" -out leaf.csr 2>/dev/null
    openssl x509 -req -in leaf.csr -CA "$issuer" -CAkey chain.key -set_serial 999 \
        -days 3650 -sha256 -extfile leaf.ext -out leaf.pem 2>/dev/null
    # Leaf first, then the intermediate that signed it, down to the root's child.
    cat leaf.pem intermediates.pem > "$p-leaf.pem"
done
rm -f ca.ext leaf.ext chain.key int.csr leaf.csr leaf.pem issuer.pem intermediates.pem ./*.srl
date -u +%Y-%m-%dT%H:%M:%SZ > "$stamp"
