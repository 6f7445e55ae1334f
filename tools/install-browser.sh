#!/usr/bin/env sh
# The browser that tests/test_report_browser.py opens the HTML report in: Debian's chromium
# package, installed when missing (as root, with apt-get; never a browser download by a
# tool). Where it cannot be installed (not root, no apt-get, no package index), this says
# so and the browser test skips with that reason; it never fails `make test` by itself.
set -u
if command -v chromium >/dev/null 2>&1; then
    exit 0
fi
if [ "$(id -u)" != "0" ] || ! command -v apt-get >/dev/null 2>&1; then
    echo "install-browser: chromium is not installed and cannot be here (needs root and" \
         "apt-get): the browser test of the report will skip" >&2
    exit 0
fi
echo "install-browser: installing Debian's chromium package (apt-get) for the report's browser test"
if ! { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null; }; then
    echo "install-browser: apt-get could not install chromium: the browser test will skip" >&2
fi
exit 0
