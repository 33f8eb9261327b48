# known.sh: assertions held back by an open finding (sourced, bash; needs
# log and fail from tests/integration/node/lib.sh).
#
# known FINDING WHAT: report an assertion that fails because of a finding in
# tests/chaos/FINDINGS.md, when the check runs with KNOWN_FINDINGS listing
# it (mk/chaos.mk sets it so `make check` stays green until the fix); else
# fail. The line says what to remove once the owner fixes it.
known() {
    case " ${KNOWN_FINDINGS:-} " in
        *" $1 "*) log "XFAIL (known $1, tests/chaos/FINDINGS.md): $2" ;;
        *) fail "$2 ($1 in tests/chaos/FINDINGS.md)" ;;
    esac
}
# xpass FINDING: the assertion held although the finding is listed.
xpass() {
    case " ${KNOWN_FINDINGS:-} " in
        *" $1 "*) log "XPASS: $1 seems fixed; drop it from KNOWN_FINDINGS in mk/chaos.mk" ;;
    esac
}
