"""Grading across machines, safely: a real `dask scheduler` and `dask worker` speaking TLS on 127.0.0.1 with
certificates this test makes (its own certificate authority), the instructor's `autograder grade --scheduler tls://`
with the client's certificate, and the same command without one, refused with a line that names the scheduler."""
from __future__ import annotations

import datetime
import ipaddress
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from autograder.cluster import TLS_NEEDED
from tests.helpers import stop
from tests.support.submissions_factory import (ASSIGNMENT, HONEST, expected_score, fresh_course, gradebook_scores,
                                              write_submission)

pytestmark = pytest.mark.slow

pytest.importorskip("distributed")
x509 = pytest.importorskip("cryptography.x509")

START_WAIT_S = 60


def _certificates(folder: Path) -> dict[str, Path]:
    """A CA, and one certificate it signed for 127.0.0.1 that the scheduler, the worker and the client all use."""
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.datetime.now(datetime.UTC)

    def cert(subject, issuer, key, signer, *, ca: bool):
        builder = (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer).public_key(key.public_key())
                   .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(hours=1))
                   .not_valid_after(now + datetime.timedelta(days=1))
                   .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
        if not ca:
            builder = builder.add_extension(x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        return builder.sign(signer, hashes.SHA256())

    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "convkit test CA")])
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    paths = {"ca": folder / "ca.pem", "cert": folder / "cert.pem", "key": folder / "key.pem"}
    paths["ca"].write_bytes(cert(ca_name, ca_name, ca_key, ca_key, ca=True).public_bytes(serialization.Encoding.PEM))
    paths["cert"].write_bytes(cert(name, ca_name, key, ca_key, ca=False).public_bytes(serialization.Encoding.PEM))
    paths["key"].write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                               serialization.NoEncryption()))
    return paths


def _tls(paths) -> list[str]:
    return ["--tls-ca-file", str(paths["ca"]), "--tls-cert", str(paths["cert"]), "--tls-key", str(paths["key"])]


def _grade(course, *extra):
    cli = str(Path(sys.executable).parent / "autograder")
    return subprocess.run([cli, "grade", ASSIGNMENT, "--course", str(course), *extra], capture_output=True,
                          text=True, timeout=600)


def test_grading_over_tls_with_certificates_and_refused_without(tmp_path_factory):
    course = fresh_course(tmp_path_factory, "tls")
    for h in HONEST:
        write_submission(course, h.student, h.build(course))
    folder = tmp_path_factory.mktemp("tls-certs")
    paths = _certificates(folder)
    info = folder / "scheduler.json"
    dask = [sys.executable, "-m", "dask"]
    env = {**os.environ, "DASK_DISTRIBUTED__COMM__REQUIRE_ENCRYPTION": "True"}
    scheduler = subprocess.Popen([*dask, "scheduler", "--protocol", "tls", "--host", "127.0.0.1", "--port", "0",
                                  "--no-dashboard", "--scheduler-file", str(info), *_tls(paths)], env=env,
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    worker = None
    try:
        deadline = time.monotonic() + START_WAIT_S
        while not info.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        address = json.loads(info.read_text())["address"]
        assert address.startswith("tls://127.0.0.1:")
        worker = subprocess.Popen([*dask, "worker", address, "--nthreads", "1", "--nworkers", "1",
                                   "--no-dashboard", *_tls(paths)], env=env,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

        refused = _grade(course, "--scheduler", address)
        assert refused.returncode != 0
        assert TLS_NEEDED.format(address=address) in refused.stderr, refused.stderr[-2000:]
        assert not list((course / "results").glob(f"{ASSIGNMENT}/*.json"))

        graded = _grade(course, "--scheduler", address, *_tls(paths))
        assert graded.returncode == 0, graded.stderr[-3000:]
        assert "warning:" not in graded.stderr  # a tls:// address draws no plain-tcp warning
        assert f"  worker {address.rsplit(':', 1)[0]}" in graded.stdout, graded.stdout  # and its layers
    finally:
        stop(worker, scheduler)
    assert {s: sum(v.values()) for s, v in gradebook_scores(course).items()} == {
        h.student: expected_score(h.broken) for h in HONEST}
