# shellcheck shell=bash
# dnf on the RHEL family and openEuler (PACKAGES=dnf): the errors it reports that no retry
# fixes; dnf_run is in the install phase.

# package_error FILE: dnf's words for a package or version that is not there, and a
# repository's answer that no retry changes.
package_error() {
  grep -Eq \
    -e 'No match for argument' \
    -e 'nothing provides ' \
    -e 'Status code: (400|401|403|404|405|410) for ' \
    "$1"
}

# package_command_text TEXT: dnf_run by the program's own name, for the log.
package_command_text() {
  printf '%s' "${1/#dnf_run/dnf}"
}
