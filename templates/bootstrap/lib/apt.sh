# shellcheck shell=bash
# apt on Debian and Ubuntu (PACKAGES=apt): the errors it reports that no retry fixes, and how
# k8sgen runs it.

# package_error FILE: apt's words for a package, version or repository that is not there, or
# a repository whose signature does not check out.
package_error() {
  grep -Eq \
    -e 'Unable to locate package' \
    -e "Version '[^']*' for '[^']*' was not found" \
    -e 'has no installation candidate' \
    -e 'does not have a Release file' \
    -e 'NO_PUBKEY' \
    -e 'is not signed' \
    "$1"
}

# Plain `apt-get update` exits 0 even when every repository failed (apt >= 2.1.16 has this).
# A held lock is waited for by tries (apt 2.6's update ignores DPkg::Lock::Timeout).
apt_update() {
  apt_get update -o APT::Update::Error-Mode=any
}

# apt_get ARGS...: apt-get with APT_OPTIONS (offline: k8sgen's sources only).
apt_get() {
  apt-get "${APT_OPTIONS[@]}" "$@"
}

# package_command_text TEXT: the wrappers above by the program's own name, for the log.
package_command_text() {
  local text=${1/#apt_update/apt-get update}
  printf '%s' "${text/#apt_get/apt-get}"
}
