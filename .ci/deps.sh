#!/bin/sh
# Installs the Debian packages quantpipe builds with, when missing.
# As root it runs apt-get; otherwise it prints the one line to run.
# one package a line, so that changes merge
pkgs="
build-essential
perl
bsdextrautils
pkg-config
libmsgpack-dev
libarchive-dev
libjansson-dev
zlib1g-dev
liblapack-dev
mandoc
jq
clang
libclang-rt-14-dev
libxml2-utils
librsvg2-bin
slurm-wlm
munge
"
missing=
for p in $pkgs; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' ||
		missing="$missing $p"
done
if [ -z "$missing" ]; then
	echo "deps: all build dependencies are installed"
	exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
	echo "deps: missing:$missing"
	echo "deps: run: sudo apt-get install -y$missing"
	exit 1
fi
echo "deps: installing:$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq && apt-get install -y -qq --no-install-recommends $missing
