#!/usr/bin/env python3
"""A stand-in browser for $BROWSER in the CLI tests: GET the URL it is given and follow every
redirect with a cookie jar, as a browser would, until the last page (the app's loopback
callback) answers. The test OpenID provider logs in and consents by itself."""
import http.cookiejar
import sys
import urllib.request

opener = urllib.request.build_opener(
    urllib.request.ProxyHandler({}),
    urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()),
)
opener.open(sys.argv[1], timeout=20).read()
