#!/bin/sh
# Runs inside the template's root (chroot) after debootstrap.
set -eu
useradd --create-home --home-dir /home/user --shell /bin/bash --user-group user
passwd -d user >/dev/null
echo 'user ALL=(ALL:ALL) NOPASSWD: ALL' > /etc/sudoers.d/90-wrenn-user
chmod 0440 /etc/sudoers.d/90-wrenn-user
# pip refuses system installs on bookworm without this; sandboxes are disposable.
printf '[global]\nbreak-system-packages = true\n' > /etc/pip.conf
