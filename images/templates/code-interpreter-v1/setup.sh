#!/bin/sh
# Runs inside the template's root (chroot) after debootstrap and the venv
# install (images/rootfs/build.sh). The same user as `base`, plus the
# code-interpreter venv made importable for the server (rootfs/ overlay).
set -eu
useradd --create-home --home-dir /home/user --shell /bin/bash --user-group user
passwd -d user >/dev/null
echo 'user ALL=(ALL:ALL) NOPASSWD: ALL' > /etc/sudoers.d/90-wrenn-user
chmod 0440 /etc/sudoers.d/90-wrenn-user
printf '[global]\nbreak-system-packages = true\n' > /etc/pip.conf
# The server's package lives in /opt/wrenn/code-interpreter (copied later,
# in the image's second stage); a .pth file puts it on the venv's path.
for site in /opt/wrenn/ci-venv/lib/python3*/site-packages; do
    echo /opt/wrenn/code-interpreter > "$site/wrenn-code-interpreter.pth"
done
# `python`/`pip` in a sandbox are the venv's, where numpy/pandas/matplotlib are.
printf 'export PATH=/opt/wrenn/ci-venv/bin:$PATH\n' > /etc/profile.d/wrenn-ci-venv.sh
# Matplotlib's font cache, built once here rather than in every first plot.
runuser -u user -- env HOME=/home/user MPLBACKEND=Agg /opt/wrenn/ci-venv/bin/python -c 'import matplotlib.pyplot' ||
    echo "warning: matplotlib font cache not built" >&2
