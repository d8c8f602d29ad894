"""A JWT-bearer (RFC 7523) token endpoint that verifies assertions with authlib.

Usage: jwt_bearer_server.py PUBLIC_KEY_PEM ISSUER AUDIENCE

Listens on 127.0.0.1, port 0, prints {"port": N} once ready, and stops when its standard input
closes. POST /token with grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer&assertion=JWT:
RS256 only, signature by the given key, `iss` and `aud` as given, `exp` and `iat` required and
valid, and a lifetime of at most one hour (as Google requires).
"""
import json
import sys
import threading
import warnings

# authlib announces its move to joserfc on import; the tests read nothing from stderr anyway.
warnings.simplefilter("ignore")
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

from authlib.jose import JsonWebToken
from authlib.jose.errors import JoseError

PUBLIC_KEY = open(sys.argv[1]).read()
ISSUER, AUDIENCE = sys.argv[2], sys.argv[3]
JWT = JsonWebToken(["RS256"])
GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def reply(self, status, body):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self):
        form = parse_qs(self.rfile.read(int(self.headers.get("Content-Length", 0))).decode())
        if form.get("grant_type") != [GRANT]:
            return self.reply(400, {"error": "unsupported_grant_type"})
        try:
            claims = JWT.decode(
                form["assertion"][0],
                PUBLIC_KEY,
                claims_options={
                    "iss": {"essential": True, "value": ISSUER},
                    "aud": {"essential": True, "value": AUDIENCE},
                    "exp": {"essential": True},
                    "iat": {"essential": True},
                },
            )
            claims.validate()
            if claims["exp"] - claims["iat"] > 3600:
                raise ValueError("assertion lifetime over one hour")
        except (JoseError, KeyError, ValueError) as e:
            return self.reply(400, {"error": "invalid_grant", "error_description": str(e)})
        self.reply(200, {"access_token": "sa-" + claims.get("sub", claims["iss"]), "token_type": "Bearer",
                         "expires_in": 3600, "scope": claims.get("scope", "")})


server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
threading.Thread(target=server.serve_forever, daemon=True).start()
print(json.dumps({"port": server.server_address[1]}), flush=True)
sys.stdin.read()
server.shutdown()
