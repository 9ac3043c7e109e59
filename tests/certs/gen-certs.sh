#!/bin/sh
# Generates every certificate the tests use, with the openssl command, into $1.
# Valid leaves run for ten years from now, so they never expire during a CI run; the
# expired leaf ended long ago. Nothing here is a secret: fresh keys are made on every build.
set -eu
out=$1
stamp=${2:-}
[ -n "$stamp" ] && stamp=$(realpath -m "$stamp")
mkdir -p "$out"
cd "$out"
rm -rf ca-db && mkdir ca-db && : > ca-db/index.txt && echo 1000 > ca-db/serial

ec_key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null; }
rsa_key() { openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$1" 2>/dev/null; }

# CA (trusted by the tests) and a rogue CA (trusted by nobody).
make_ca() { # name cn
    ec_key "$1.key"
    openssl req -x509 -new -key "$1.key" -sha256 -days 3650 -subj "/CN=$2" \
        -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign \
        -out "$1.pem" 2>/dev/null
}
make_ca ca "connmatrix test CA"
make_ca rogue-ca "connmatrix rogue CA"

# leaf name keytype san ca [startdate enddate]
leaf() {
    name=$1 keytype=$2 san=$3 ca=$4
    "${keytype}_key" "$name.key"
    openssl req -new -key "$name.key" -subj "/CN=${name}" -out "$name.csr" 2>/dev/null
    cat > "$name.ext" <<EXT
basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth
subjectAltName=$san
EXT
    if [ $# -ge 6 ]; then
        cat > ca.cnf <<CNF
[ca]
default_ca=ca_section
[ca_section]
database=ca-db/index.txt
serial=ca-db/serial
new_certs_dir=ca-db
default_md=sha256
policy=any
unique_subject=no
[any]
commonName=supplied
CNF
        openssl ca -batch -config ca.cnf -cert "$ca.pem" -keyfile "$ca.key" -in "$name.csr" \
            -startdate "$5" -enddate "$6" -extfile "$name.ext" -notext -out "$name.pem" 2>/dev/null
    else
        openssl x509 -req -in "$name.csr" -CA "$ca.pem" -CAkey "$ca.key" -CAcreateserial \
            -days 3650 -sha256 -extfile "$name.ext" -out "$name.pem" 2>/dev/null
    fi
    rm -f "$name.csr" "$name.ext"
}

leaf localhost-ec ec "DNS:localhost,IP:127.0.0.1,IP:::1" ca
leaf localhost-rsa rsa "DNS:localhost,IP:127.0.0.1,IP:::1" ca
leaf other-host ec "DNS:other.example,IP:127.0.0.2" ca
leaf expired ec "DNS:localhost,IP:127.0.0.1" ca 20200101000000Z 20200201000000Z
leaf unknown-ca ec "DNS:localhost,IP:127.0.0.1" rogue-ca
# Each leaf's public key pin (curl's sha256// form without the prefix), computed by openssl for
# the pinning tests, so they do not check the library against itself.
for name in localhost-ec localhost-rsa other-host expired unknown-ca; do
    openssl x509 -in "$name.pem" -pubkey -noout | openssl pkey -pubin -outform der |
        openssl dgst -sha256 -binary | openssl base64 -A > "$name.pin"
done
rm -rf ca-db ca.cnf ./*.srl
# A stamp so Meson knows the whole set is there.
date -u +%Y-%m-%dT%H:%M:%SZ > "${stamp:-stamp}"
