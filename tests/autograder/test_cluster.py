"""The cluster's checks that need no cluster: which addresses draw the plain-tcp warning, TLS options given by
halves, what the workers' probes are compared on, and a result from another version of the grader refused."""
from __future__ import annotations

import json

import pytest

from autograder import cluster
from autograder.grade import OTHER_GRADER, OtherGrader, _received
from autograder.results import Result, grader_fingerprint
from autograder.submissions import Sent, Submission

pytest.importorskip("distributed")


@pytest.mark.parametrize("address, warns", [
    ("tcp://10.0.0.5:8786", True),
    ("10.0.0.5:8786", True),                 # no scheme: Dask's default, tcp
    ("tcp://grader.example.edu:8786", True),  # a name may resolve anywhere
    ("tcp://127.0.0.1:8786", False),
    ("tcp://127.0.0.9:8786", False),
    ("tcp://localhost:8786", False),
    ("tcp://[::1]:8786", False),
    ("tls://10.0.0.5:8786", False),
    ("local", False),
])
def test_plain_tcp_beyond_loopback_draws_the_warning(address, warns):
    found = cluster.plain_tcp_warning(address)
    assert (found == cluster.PLAIN_TCP.format(address=address)) if warns else found is None


def test_tls_options_come_all_three_or_not_at_all(tmp_path):
    assert cluster.security() is None
    with pytest.raises(cluster.ClusterError) as caught:
        cluster.security(ca_file=tmp_path / "ca.pem")
    assert str(caught.value) == cluster.TLS_INCOMPLETE.format(missing="--tls-cert, --tls-key")


def test_a_tls_scheduler_without_certificates_is_refused_before_connecting():
    with (pytest.raises(cluster.ClusterError) as caught,
          cluster.dask_executor("tls://192.0.2.1:8786", "layers", workers=None, warnings=[], probes={})):
        pass
    assert str(caught.value) == cluster.TLS_NEEDED.format(address="tls://192.0.2.1:8786")


def _probe(layers, threads=1, grader=None):
    return {"label": "host pid 1", "threads": threads, "grader": grader or grader_fingerprint(), "layers": layers,
            "missing": {}}


def test_the_probes_name_threaded_workers_other_kits_and_differing_layers():
    ours = grader_fingerprint()
    same = {"tcp://a:1": _probe(["rlimits", "seccomp"]), "tcp://b:1": _probe(["rlimits", "seccomp"])}
    assert cluster._probe_warnings(same, ours) == []
    found = cluster._probe_warnings({"tcp://a:1": _probe(["bubblewrap", "rlimits"], threads=4),
                                     "tcp://b:1": _probe(["rlimits"], grader="0" * 16)}, ours)
    assert found == [cluster.THREADED_WORKER.format(worker="tcp://a:1", threads=4),
                     cluster.KIT_DIFFERS.format(worker="tcp://b:1", theirs="0" * 16, ours=ours),
                     cluster.LAYERS_DIFFER.format(detail="tcp://a:1: bubblewrap, rlimits; tcp://b:1: rlimits")]


def test_a_result_from_another_grader_is_refused_and_ours_is_read_back_whole():
    ours = Result("s", "layers", 3.0, 5.0, grader=grader_fingerprint(), cell_scores={"relu_check": 3.0},
                  sandbox_layers=("rlimits",), worker="host pid 7")
    assert _received(json.dumps(ours.to_json()), "s", "layers") == ours
    theirs = Result("s", "layers", 5.0, 5.0, grader="f" * 16, worker="evil pid 1")
    with pytest.raises(OtherGrader) as caught:
        _received(json.dumps(theirs.to_json()), "s", "layers")
    assert str(caught.value) == OTHER_GRADER.format(worker="evil pid 1", theirs="f" * 16, ours=grader_fingerprint())


def test_what_crosses_to_a_worker_is_bytes_and_strings_and_a_refusal_stays_one(tmp_path):
    notebook = tmp_path / "layers.ipynb"
    notebook.write_bytes(b'{"cells": []}')
    sent = Submission("s", notebook, timestamp="2026-01-01 10:00:00").sent()
    assert sent == {"student": "s", "path": str(notebook), "raw": b'{"cells": []}', "problem": None,
                    "timestamp": "2026-01-01 10:00:00", "timestamp_problem": None}
    assert Sent.from_wire(sent).read_bytes() == b'{"cells": []}'
    link = tmp_path / "link.ipynb"
    link.symlink_to(notebook)
    refused = Sent.from_wire(Submission("t", link, root=tmp_path).sent())
    assert refused.raw is None and refused.problem
    with pytest.raises(Exception) as caught:
        refused.read_bytes()
    assert str(caught.value) == refused.problem


def test_a_long_student_id_comes_back_whole():
    student = "s" * 250
    sent = Result(student, "layers", 1.0, 5.0, grader=grader_fingerprint())
    assert _received(json.dumps(sent.to_json()), student, "layers").student == student
