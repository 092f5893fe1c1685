"""A job's output never carries a secret it can see: the real command provider keeps `stdout`/`stderr`
in plain text whatever the job's stdin, and streams them into the engine's events and errors. So the
secrets a job sees (its stdin, the files and secret environment of the containers it reads) are masked
on the host before the output leaves it, and the outputs are kept encrypted in the state as well."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from components import scripts
from components.deployment import secret_masks
from tests.conftest import make_config

PEM = (
    "-----BEGIN RSA PRIVATE KEY-----\n"
    + "\n".join(["QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo" * 2] * 3)
    + "\n-----END RSA PRIVATE KEY-----\n"
)


KP = Path(__file__).resolve().parent.parent / "components" / "tools" / "kp"


def run_masked(
    script: str, masks: tuple[str, ...], stdin: str = "", shell: str = "sh"
) -> subprocess.CompletedProcess[str]:
    """The masked job as a host runs it: `kp mask SCRIPT`, the helper the host's bootstrap installs."""
    command = scripts.masked(script).replace(scripts.KP, f"{shell} {KP}")
    return subprocess.run(
        ["sh", "-c", command], input=scripts.masks_stdin(masks) + stdin, capture_output=True, text=True
    )


@pytest.mark.parametrize("shell", ["sh", "dash", "bash"])
def test_the_wrapper_masks_both_streams_and_keeps_the_exit_status(shell: str) -> None:
    job = 'echo "cookie=s3cretVALUE twice s3cretVALUE"\necho "key-AAAABBBBCCCC failed" >&2\ncat\nexit 7\n'
    done = run_masked(job, ("s3cretVALUE", "key-AAAABBBBCCCC"), "stdin keeps s3cretVALUE\n", shell)
    assert done.returncode == 7
    assert done.stdout == "cookie=[secret] twice [secret]\nstdin keeps [secret]\n"
    assert done.stderr == "[secret] failed\n"


def test_the_job_gets_its_own_stdin_unchanged_and_masks_with_shell_characters() -> None:
    odd = 'we\'ird $(x) "q" \\ back`tick`'
    done = run_masked("cat", (odd,), 'line one\n\nline three with we\'ird $(x) "q" \\ back`tick` in it\n')
    assert done.returncode == 0
    assert done.stdout == "line one\n\nline three with [secret] in it\n"


def test_a_job_without_masks_is_left_as_it_is() -> None:
    assert scripts.unmasked("echo hi", "stdin") == ("echo hi", "stdin", ())
    wrapped = scripts.masked("set -eu\necho 'a b'\n")
    assert wrapped.startswith(f"{scripts.KP} mask ")
    assert scripts.unmasked(wrapped, scripts.masks_stdin(("abcdefgh",)) + "own\n") == (
        "set -eu\necho 'a b'\n",
        "own\n",
        ("abcdefgh",),
    )


def test_masks_are_the_secrets_a_text_holds_as_written_or_json_escaped() -> None:
    quoted = 'pa"ss\\word99'
    texts = ['{"password": ' + json.dumps(quoted) + "}", "[db]\nconnection = mysql://u:plainpassword1@h/db\n"]
    masks = secret_masks(texts, ["plainpassword1", quoted, "notpresent123", "short"])
    assert set(masks) == {"plainpassword1", quoted, json.dumps(quoted)[1:-1]}


def test_a_multi_line_secret_is_masked_line_by_line_without_its_headers() -> None:
    masks = secret_masks([PEM], [PEM])
    assert masks == (PEM.splitlines()[1],)  # the three body lines are the same line
    assert not any("BEGIN" in m or "END" in m for m in masks)


def test_a_short_secret_is_not_masked() -> None:
    """Masking "kolla" would garble every line that names the project; six characters is the floor."""
    assert secret_masks(["user kolla, password kolla"], ["kolla"]) == ()


def test_every_job_that_can_see_a_secret_is_masked_and_keeps_its_output_encrypted(run, config) -> None:
    secrets = [v for v in config["passwords"].values() if isinstance(v, str)]
    jobs = [
        r
        for r in run.of_type("command:remote:Command")
        if run.resources[r.parent].type == "kolla:openstack:Service" and not r.name.endswith("-config")
    ]
    assert jobs
    masked = {r.name for r in jobs if r.masks}
    for job in jobs:
        if any(s in job.stdin for s in secrets):
            assert job.name in masked, f"{job.name} carries a secret on stdin but its output is not masked"
        if job.masks:
            assert "stdin" in job.secret_inputs
            assert {"stdout", "stderr"} <= set(job.additional_secret_outputs), job.name
    # The one-shots that read config files with passwords are masked although their stdin has none.
    assert "h1-bootstrap_keystone" in masked
    assert "h1-rabbitmq_bootstrap" in masked
    cookie = config["passwords"]["rabbitmq_cluster_cookie"]
    assert cookie in run.resources["h1-rabbitmq_bootstrap"].masks


def test_config_delivery_keeps_its_output_encrypted(run) -> None:
    for resource in run.of_type("command:remote:Command"):
        if resource.name.endswith("-config") and run.resources[resource.parent].type == "kolla:openstack:Service":
            assert {"stdout", "stderr"} <= set(resource.additional_secret_outputs), resource.name


@pytest.fixture(scope="module")
def config():
    return make_config()
