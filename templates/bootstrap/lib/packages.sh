# shellcheck shell=bash
# Package-manager steps (apt or dnf: PACKAGES), for scripts with an install phase: another
# run (unattended-upgrades, apt-daily, dnf-automatic) may hold the package lock.

# with_package_lock COMMAND...: a local package-manager step (dpkg, apt-mark, dnf
# versionlock). It is only repeated while another run holds the package lock.
with_package_lock() {
  try_command local "$@"
}

# package_lock_held FILE: the output says that another apt, dpkg, dnf or rpm run holds the
# lock. The tools' own messages: they take the locks (fcntl, not flock) themselves.
package_lock_held() {
  grep -Eq \
    -e 'Could not get lock /' \
    -e 'Unable to acquire the dpkg frontend lock' \
    -e 'lock (was|is) locked by another process' \
    -e 'database is locked by another process' \
    -e 'already locked by [0-9]+' \
    -e "can't create transaction lock" \
    "$1"
}
