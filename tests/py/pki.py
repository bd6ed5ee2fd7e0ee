"""Test certificates made with the openssl command line, as docs/security.md tells an
operator to: a CA, and certificates it signs for 127.0.0.1 and localhost that serve as
server and client certificates alike."""

import os
import subprocess


def _run(*args):
    subprocess.run(args, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


class Ca:
    """A certificate authority whose files live in `dir`."""

    def __init__(self, dir, name):
        self.dir = dir
        self.name = name
        self.key = os.path.join(dir, name + "-ca.key")
        self.cert = os.path.join(dir, name + "-ca.crt")
        _run("openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
             "-nodes", "-keyout", self.key, "-out", self.cert, "-days", "2",
             "-subj", "/CN=fencepost test CA " + name)
        self._serial = 0

    def issue(self, name, into=None):
        """Issues a certificate for 127.0.0.1/localhost; returns (cert, key) paths.
        `into` overwrites an existing pair (rotation)."""
        base = into or os.path.join(self.dir, name)
        key, csr, crt = base + ".key", base + ".csr", base + ".crt"
        ext = base + ".ext"
        with open(ext, "w") as f:
            f.write("subjectAltName=IP:127.0.0.1,DNS:localhost\n"
                    "extendedKeyUsage=serverAuth,clientAuth\n")
        _run("openssl", "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
             "-keyout", key + ".new", "-out", csr, "-subj", "/CN=" + name)
        self._serial += 1
        _run("openssl", "x509", "-req", "-in", csr, "-CA", self.cert, "-CAkey", self.key,
             "-set_serial", str(int.from_bytes(os.urandom(8), "big")), "-days", "2",
             "-extfile", ext, "-out", crt + ".new")
        # Renamed into place, so a reload never reads a half-written file.
        os.replace(key + ".new", key)
        os.replace(crt + ".new", crt)
        return crt, key
