#!/usr/bin/env python3
"""A real SMTP server on loopback for the email tests: aiosmtpd (pinned in .ci/run) with
STARTTLS required and AUTH (PLAIN/LOGIN) checked, writing each message it accepts, parsed by
Python's `email` package, as one JSON file.

    python3 testdata/smtp/sink.py DIR PORT USER PASSWORD

DIR/ca.pem (a private CA, for the client to trust) and DIR/cert.pem, DIR/key.pem (the server's,
SAN 127.0.0.1, signed by it) are made with openssl unless present;
DIR/ready is written once the server listens; messages go to DIR/msg-<n>.json with the
envelope, the headers, and each text/* part.
"""

import asyncio
import email
import email.policy
import json
import os
import ssl
import subprocess
import sys

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

out, port, user, password = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
cert, key = os.path.join(out, "cert.pem"), os.path.join(out, "key.pem")
ca, ca_key = os.path.join(out, "ca.pem"), os.path.join(out, "ca-key.pem")


def openssl(*args):
    subprocess.run(["openssl", *args], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


if not os.path.exists(cert):
    # A private CA (what the client trusts, `email.caFile`) and the server's certificate for
    # 127.0.0.1 signed by it: the client's verification is the real one.
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=curfew test CA",
            "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign",
            "-keyout", ca_key, "-out", ca)
    csr = os.path.join(out, "server.csr")
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1", "-keyout", key, "-out", csr)
    ext = os.path.join(out, "server.ext")
    with open(ext, "w") as f:
        f.write("subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n")
    openssl("x509", "-req", "-in", csr, "-CA", ca, "-CAkey", ca_key, "-CAcreateserial", "-days", "2",
            "-extfile", ext, "-out", cert)
context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
context.load_cert_chain(cert, key)


class Sink:
    count = 0

    async def handle_DATA(self, server, session, envelope):
        msg = email.message_from_bytes(envelope.content, policy=email.policy.default)
        parts = {}
        for part in msg.walk():
            if part.get_content_maintype() == "text":
                parts[part.get_content_type()] = part.get_content()
        Sink.count += 1
        record = {
            "mailFrom": envelope.mail_from,
            "rcptTos": envelope.rcpt_tos,
            "authenticated": session.authenticated,
            "tls": session.ssl is not None,
            "headers": {k: str(v) for k, v in msg.items()},
            "contentType": msg.get_content_type(),
            "parts": parts,
        }
        path = os.path.join(out, f"msg-{Sink.count:04d}.json")
        with open(path + ".tmp", "w") as f:
            json.dump(record, f)
        os.replace(path + ".tmp", path)
        return "250 OK"


def authenticator(server, session, envelope, mechanism, auth_data):
    ok = isinstance(auth_data, LoginPassword) and auth_data.login.decode() == user \
        and auth_data.password.decode() == password
    return AuthResult(success=ok, handled=False)


controller = Controller(
    Sink(), hostname="127.0.0.1", port=port, tls_context=context, require_starttls=True,
    authenticator=authenticator, auth_required=True,
)
controller.start()
with open(os.path.join(out, "ready"), "w") as f:
    f.write(str(port))
try:
    asyncio.new_event_loop().run_forever()
finally:
    controller.stop()
