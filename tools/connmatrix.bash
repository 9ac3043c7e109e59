# bash completion for connmatrix(1), installed as share/bash-completion/completions/connmatrix.
# Completes the commands, each command's flags (the cli suite checks they are exactly those of
# its --help), --backend/--backends with the backends this connmatrix was built with (from its
# --version), --mode/--modes, TLS versions, methods, and file names where a flag takes a file.
# Needs nothing but bash: no bash-completion helper functions are used.

_connmatrix_backends() {
    local exe=${1/#\~/$HOME} names
    names=$("$exe" --version 2>/dev/null | sed -n 's/^  \([a-z0-9]*\)  .*/\1/p')
    echo "${names:-openssl gnutls mbedtls}"
}

_connmatrix() {
    local cur=${COMP_WORDS[COMP_CWORD]} prev=""
    local at=$((COMP_CWORD - 1))
    # --flag=value: bash splits at '=' (COMP_WORDBREAKS); complete the value of --flag.
    if [[ $cur == "=" ]]; then
        cur=""
    elif ((at > 0)) && [[ ${COMP_WORDS[at]} == "=" ]]; then
        at=$((at - 1))
    fi
    ((at >= 0)) && prev=${COMP_WORDS[at]}

    local cmd="" i
    for ((i = 1; i < COMP_CWORD; i++)); do
        case ${COMP_WORDS[i]} in
            get | probe | explain | check-config)
                cmd=${COMP_WORDS[i]}
                break
                ;;
        esac
    done

    local modes="alpn h2-only http1 prior-knowledge prior-knowledge-alpn h2-only-prior-knowledge"
    local shared="--config --cacert -k --insecure --tls-max --proxy --pinnedpubkey -E --cert --key
        --key-pass-file --key-pass-env --tls-earlydata --resolve --connect-to"
    local flags
    case $cmd in
        get)
            flags="-h --help -X --request -H --header -d --data --data-binary -o --output
                -i --include $shared --backend --mode --timeout -v --verbose -n --repeat -f --fail
                --http1.1 --http2 --http2-prior-knowledge --no-alpn --tlsv1.2 --tlsv1.3
                -w --write-out -s --silent -S --show-error --retry --retry-delay --retry-max-time
                --retry-connrefused --retry-all-errors -L --location --max-redirs --compressed
                --dns-servers --expect100-timeout"
            ;;
        probe)
            flags="-h --help --backends --modes --tls $shared --json --expect --junit --html
                --parallel --timeout -v --verbose --resumption"
            ;;
        explain) flags="-h --help --config --json" ;;
        check-config) flags="-h --help --all-backends" ;;
        *) flags="-h --help --version" ;;
    esac

    # A comma-separated list: complete its last element.
    local list="" values=""
    case $prev in
        --backend)
            values=$(_connmatrix_backends "${COMP_WORDS[0]}")
            ;;
        --backends)
            list=1 values=$(_connmatrix_backends "${COMP_WORDS[0]}")
            ;;
        --mode) values=$modes ;;
        --modes) list=1 values="$modes config" ;;
        --tls-max) values="1.2 1.3" ;;
        --tls) list=1 values="1.2 1.3" ;;
        -X | --request) values="GET HEAD POST PUT PATCH DELETE OPTIONS" ;;
        --config | --cacert | -o | --output | -E | --cert | --key | --key-pass-file | --expect | \
            --junit | --html)
            compopt -o filenames 2>/dev/null
            mapfile -t COMPREPLY < <(compgen -f -- "$cur")
            return 0
            ;;
        -H | --header | -d | --data | --data-binary | -w | --write-out | --timeout | -n | --repeat | \
            --retry | --retry-delay | --retry-max-time | --max-redirs | --proxy | --pinnedpubkey | \
            --key-pass-env | --parallel | --resolve | --connect-to | --dns-servers | --expect100-timeout)
            COMPREPLY=()  # a value of the user's own
            return 0
            ;;
    esac
    if [[ -n $values ]]; then
        if [[ -n $list ]]; then
            local last=${cur##*,}
            local done=${cur%"$last"}
            mapfile -t COMPREPLY < <(compgen -P "$done" -W "$values" -- "$last")
        else
            mapfile -t COMPREPLY < <(compgen -W "$values" -- "$cur")
        fi
        return 0
    fi

    if [[ $cur == -* ]]; then
        mapfile -t COMPREPLY < <(compgen -W "$flags" -- "$cur")
    elif [[ -z $cmd ]]; then
        mapfile -t COMPREPLY < <(compgen -W "get probe explain check-config" -- "$cur")
    elif [[ $cmd == check-config ]]; then
        compopt -o filenames 2>/dev/null
        mapfile -t COMPREPLY < <(compgen -f -- "$cur")
    else
        COMPREPLY=()  # the URL
    fi
    return 0
}

complete -F _connmatrix connmatrix
