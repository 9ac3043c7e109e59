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
# The CA servers verify client certificates (mutual TLS) against.
make_ca client-ca "connmatrix client CA"

# leaf name keytype san ca [startdate enddate]; $eku is the extendedKeyUsage.
eku=serverAuth
leaf() {
    name=$1 keytype=$2 san=$3 ca=$4
    "${keytype}_key" "$name.key"
    openssl req -new -key "$name.key" -subj "/CN=${name}" -out "$name.csr" 2>/dev/null
    cat > "$name.ext" <<EXT
basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=$eku
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
# Only a name that never resolves: connect_to reaches it on loopback and checks it by its name.
leaf example-invalid ec "DNS:example.invalid" ca
leaf expired ec "DNS:localhost,IP:127.0.0.1" ca 20200101000000Z 20200201000000Z
leaf unknown-ca ec "DNS:localhost,IP:127.0.0.1" rogue-ca
# Client certificates (mutual TLS): EC and RSA from the client CA, one from the rogue CA.
eku=clientAuth
leaf client-ec ec "DNS:client.example" client-ca
leaf client-rsa rsa "DNS:client.example" client-ca
leaf client-rogue ec "DNS:client.example" rogue-ca
eku=serverAuth
# The same keys encrypted: PKCS#8 (PBES2 with 3DES and HMAC-SHA1, the one PBES2 form mbedTLS
# 2.28 decrypts) and traditional PEM (Proc-Type: 4,ENCRYPTED, AES-256-CBC); passphrases beside.
printf '%s' "connmatrix pkcs8 passphrase" > client-ec-enc.pass
openssl pkcs8 -topk8 -in client-ec.key -v2 des3 -v2prf hmacWithSHA1 \
    -passout file:client-ec-enc.pass -out client-ec-enc.key
printf '%s' "connmatrix traditional passphrase" > client-rsa-trad.pass
openssl pkey -in client-rsa.key -traditional -aes256 -passout file:client-rsa-trad.pass \
    -out client-rsa-trad.key
# Each leaf's public key pin (curl's sha256// form without the prefix), computed by openssl for
# the pinning tests, so they do not check the library against itself.
for name in localhost-ec localhost-rsa other-host expired unknown-ca; do
    openssl x509 -in "$name.pem" -pubkey -noout | openssl pkey -pubin -outform der |
        openssl dgst -sha256 -binary | openssl base64 -A > "$name.pin"
done
rm -rf ca-db ca.cnf ./*.srl
# A stamp so Meson knows the whole set is there.
date -u +%Y-%m-%dT%H:%M:%SZ > "${stamp:-stamp}"
